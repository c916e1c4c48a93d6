// Command stella is the Stella Ops command line: it builds, signs, verifies
// and imports Offline Update Kits, and looks up vulnerabilities in the
// active kit.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"stella-ops.org/ouk/internal/errdef"
)

// Exit codes. Scripts on air-gapped hosts branch on them.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitRejected  = 3 // the kit failed verification or policy
	exitStoreBusy = 4 // another process holds the store
	// exitInterrupted follows the shell convention of 128 + SIGINT.
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "Interrupted: the active kit is unchanged; run the same command again to finish the work.")
		os.Exit(exitInterrupted)
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	var u usageError
	switch {
	case errors.As(err, &u), errors.Is(err, errdef.ErrInvalidArgument):
		return exitUsage
	case errors.Is(err, errdef.ErrStoreInUse):
		return exitStoreBusy
	case errors.Is(err, errdef.ErrDiskFull):
		// A full disk is the host's problem, not the kit's, even when an
		// import hits it.
		return exitError
	case errors.Is(err, errdef.ErrSignature), errors.Is(err, errdef.ErrDowngrade),
		errors.Is(err, errdef.ErrExpired), errors.Is(err, errdef.ErrBaseMissing),
		errors.Is(err, errdef.ErrInvalidKit), errors.Is(err, errdef.ErrDigestMismatch),
		errors.Is(err, errdef.ErrSizeMismatch), errors.Is(err, errdef.ErrUnsafePath),
		errors.Is(err, errdef.ErrUnknownCompression), errors.Is(err, errdef.ErrSizeExceedsLimit),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, new(rejectedKitsError)):
		return exitRejected
	}
	return exitError
}

// usageError marks a mistake in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}
