package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// Default waits of ClientOptions.
const (
	// DefaultConnectTimeout bounds a TCP connect and, separately, a TLS
	// handshake.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds each wait for a server that sends or accepts
	// no bytes.
	DefaultIdleTimeout = 60 * time.Second
)

// TimeoutStage is the step of a request at which a wait ran out.
type TimeoutStage int

// Stages of a request, in order.
const (
	StageConnect      TimeoutStage = iota // opening the TCP connection
	StageTLSHandshake                     // the TLS handshake
	StageSend                             // writing the request and its body
	StageResponse                         // waiting for the response headers
	StageBody                             // reading the response body
)

// TimeoutError is a request that ended because its server did not connect,
// send or accept bytes within a bounded wait. Its Timeout method returns
// true, so retries treat it as transient, like a cut connection.
type TimeoutError struct {
	// Host is the host (and port, when the URL has one) of the request.
	Host string
	// Wait is the timeout that ran out.
	Wait  time.Duration
	Stage TimeoutStage
}

func (e *TimeoutError) Error() string {
	const (
		connectHint = "or raise --connect-timeout"
		idleHint    = "check that the server is running, or raise --idle-timeout on a slow link"
	)
	switch e.Stage {
	case StageConnect:
		return fmt.Sprintf("%s did not accept a connection within %s; check that the host is up and reachable, %s",
			e.Host, e.Wait, connectHint)
	case StageTLSHandshake:
		return fmt.Sprintf("%s did not finish the TLS handshake within %s; check that it speaks TLS on that port, %s",
			e.Host, e.Wait, connectHint)
	case StageSend:
		return fmt.Sprintf("%s stopped answering: it accepted no bytes of the request for %s; %s", e.Host, e.Wait, idleHint)
	case StageResponse:
		return fmt.Sprintf("%s stopped answering: no response within %s of sending the request; %s", e.Host, e.Wait, idleHint)
	default:
		return fmt.Sprintf("%s stopped answering: no bytes of the response body for %s; %s", e.Host, e.Wait, idleHint)
	}
}

// Timeout returns true, which marks the error as a timeout to net.Error callers.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary returns true because the next attempt may succeed.
func (e *TimeoutError) Temporary() bool { return true }

// timeoutAttrs returns the host and the wait of a *TimeoutError in err as log
// attributes, and nothing for other errors.
func timeoutAttrs(err error) []any {
	var te *TimeoutError
	if !errors.As(err, &te) {
		return nil
	}
	return []any{"host", te.Host, "timeout", te.Wait}
}

// timeoutTransport ends a request when its server sends or accepts no bytes
// for idle, and returns a *TimeoutError naming the host and the stage. The
// wait starts again at every byte, so a long transfer that makes progress is
// never cut, unlike with http.Client.Timeout. Time spent producing the
// request body or consuming the response body does not count. It also names
// the host in the connect and TLS handshake timeouts of base.
type timeoutTransport struct {
	base    http.RoundTripper
	idle    time.Duration
	connect time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	ctx, cancel := context.WithCancel(parent)
	w := &watchdog{wait: t.idle, host: req.URL.Host, cancel: cancel}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeStart: w.tlsHandshakeStarted,
		GotConn:           func(httptrace.GotConnInfo) { w.gotConn() },
		WroteRequest:      func(httptrace.WroteRequestInfo) { w.wroteRequest() },
	})
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &requestBody{rc: req.Body, w: w}
		if req.GetBody != nil {
			// net/http rewinds the body with GetBody when it sends the
			// request again on a fresh connection. That copy is watched too.
			out.GetBody = func() (io.ReadCloser, error) {
				rc, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &requestBody{rc: rc, w: w}, nil
			}
		}
	}
	resp, err := t.base.RoundTrip(out)
	w.responded()
	if err != nil {
		cancel()
		return nil, w.explain(err, parent, t.connect)
	}
	resp.Body = &responseBody{rc: resp.Body, w: w, cancel: cancel}
	return resp, nil
}

