package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"syscall"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
)

// failureReasons maps the error kinds of the product to the reason codes
// of the JSON failure objects, in the order exitCode checks them, so that
// an error that wraps two kinds gets the reason that matches its exit code.
var failureReasons = []struct {
	err    error
	reason string
}{
	{errdef.ErrInvalidArgument, "invalid-argument"},
	{errdef.ErrStoreInUse, "store-in-use"},
	{errdef.ErrDiskFull, "disk-full"},
	{errdef.ErrTransferFailed, "transfer-failed"},
	{errdef.ErrSignature, "signature"},
	{errdef.ErrDowngrade, "downgrade"},
	{errdef.ErrExpired, "expired"},
	{errdef.ErrBaseMissing, "base-missing"},
	{errdef.ErrInvalidKit, "invalid-kit"},
	{errdef.ErrDigestMismatch, "digest-mismatch"},
	{errdef.ErrSizeMismatch, "size-mismatch"},
	{errdef.ErrUnsafePath, "unsafe-path"},
	{errdef.ErrUnknownCompression, "unknown-compression"},
	{errdef.ErrSizeExceedsLimit, "size-exceeds-limit"},
	{io.ErrUnexpectedEOF, "invalid-kit"},
	{errdef.ErrInvalidRecord, "invalid-record"},
	{errdef.ErrEmptyFeed, "empty-feed"},
	{errdef.ErrSourceMissing, "source-missing"},
	{errdef.ErrMassRemoval, "mass-removal"},
	{errdef.ErrAlreadyExists, "already-exists"},
	{errdef.ErrNotFound, "not-found"},
}

// failureReason returns the stable reason code of err, a failure that ends
// the process with exit code code, for the reason field of a JSON failure
// object. Scripts can branch on it instead of matching the message, whose
// wording may change between releases.
func failureReason(err error, code int) string {
	if code == exitInterrupted {
		return "interrupted"
	}
	if errors.As(err, new(usageError)) {
		return "invalid-argument"
	}
	for _, r := range failureReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	if errors.As(err, new(rejectedKitsError)) {
		return "rejected"
	}
	return systemFailureReason(err)
}

// systemFailureReason returns the reason of an error that wraps none of the
// product's error kinds, from the operating system or network error it
// wraps: a write to a file outside the store that found no room, a
// connection that failed or timed out, a server error of a web server or
// registry, or a file or kit URL that does not exist. Such errors exit with code 1, as these reasons do. Any other
// error gets "error".
func systemFailureReason(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return "disk-full"
	}
	var netErr net.Error
	if errors.As(err, new(*net.OpError)) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return "transfer-failed"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "not-found"
	}
	var response *errcode.ErrorResponse
	if errors.As(err, &response) && response.StatusCode >= 500 {
		// The registry failed, not the request, so a later try may work.
		return "transfer-failed"
	}
	var status *mirror.StatusError
	if errors.As(err, &status) {
		switch {
		case status.Code == http.StatusNotFound || status.Code == http.StatusGone:
			return "not-found"
		case status.Code >= 500:
			// The server failed, not the request, so a later try may work.
			return "transfer-failed"
		}
	}
	return "error"
}
