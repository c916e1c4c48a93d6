package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepContextEndsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sleepContext(ctx, time.Hour) }()
	cancel()
	// The deadline only detects a wait that ignores the cancel.
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("sleepContext after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("sleepContext did not return after its context was cancelled")
	}
	if err := sleepContext(context.Background(), 0); err != nil {
		t.Errorf("sleepContext(0) = %v, want nil", err)
	}
}
