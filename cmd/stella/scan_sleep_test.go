package main

import (
	"context"
	"errors"
	"strings"
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

func TestInterruptedCountedScanMessage(t *testing.T) {
	scan := newScanCommand(&globalOptions{})
	msg := interruptedMessage(scan, &countedScanInterruptedError{err: context.Canceled})
	if !strings.Contains(msg, "counted against today's quota already") {
		t.Errorf("message of a scan interrupted after it was counted: %q, want it to say the scan counted", msg)
	}
	if msg := interruptedMessage(scan, context.Canceled); strings.Contains(msg, "quota") {
		t.Errorf("message of a scan interrupted before it was counted mentions the quota: %q", msg)
	}
}
