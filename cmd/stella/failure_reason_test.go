package main

import (
	"context"
	"fmt"
	"io"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

func TestFailureReasonCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("kit k: %w", errdef.ErrSignature), exitRejected, "signature"},
		{fmt.Errorf("kit k: %w", errdef.ErrBaseMissing), exitRejected, "base-missing"},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), exitRejected, "invalid-kit"},
		{usagef("unknown flag --bogus"), exitUsage, "invalid-argument"},
		{fmt.Errorf("no record: %w", errdef.ErrNotFound), exitError, "not-found"},
		{rejectedKitsError{msg: "2 kits rejected"}, exitRejected, "rejected"},
		{context.Canceled, exitInterrupted, "interrupted"},
		{fmt.Errorf("something else"), exitError, "error"},
		// A full disk while reading a kit is the host's problem, as the exit
		// code shows, not the kit's.
		{fmt.Errorf("%w: %w", errdef.ErrInvalidKit, errdef.ErrDiskFull), exitError, "disk-full"},
	} {
		if got := failureReason(tc.err, tc.code); got != tc.want {
			t.Errorf("failureReason(%q, %d) = %q, want %q", tc.err, tc.code, got, tc.want)
		}
	}
}

func TestFailureReasonMatchesExitCode(t *testing.T) {
	// Each reason belongs to one exit code, so a script that branches on
	// the reason and one that branches on the exit code agree.
	codes := map[string]int{}
	for _, r := range failureReasons {
		err := fmt.Errorf("wrapped: %w", r.err)
		code := exitCode(err)
		if prev, ok := codes[r.reason]; ok && prev != code {
			t.Errorf("reason %q comes with exit codes %d and %d", r.reason, prev, code)
		}
		codes[r.reason] = code
		if got := failureReason(err, code); got != r.reason {
			t.Errorf("failureReason of %v = %q, want %q", r.err, got, r.reason)
		}
	}
}
