package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// RetryAfterMax is the maximum wait that stella accepts from a
// Retry-After header of a 429 or 503 response before it sends the request
// again. It matches DefaultIdleTimeout, the default maximum time that
// stella waits for a silent server, so that the retries of one request wait at
// most about six minutes, close to the roughly seven minutes that a
// silent server costs. A longer requested wait fails the command at once,
// with an error that states the wait, because any request before it ends
// would only meet the rate limit again.
const RetryAfterMax = 60 * time.Second

// maxWait is the largest time.Duration, about 292 years. retryAfter
// returns it for a count of seconds too large to represent, which is
// still a request to wait far longer than RetryAfterMax.
const maxWait = time.Duration(math.MaxInt64)

// retryAfter returns the wait that the Retry-After header of resp
// requests, when resp is a 429 or 503 response with a valid one. The
// header is a number of seconds or an HTTP date. A date in the past means
// no wait, and a number of seconds past the range of time.Duration
// returns maxWait.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		seconds, err := strconv.ParseInt(v, 10, 64)
		if err != nil || seconds > int64(maxWait/time.Second) {
			// Only a range error is possible for digits.
			return maxWait, true
		}
		return time.Duration(seconds) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0).Round(time.Second), true
	}
	return 0, false
}

// isDigits reports whether v is a non-empty run of ASCII digits, the
// delay-seconds form of Retry-After (RFC 9110, section 10.2.3).
func isDigits(v string) bool {
	if v == "" {
		return false
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatWait returns wait for a message, or "longer than 292 years" for
// maxWait, which represents a count of seconds too large for time.Duration.
func formatWait(wait time.Duration) string {
	if wait == maxWait {
		return "longer than 292 years"
	}
	return wait.String()
}

// requestPolicy is the retry policy of each request. It leaves a
// *TimeoutError to the retry of the whole operation (withRetry), which
// logs it. Retrying it here as well would multiply the waits: with
// DefaultRetryPolicy, seven tries in each of six attempts would keep a
// command on a dead server for 42 idle timeouts. A 429 or 503 response
// with Retry-After is retried after the wait it requests, when that is at
// most RetryAfterMax, and not at all when it is longer. Each such wait is
// logged at info level with the host.
type requestPolicy struct {
	retry.Policy
	// log receives the Retry-After waits; nil discards them.
	log *slog.Logger
}

func (p requestPolicy) Retry(attempt int, resp *http.Response, err error) (time.Duration, error) {
	var te *TimeoutError
	if errors.As(err, &te) {
		return -1, nil
	}
	wait, retryErr := p.Policy.Retry(attempt, resp, err)
	if retryErr != nil || wait < 0 {
		return wait, retryErr
	}
	if pastDeadline(resp, wait) {
		// Returning the response now keeps the server's status for the
		// error, where sleeping would only end in the context's deadline.
		return -1, nil
	}
	if requested, ok := retryAfter(resp); ok {
		if requested > RetryAfterMax {
			return -1, nil
		}
		wait = max(requested, wait)
		if p.log != nil {
			p.log.Info("waiting before the next request, as the server requested (Retry-After)",
				"host", requestHost(resp), "status", resp.StatusCode, "wait", wait)
		}
	}
	noteWait(resp, wait)
	return wait, nil
}

// retryWaits is the count and the shortest and longest of the waits before
// the retries of one request. A *RetryAfterError states them, because the
// backoff of the retry policy lengthens a short Retry-After.
type retryWaits struct {
	mu       sync.Mutex
	min, max time.Duration
	count    int
}

// retryWaitsKey is the context key of a *retryWaits.
type retryWaitsKey struct{}

// noteWait adds wait to the *retryWaits in the context of the request of
// resp, if it has one. A request whose body cannot be sent again gets no
// retry from retry.Transport, so its wait is not counted.
func noteWait(resp *http.Response, wait time.Duration) {
	if resp == nil || resp.Request == nil || !rewindable(resp.Request) {
		return
	}
	waits, ok := resp.Request.Context().Value(retryWaitsKey{}).(*retryWaits)
	if !ok {
		return
	}
	waits.mu.Lock()
	defer waits.mu.Unlock()
	if waits.count == 0 || wait < waits.min {
		waits.min = wait
	}
	waits.max = max(waits.max, wait)
	waits.count++
}

// pastDeadline reports whether waiting wait before the next try would
// pass the deadline of the request that resp responds to.
func pastDeadline(resp *http.Response, wait time.Duration) bool {
	if resp == nil || resp.Request == nil {
		return false
	}
	deadline, ok := resp.Request.Context().Deadline()
	return ok && time.Until(deadline) < wait
}

// requestHost returns the host that resp came from, or "" when resp
// records no request.
func requestHost(resp *http.Response) string {
	if resp.Request == nil || resp.Request.URL == nil {
		return ""
	}
	return resp.Request.URL.Host
}

// RetryAfterError is a 429 or 503 response with a Retry-After header that
// the retries of the request did not get past. Either the server requested
// a wait longer than RetryAfterMax, or it still responded so after stella
// waited as requested before each retry. The message leaves out the
// request, which the *url.Error of net/http that wraps it names.
type RetryAfterError struct {
	Code   int
	Status string
	// Wait is the wait that the Retry-After header requested, or
	// maxWait for a count of seconds too large to represent.
	Wait time.Duration
	// Retried is true when the request was retried as often as the
	// retry policy allows, each time after the requested wait. It is
	// false for a wait over RetryAfterMax and for a request whose body
	// cannot be sent again, which the operation as a whole retries.
	// NOTE: it is also true when requestPolicy stopped early because the
	// wait would pass the request's deadline, so withRetry does not retry.
	Retried bool
	// Detail is the error codes and messages of a registry's error
	// response, or "".
	Detail string
	// Retries is how many times the request was sent again.
	Retries int
	// MinWaited and MaxWaited are the shortest and the longest wait that
	// stella used before a retry of the request: the longer of Wait and
	// the backoff of the retry policy. Both are 0 when Retries is 0.
	MinWaited, MaxWaited time.Duration
}

func (e *RetryAfterError) Error() string {
	status := e.Status
	if e.Detail != "" {
		status += " (" + e.Detail + ")"
	}
	head := "the server responded " + status
	switch {
	case e.Wait > RetryAfterMax:
		return fmt.Sprintf("%s and requested a wait of %s before the next request (Retry-After), longer than the %s "+
			"that stella waits; run the command again after that time", head, formatWait(e.Wait), RetryAfterMax)
	case e.Retried:
		return e.Summary() + "; run the command again later"
	}
	return e.Summary()
}

// Summary returns the message of e without the advice to run the command
// again, for a caller that gives its own advice. It is the whole message
// for a wait over RetryAfterMax.
func (e *RetryAfterError) Summary() string {
	status := e.Status
	if e.Detail != "" {
		status += " (" + e.Detail + ")"
	}
	head := "the server responded " + status
	switch {
	case e.Wait > RetryAfterMax:
		return e.Error()
	case e.Retried && e.Retries == 0:
		return fmt.Sprintf("%s and requested a wait of %s (Retry-After), which would pass the deadline of the request, "+
			"so stella sent no retry", head, e.Wait)
	case e.Retried && e.MinWaited == e.MaxWaited && e.MaxWaited == e.Wait:
		return fmt.Sprintf("%s to every retry, although stella waited %s before each, as the server requested "+
			"(Retry-After)", head, e.Wait)
	case e.Retried:
		return fmt.Sprintf("%s to every retry, although stella waited %s before each; the server requested %s "+
			"(Retry-After), and stella waits at least its own backoff", head, formatWaitRange(e.MinWaited, e.MaxWaited), e.Wait)
	}
	return fmt.Sprintf("%s and requested a wait of %s (Retry-After)", head, e.Wait)
}

// formatWaitRange returns "MIN to MAX", or one duration when they are equal.
func formatWaitRange(minWait, maxWait time.Duration) string {
	if minWait == maxWait {
		return minWait.String()
	}
	return minWait.String() + " to " + maxWait.String()
}

// Temporary reports whether the operation is worth another attempt after
// e.Wait: when the request itself was not retried and the wait is
// acceptable.
func (e *RetryAfterError) Temporary() bool { return !e.Retried && e.Wait <= RetryAfterMax }

// retryAfterTransport is a round tripper that converts the final 429 or
// 503 response with Retry-After from base, which retries requests, into a
// *RetryAfterError. The error keeps the requested wait, which the
// registry's error response does not, so that withRetry can honour the
// wait and the message can state it. For any other final response, it
// records with noteRetrySkipped whether base could not retry the request.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	waits := &retryWaits{}
	req = req.WithContext(context.WithValue(req.Context(), retryWaitsKey{}, waits))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	wait, ok := retryAfter(resp)
	if !ok {
		noteRetrySkipped(req, resp)
		return resp, nil
	}
	defer resp.Body.Close()
	waits.mu.Lock()
	defer waits.mu.Unlock()
	return nil, &RetryAfterError{Code: resp.StatusCode, Status: resp.Status, Wait: wait,
		Retried: rewindable(req) && wait <= RetryAfterMax, Detail: errorDetail(resp.Body),
		Retries: waits.count, MinWaited: waits.min, MaxWaited: waits.max}
}

// errorDetail returns the error codes and messages of a registry's error
// response body, or "" when the body is not one.
func errorDetail(body io.Reader) string {
	var parsed struct {
		Errors errcode.Errors `json:"errors"`
	}
	if json.NewDecoder(io.LimitReader(body, 16<<10)).Decode(&parsed) != nil {
		return ""
	}
	var parts []string
	for _, e := range parsed.Errors {
		part := e.Code
		if e.Message != "" {
			part += ": " + e.Message
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}
