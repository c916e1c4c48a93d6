package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A gc waits for the reads without a pin, and reads that start while the
// gc waits or runs wait for it to end.
func TestUnpinnedReadsExcludeGC(t *testing.T) {
	var u unpinnedReads
	ctx := context.Background()
	endRead, err := u.startRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gcStarted := make(chan func())
	go func() {
		endGC, err := u.startGC(ctx)
		if err != nil {
			t.Error(err)
		}
		gcStarted <- endGC
	}()
	select {
	case <-gcStarted:
		t.Fatal("gc started while a read without a pin ran")
	case <-time.After(50 * time.Millisecond):
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := u.startRead(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a read that started while gc waited: %v, want it to wait until its context ended", err)
	}

	endRead()
	var endGC func()
	select {
	case endGC = <-gcStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("gc did not start after the read ended")
	}
	readStarted := make(chan func())
	go func() {
		end, err := u.startRead(ctx)
		if err != nil {
			t.Error(err)
		}
		readStarted <- end
	}()
	select {
	case <-readStarted:
		t.Fatal("a read without a pin started while gc ran")
	case <-time.After(50 * time.Millisecond):
	}
	endGC()
	select {
	case end := <-readStarted:
		end()
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not start after gc ended")
	}
}
