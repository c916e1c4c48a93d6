package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// A take over the limit waits for bytes given back, and fails with the
// store-in-use exit code when none come in time.
func TestByteBudgetLimit(t *testing.T) {
	b := newByteBudget(10, 20*time.Millisecond)
	if err := b.take(context.Background(), 6); err != nil {
		t.Fatalf("take of 6 of 10 bytes: %v", err)
	}
	err := b.take(context.Background(), 6)
	if !errors.Is(err, errdef.ErrStoreInUse) || exitCode(err) != exitStoreBusy {
		t.Fatalf("take of 6 more bytes: %v (exit %d), want store in use", err, exitCode(err))
	}
	b.wait = 5 * time.Second
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.give(6)
	}()
	if err := b.take(context.Background(), 6); err != nil {
		t.Fatalf("take of 6 bytes while 6 are given back: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.take(ctx, 6); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v, want context.Canceled", err)
	}
	if err := b.take(context.Background(), 11); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("take of more than the limit: %v, want store in use at once", err)
	}
}

// The standard input of another user's command counts against the budget
// until the caller gives it back, so a second such command that would
// pass the limit fails with the store-in-use error.
func TestPullReaderBudget(t *testing.T) {
	const wait = 50 * time.Millisecond
	budget := newByteBudget(8, wait)
	out := &frameConn{w: io.Discard}
	read := func(data string) (*pullReader, error) {
		chunks := make(chan []byte, 2)
		chunks <- []byte(data)
		close(chunks)
		r := &pullReader{conn: out, chunks: chunks, ctx: context.Background(), budget: budget}
		_, err := io.ReadAll(r)
		return r, err
	}

	first, err := read("12345")
	if err != nil {
		t.Fatalf("reading 5 of 8 bytes: %v", err)
	}
	if first.taken != 5 {
		t.Errorf("the reader took %d bytes, want 5", first.taken)
	}

	start := time.Now()
	_, err = read("6789")
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("reading 4 more bytes: %v, want store in use", err)
	}
	if waited := time.Since(start); waited < wait {
		t.Errorf("the second reader failed after %s, without waiting for the budget", waited)
	}

	budget.give(first.taken)
	if _, err := read("6789"); err != nil {
		t.Fatalf("reading 4 bytes after the first reader gave its bytes back: %v", err)
	}
}

// A frame header that announces the largest frame, followed by no data,
// does not make readFrame allocate the whole frame.
func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	var head [5]byte
	head[0] = frameStdin
	binary.BigEndian.PutUint32(head[1:], maxFrame)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := readFrame(bytes.NewReader(head[:]))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a frame without its payload: %v, want io.ErrUnexpectedEOF", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated >= maxFrame/2 {
		t.Errorf("readFrame allocated %d bytes for a frame that sent none", allocated)
	}

	payload := bytes.Repeat([]byte("x"), maxFrame)
	var frame bytes.Buffer
	if err := writeFrame(&frame, frameStdout, payload); err != nil {
		t.Fatal(err)
	}
	kind, got, err := readFrame(&frame)
	if err != nil || kind != frameStdout || !bytes.Equal(got, payload) {
		t.Errorf("reading a full frame: kind %q, %d bytes, error %v", kind, len(got), err)
	}
}
