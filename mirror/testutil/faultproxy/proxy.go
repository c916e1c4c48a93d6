// Package faultproxy is a reverse proxy for tests that breaks a share of
// the requests it forwards: it responds 500 or 429 without forwarding, or
// cuts the connection in the middle of a request or response body. Faults
// follow a fixed schedule, so a test run is repeatable.
package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Fault is the action the proxy takes on one request.
type Fault int

// Faults.
const (
	None        Fault = iota
	Status500         // respond 500 without forwarding
	Status429         // respond 429 with Retry-After: 0 without forwarding
	CutRequest        // read half the request body, then close the connection
	CutResponse       // forward, send half the response body, then close the connection
)

// Proxy forwards to a backend and injects faults. Each distinct request
// (method and path, or method and digest for uploads) is faulted at most
// once, so a client that retries always gets through.
type Proxy struct {
	*httptest.Server
	backend *url.URL
	rp      *httputil.ReverseProxy

	mu sync.Mutex
	// Every is the period of the fault schedule: request number n (from 1)
	// gets Schedule[(n/Every) % len(Schedule)] when n % Every == 0.
	every    int
	schedule []Fault
	count    int
	enabled  bool
	match    func(*http.Request) bool
	faulted  map[string]bool

	// Counts of faults injected, by kind.
	Injected [5]atomic.Int64
}

// New starts a proxy in front of backend (a base URL such as
// http://127.0.0.1:5000) that faults every every-th request that carries or
// returns a body, cycling through schedule.
func New(backend string, every int, schedule ...Fault) (*Proxy, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, err
	}
	p := &Proxy{backend: u, every: every, schedule: schedule, enabled: true}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = nil
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	return p, nil
}

// SetEnabled switches fault injection on or off.
func (p *Proxy) SetEnabled(on bool) {
	p.mu.Lock()
	p.enabled = on
	p.mu.Unlock()
}

// SetMatch chooses which requests count for the schedule. By default only
// requests for registry blobs and manifests count, so the version check and
// token requests always pass.
func (p *Proxy) SetMatch(match func(*http.Request) bool) {
	p.mu.Lock()
	p.match = match
	p.mu.Unlock()
}

// Total returns how many faults were injected.
func (p *Proxy) Total() int64 {
	var n int64
	for i := range p.Injected {
		n += p.Injected[i].Load()
	}
	return n
}

func (p *Proxy) next(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled || len(p.schedule) == 0 || p.every <= 0 {
		return None
	}
	if p.match != nil && !p.match(r) {
		return None
	}
	if p.match == nil && !strings.Contains(r.URL.Path, "/blobs/") && !strings.Contains(r.URL.Path, "/manifests/") {
		return None
	}
	// A request already faulted once passes, so retries make progress
	// whatever the schedule. Uploads are keyed by digest, not session.
	key := r.Method + " " + r.URL.Path
	if d := r.URL.Query().Get("digest"); d != "" {
		key = r.Method + " upload " + d
	}
	if p.faulted[key] {
		return None
	}
	p.count++
	if p.count%p.every != 0 {
		return None
	}
	if p.faulted == nil {
		p.faulted = make(map[string]bool)
	}
	p.faulted[key] = true
	f := p.schedule[(p.count/p.every)%len(p.schedule)]
	switch {
	case f == CutRequest && (r.Method != http.MethodPut && r.Method != http.MethodPatch || r.ContentLength == 0):
		return Status500
	case f == CutResponse && r.Method != http.MethodGet:
		return Status429
	}
	return f
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.next(r)
	p.Injected[f].Add(1)
	switch f {
	case Status500:
		http.Error(w, "injected fault", http.StatusInternalServerError)
	case Status429:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "injected fault", http.StatusTooManyRequests)
	case CutRequest:
		io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		hijackClose(w)
	case CutResponse:
		p.rp.ServeHTTP(&cuttingWriter{ResponseWriter: w, limit: -1}, r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// cuttingWriter passes half the declared body through, then closes the
// connection.
type cuttingWriter struct {
	http.ResponseWriter
	limit   int64
	written int64
	cut     bool
}

func (c *cuttingWriter) WriteHeader(code int) {
	if cl := c.Header().Get("Content-Length"); cl != "" {
		var n int64
		for _, ch := range cl {
			n = n*10 + int64(ch-'0')
		}
		c.limit = n / 2
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cuttingWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, io.ErrClosedPipe
	}
	if c.limit >= 0 && c.written+int64(len(b)) > c.limit {
		keep := c.limit - c.written
		c.ResponseWriter.Write(b[:keep])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		c.cut = true
		hijackClose(c.ResponseWriter)
		return 0, io.ErrClosedPipe
	}
	n, err := c.ResponseWriter.Write(b)
	c.written += int64(n)
	return n, err
}

// hijackClose closes the client connection at once, without sending any
// more of the response.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
