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

// errorKinds maps the error kinds of the product to their exit code and the
// reason code of the JSON failure objects. exitCode and failureReason take
// the first kind that an error wraps, so both agree on an error that wraps
// two kinds. A kind without its own exit code exits with exitError.
var errorKinds = []struct {
	err    error
	reason string
	code   int
}{
	{errdef.ErrInvalidArgument, "invalid-argument", exitUsage},
	{errdef.ErrStoreInUse, "store-in-use", exitStoreBusy},
	// A damaged store is the host's problem, not the kit's, even when an
	// import meets it.
	{errdef.ErrStoreDamaged, "store-damaged", exitError},
	// A full disk is the host's problem and a failed download the
	// network's, not the kit's, even when an import hits them.
	{errdef.ErrDiskFull, "disk-full", exitError},
	{errdef.ErrTransferFailed, "transfer-failed", exitError},
	{errdef.ErrSignature, "signature", exitRejected},
	{errdef.ErrDowngrade, "downgrade", exitRejected},
	{errdef.ErrExpired, "expired", exitRejected},
	{errdef.ErrBaseMissing, "base-missing", exitRejected},
	{errdef.ErrInvalidKit, "invalid-kit", exitRejected},
	{errdef.ErrDigestMismatch, "digest-mismatch", exitRejected},
	{errdef.ErrSizeMismatch, "size-mismatch", exitRejected},
	{errdef.ErrUnsafePath, "unsafe-path", exitRejected},
	{errdef.ErrUnknownCompression, "unknown-compression", exitRejected},
	{errdef.ErrSizeExceedsLimit, "size-exceeds-limit", exitRejected},
	{io.ErrUnexpectedEOF, "invalid-kit", exitRejected},
	{errdef.ErrInvalidRecord, "invalid-record", exitError},
	{errdef.ErrEmptyFeed, "empty-feed", exitError},
	{errdef.ErrSourceMissing, "source-missing", exitError},
	{errdef.ErrMassRemoval, "mass-removal", exitError},
	{errdef.ErrAlreadyExists, "already-exists", exitError},
	{errdef.ErrNotFound, "not-found", exitError},
}

// exitCode returns the exit code of a command that failed with err.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	if errors.As(err, new(rejectedKitsError)) {
		return exitRejected
	}
	return exitError
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
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.reason
		}
	}
	if errors.As(err, new(rejectedKitsError)) {
		return "rejected"
	}
	if errors.As(err, new(invalidSBOMError)) {
		return "invalid-sbom"
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
	if errors.As(err, &response) && isAuthStatus(response.StatusCode) {
		return "unauthorized"
	}
	var limited *mirror.RetryAfterError
	if errors.As(err, &limited) && limited.Code >= 500 {
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
		case isAuthStatus(status.Code):
			return "unauthorized"
		}
	}
	return "error"
}

// isAuthStatus reports whether an HTTP status code refuses the request's
// credentials, or its lack of them.
func isAuthStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}
