package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
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
		// A damaged store found while importing a kit is no fault of the kit.
		{fmt.Errorf("importing kit k: %w", &cas.StoreError{Dir: "s/db", Err: &cas.DamagedError{Dir: "s/db",
			File: "s/db/000005.sst", Problem: "is missing"}}), exitError, "store-damaged"},
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
	for _, r := range errorKinds {
		err := fmt.Errorf("wrapped: %w", r.err)
		code := exitCode(err)
		if code != r.code {
			t.Errorf("exitCode of %v = %d, want %d", r.err, code, r.code)
		}
		if prev, ok := codes[r.reason]; ok && prev != code {
			t.Errorf("reason %q comes with exit codes %d and %d", r.reason, prev, code)
		}
		codes[r.reason] = code
		if got := failureReason(err, code); got != r.reason {
			t.Errorf("failureReason of %v = %q, want %q", r.err, got, r.reason)
		}
	}
}

func TestFailureReasonOfSystemErrors(t *testing.T) {
	// Errors that reach main without a product sentinel still get the
	// reason that the JSON output documents for them.
	dialErr := func() error {
		// Port 1 on the loopback address accepts no connections.
		conn, err := net.Dial("tcp", "127.0.0.1:1")
		if err == nil {
			conn.Close()
			t.Skip("something listens on 127.0.0.1:1")
		}
		return err
	}()
	write := func(errno syscall.Errno) error {
		return fmt.Errorf("writing kit.tar: %w", &fs.PathError{Op: "write", Path: ".kit.tar.1", Err: errno})
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
		code int
	}{
		{"kit file missing", fmt.Errorf("opening kit: %w", &fs.PathError{Op: "stat", Path: "kit.tar", Err: syscall.ENOENT}),
			"not-found", exitError},
		{"output volume full", write(syscall.ENOSPC), "disk-full", exitError},
		{"file size limit", write(syscall.EFBIG), "disk-full", exitError},
		{"disk quota", write(syscall.EDQUOT), "disk-full", exitError},
		{"registry unreachable", fmt.Errorf("resolving 1 in 127.0.0.1:1/x: %w",
			&url.Error{Op: "Get", URL: "https://127.0.0.1:1/v2/", Err: dialErr}), "transfer-failed", exitError},
		{"registry timed out", fmt.Errorf("resolving 1: %w",
			&url.Error{Op: "Get", URL: "https://127.0.0.1:1/v2/", Err: timeoutError{}}), "transfer-failed", exitError},
		{"kit URL not found", fmt.Errorf("importing https://127.0.0.1/kit.tar: %w",
			&mirror.StatusError{URL: "https://127.0.0.1/kit.tar", Code: http.StatusNotFound, Status: "404 Not Found"}),
			"not-found", exitError},
		{"kit URL gone", &mirror.StatusError{URL: "https://127.0.0.1/kit.tar", Code: http.StatusGone, Status: "410 Gone"},
			"not-found", exitError},
		{"server failed", &mirror.StatusError{URL: "https://127.0.0.1/kit.tar", Code: http.StatusInternalServerError,
			Status: "500 Internal Server Error"}, "transfer-failed", exitError},
		{"registry failed", &explainedError{msg: "HEAD ...: the registry responded 500", err: &errcode.ErrorResponse{
			Method: http.MethodHead, StatusCode: http.StatusInternalServerError}}, "transfer-failed", exitError},
		{"registry refused the request", &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: http.StatusBadRequest},
			"error", exitError},
		{"registry refused the credentials", &explainedError{msg: "push: the registry responded 401",
			err: &errcode.ErrorResponse{Method: http.MethodPost, StatusCode: http.StatusUnauthorized}},
			"unauthorized", exitError},
		{"registry denied the repository", &errcode.ErrorResponse{Method: http.MethodGet, StatusCode: http.StatusForbidden},
			"unauthorized", exitError},
		{"kit URL needs a login", &mirror.StatusError{URL: "https://127.0.0.1/kit.tar", Code: http.StatusUnauthorized,
			Status: "401 Unauthorized"}, "unauthorized", exitError},
		{"key exists", &existsError{msg: "cosign.key exists; pass --force"}, "already-exists", exitError},
		{"SBOM not readable", invalidSBOMError{err: errors.New("reading a.json: SBOM is not valid JSON")},
			"invalid-sbom", exitError},
		// The product's own kinds come first.
		{"kit lacks a file", fmt.Errorf("%w: %w", errdef.ErrInvalidKit, fs.ErrNotExist), "invalid-kit", exitRejected},
	} {
		code := exitCode(tc.err)
		if code != tc.code {
			t.Errorf("%s: exit code %d, want %d", tc.name, code, tc.code)
		}
		if got := failureReason(tc.err, code); got != tc.want {
			t.Errorf("%s: failureReason(%q) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// timeoutError is a network error that timed out, as an HTTP client
// returns when a registry sends no response in time.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