// watchdog cancels one request when a stage that waits for the server
// lasts longer than wait. Each event of progress starts the wait again.
type watchdog struct {
	wait   time.Duration
	host   string
	cancel context.CancelFunc

	mu    sync.Mutex
	timer *time.Timer
	stage TimeoutStage
	// deadline is when the current wait ends; zero while nothing is waited for.
	deadline time.Time
	// producing is true while the request body's source is read, which is
	// the caller's time, not the server's.
	producing bool
	// roundTripDone is true once the response headers arrived or the round
	// trip failed. Request body events after that no longer arm the timer.
	roundTripDone bool
	// tlsStarted and connected record the progress of the connection, to
	// name the stage of a connect timeout.
	tlsStarted, connected bool
	// expired is set when the wait ran out and the request was cancelled.
	expired *TimeoutError
}

// armLocked starts the wait for stage, replacing any running one.
func (w *watchdog) armLocked(stage TimeoutStage) {
	if w.expired != nil {
		return
	}
	w.stage = stage
	w.deadline = time.Now().Add(w.wait)
	if w.timer == nil {
		w.timer = time.AfterFunc(w.wait, w.fire)
		return
	}
	w.timer.Reset(w.wait)
}

func (w *watchdog) disarmLocked() {
	w.deadline = time.Time{}
	if w.timer != nil {
		w.timer.Stop()
	}
}

// fire cancels the request when the wait it was started for is still
// current. A stale timer, one whose wait was restarted or stopped after it
// went off, does nothing.
func (w *watchdog) fire() {
	w.mu.Lock()
	if w.expired != nil || w.deadline.IsZero() || time.Now().Before(w.deadline) {
		w.mu.Unlock()
		return
	}
	w.expired = &TimeoutError{Host: w.host, Wait: w.wait, Stage: w.stage}
	w.mu.Unlock()
	w.cancel()
}

func (w *watchdog) tlsHandshakeStarted() {
	w.mu.Lock()
	w.tlsStarted = true
	w.mu.Unlock()
}

func (w *watchdog) gotConn() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connected = true
	if !w.roundTripDone && !w.producing {
		w.armLocked(StageSend)
	}
}

func (w *watchdog) wroteRequest() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.roundTripDone {
		w.armLocked(StageResponse)
	}
}

func (w *watchdog) responded() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roundTripDone = true
	w.disarmLocked()
}

// startProducing stops the wait while the request body's source is read.
func (w *watchdog) startProducing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.producing = true
	if !w.roundTripDone {
		w.disarmLocked()
	}
}

// doneProducing starts the wait for the server to take the bytes just read.
func (w *watchdog) doneProducing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.producing = false
	if !w.roundTripDone && w.connected {
		w.armLocked(StageSend)
	}
}

func (w *watchdog) startReading() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armLocked(StageBody)
}

func (w *watchdog) doneReading() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.disarmLocked()
}

func (w *watchdog) expiredError() *TimeoutError {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expired
}

// explain returns the error of a failed round trip: the *TimeoutError when
// the watchdog ended the request, a *TimeoutError naming the host when the
// connect or TLS handshake timed out, and err otherwise.
func (w *watchdog) explain(err error, parent context.Context, connect time.Duration) error {
	if te := w.expiredError(); te != nil {
		return te
	}
	var netErr net.Error
	if parent.Err() != nil || !errors.As(err, &netErr) || !netErr.Timeout() {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.connected {
		return err
	}
	stage := StageConnect
	if w.tlsStarted {
		stage = StageTLSHandshake
	}
	return &TimeoutError{Host: w.host, Wait: connect, Stage: stage}
}

// requestBody is a request body whose reads pause the watchdog: the time
// between two reads is the time the transport took to send the bytes.
type requestBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.w.startProducing()
	n, err := b.rc.Read(p)
	b.w.doneProducing()
	return n, err
}

func (b *requestBody) Close() error { return b.rc.Close() }

// responseBody is a response body whose reads wait at most the idle
// timeout for the next bytes.
type responseBody struct {
	rc     io.ReadCloser
	w      *watchdog
	cancel context.CancelFunc
}

func (b *responseBody) Read(p []byte) (int, error) {
	b.w.startReading()
	n, err := b.rc.Read(p)
	b.w.doneReading()
	if err != nil && err != io.EOF {
		if te := b.w.expiredError(); te != nil {
			return n, te
		}
	}
	return n, err
}

func (b *responseBody) Close() error {
	b.w.doneReading()
	err := b.rc.Close()
	b.cancel()
	return err
}
