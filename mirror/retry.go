package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Attempts is how many times an operation that failed in the middle of a
// body is run in total. Each attempt skips what earlier ones transferred.
const Attempts = 6

// isTransient reports whether err is worth another attempt: a connection
// cut, a timeout, or a 408, 429 or 5xx response to an upload that the round
// tripper could not send again (*retrySkippedError). Such a response to any
// other request of a registry (*errcode.ErrorResponse) or of a web server
// (*StatusError) is not, because the round tripper has retried that request
// already. A 429 or 503 with Retry-After is worth another attempt only when
// the round tripper could not retry the request itself (see
// RetryAfterError.Temporary). A failure to read the local kit file, such as
// a truncated one, is not transient.
func isTransient(err error) bool {
	var kitErr *kitReadError
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrHostNotAllowed) || errors.As(err, &kitErr) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var statusErr *StatusError
	if errors.As(err, &statusErr) {
		// The transport of NewClient has retried a 408, 429 or 5xx
		// already, and another round would multiply its requests.
		return false
	}
	var retryAfterErr *RetryAfterError
	if errors.As(err, &retryAfterErr) {
		return retryAfterErr.Temporary()
	}
	var skipped *retrySkippedError
	if errors.As(err, &skipped) {
		return true
	}
	var respErr *errcode.ErrorResponse
	if errors.As(err, &respErr) {
		// As for a *StatusError, the transport has retried a 408, 429 or
		// 5xx already.
		return false
	}
	// net/http reports some cut connections only as text.
	msg := err.Error()
	for _, s := range []string{"connection reset", "broken pipe", "server closed idle connection",
		"transport connection broken", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// withRetry runs op until it succeeds, fails with a permanent error, or has
// run Attempts times, sleeping with exponential backoff in between.
func withRetry(ctx context.Context, log *slog.Logger, what string, op func(attempt int) error) error {
	return withRetryWindow(ctx, log, what, 0, op)
}

// resumeWindow is how long a blob cut in the middle of its transfer is
// fetched again while the registry refuses connections. A registry that
// restarts during an import, as under systemd or a container runtime,
// refuses connections for a few seconds, which should not end the import.
const resumeWindow = 30 * time.Second

// withRetryWindow runs op as withRetry does. Past Attempts, it keeps running
// op while op fails because the connection was refused, until window has
// passed since the first attempt. Other transient failures, such as
// timeouts, end after Attempts, so a silent server is not waited for longer.
func withRetryWindow(ctx context.Context, log *slog.Logger, what string, window time.Duration, op func(attempt int) error) error {
	wait := 100 * time.Millisecond
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil || !isTransient(err) {
			return err
		}
		if attempt >= Attempts && (!errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) >= window) {
			return err
		}
		sleep := wait
		var requested *RetryAfterError
		if errors.As(err, &requested) {
			sleep = max(sleep, requested.Wait)
		}
		attrs := []any{"operation", what, "attempt", attempt, "wait", sleep, "error", err}
		log.Info("retrying after a transient failure", append(attrs, timeoutAttrs(err)...)...)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 3*time.Second)
	}
}

// retrySkippedNote records whether a request got a response that the round
// tripper retries, such as a 503, but was not sent again because its body
// is a stream that cannot be read a second time. pusher.upload puts one in
// the context of each blob upload.
type retrySkippedNote struct{ skipped atomic.Bool }

// retrySkippedKey is the context key of a *retrySkippedNote.
type retrySkippedKey struct{}

// noteRetrySkipped sets the *retrySkippedNote in the context of req, if it
// has one, when resp has a 408, 429 or 5xx status and the round tripper
// could not send req again.
func noteRetrySkipped(req *http.Request, resp *http.Response) {
	note, ok := req.Context().Value(retrySkippedKey{}).(*retrySkippedNote)
	if !ok || rewindable(req) {
		return
	}
	code := resp.StatusCode
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		note.skipped.Store(true)
	}
}

// rewindable reports whether retry.Transport can send req again, which
// needs a request without a body or one that GetBody can read anew.
func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// SentOncePerAttempt reports whether err is a 408, 429 or 5xx response to
// a request that the round tripper could not send again, because its body
// is a stream. withRetry runs the whole operation again in its place, so
// such a request was sent once in each of up to Attempts attempts.
func SentOncePerAttempt(err error) bool {
	var skipped *retrySkippedError
	if errors.As(err, &skipped) {
		return true
	}
	var limited *RetryAfterError
	return errors.As(err, &limited) && limited.Temporary()
}

// retrySkippedError is a 408, 429 or 5xx response to an upload whose body
// the round tripper could not send again. withRetry runs the upload again
// in its place, so that such a request is still retried, in one place only.
type retrySkippedError struct{ err error }

func (e *retrySkippedError) Error() string { return e.err.Error() }
func (e *retrySkippedError) Unwrap() error { return e.err }

// singleTryKey is the context key that withoutRetries sets.
type singleTryKey struct{}

// withoutRetries returns ctx marked so that the requests sent with it go
// out once, without the retries of retry.Transport. A read-back of a tag
// for an error message uses it: against a failing registry, its retries
// would only delay the message.
func withoutRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, singleTryKey{}, true)
}

// singleTryTransport sends a request through retrying, or once through
// retrying's base when withoutRetries marked the request's context.
type singleTryTransport struct{ retrying *retry.Transport }

func (t singleTryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(singleTryKey{}) != nil {
		return t.retrying.Base.RoundTrip(req)
	}
	return t.retrying.RoundTrip(req)
}
