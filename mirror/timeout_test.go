package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testIdle is the idle timeout of these tests: short enough to keep them
// fast, long enough that a loaded machine does not trip it between bytes.
const testIdle = 400 * time.Millisecond

// timeoutClient returns a plain-HTTP client with the given idle timeout and
// retries that wait 1 ms.
func timeoutClient(t *testing.T, idle time.Duration, log *slog.Logger) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{PlainHTTP: true, RegistryConfig: t.TempDir() + "/config.json",
		Retry: fastPolicy(), ConnectTimeout: idle, IdleTimeout: idle, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stallServer starts a server whose handler runs serve and then holds the
// request open without another byte until the client gives up or the test
// ends. It returns the server and its request count.
func stallServer(t *testing.T, serve func(http.ResponseWriter, *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		serve(w, r)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last in, first out, so held handlers return before
	// Close waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, &requests
}

// testContext returns a context that ends well before the test binary's
// timeout, so a request that hangs fails the test with a message.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkTimeout checks that err is a *TimeoutError for host at stage.
func checkTimeout(t *testing.T, err error, host string, stage TimeoutStage) {
	t.Helper()
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("error %v, want a *TimeoutError", err)
	}
	if te.Host != host {
		t.Errorf("timeout names host %q, want %q", te.Host, host)
	}
	if te.Stage != stage {
		t.Errorf("timeout at stage %d, want %d (%v)", te.Stage, stage, err)
	}
	if !strings.Contains(err.Error(), host) {
		t.Errorf("message does not name %s: %v", host, err)
	}
	if !isTransient(err) {
		t.Errorf("a timeout is not transient: %v", err)
	}
}

func TestTimeoutBeforeHeaders(t *testing.T) {
	srv, requests := stallServer(t, func(http.ResponseWriter, *http.Request) {})
	host := strings.TrimPrefix(srv.URL, "http://")
	c := timeoutClient(t, testIdle, nil)
	err := failedRequest(t, c, http.MethodGet, srv.URL+"/kit.tar", nil)
	checkTimeout(t, err, host, StageResponse)
	if !strings.Contains(err.Error(), "stopped answering") {
		t.Errorf("message does not say that the server stopped answering: %v", err)
	}
	// The operation retries a timeout; the round tripper below it must not,
	// or the waits multiply.
	if n := requests.Load(); n != 1 {
		t.Errorf("the round tripper sent %d requests, want 1", n)
	}
}

func TestTimeoutMidBody(t *testing.T) {
	srv, _ := stallServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "2048")
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	c := timeoutClient(t, testIdle, nil)
	resp := startGet(t, testContext(t), c, srv.URL+"/kit.tar")
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if len(got) != 1024 {
		t.Errorf("read %d bytes before the stall, want 1024", len(got))
	}
	checkTimeout(t, err, host, StageBody)
}

func TestTimeoutUploadNotRead(t *testing.T) {
	srv, _ := stallServer(t, func(http.ResponseWriter, *http.Request) {})
	host := strings.TrimPrefix(srv.URL, "http://")
	c := timeoutClient(t, testIdle, nil)
	// More than the socket buffers of the loopback take, so the write
	// itself stalls.
	body := bytes.NewReader(make([]byte, 64<<20))
	err := failedRequest(t, c, http.MethodPut, srv.URL+"/upload", body)
	checkTimeout(t, err, host, StageSend)
}

func TestTimeoutTLSHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Accept connections and never speak TLS.
	go func() {
		var accepted []net.Conn
		defer func() {
			for _, c := range accepted {
				c.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted = append(accepted, conn)
		}
	}()

	c, err := NewClient(ClientOptions{RegistryConfig: t.TempDir() + "/config.json", Retry: fastPolicy(),
		ConnectTimeout: testIdle, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	err = failedRequest(t, c, http.MethodGet, "https://"+host+"/kit.tar", nil)
	checkTimeout(t, err, host, StageTLSHandshake)
	if !strings.Contains(err.Error(), "--connect-timeout") {
		t.Errorf("message does not name --connect-timeout: %v", err)
	}
}

// slowReader returns its data in small pieces, each after a pause.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), 1024)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestTimeoutSlowProgressNotCut(t *testing.T) {
	// The pauses below are a tenth of the idle timeout, or one and a half
	// times it, so that a loaded machine does not turn either into the other.
	const idle = time.Second
	const chunks = 12
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil || n != 2*1024 {
				http.Error(w, "short upload", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(chunks*1024))
		for range chunks {
			w.Write(make([]byte, 1024))
			w.(http.Flusher).Flush()
			time.Sleep(idle / 10)
		}
	}))
	defer srv.Close()
	c := timeoutClient(t, idle, nil)
	ctx := testContext(t)

	// The server takes longer than the idle timeout in all but sends bytes
	// every tenth of it, and the reader pauses longer than the idle timeout
	// before its last read: neither counts as a stall.
	resp := startGet(t, ctx, c, srv.URL+"/kit.tar")
	defer resp.Body.Close()
	buf := make([]byte, 1024)
	total := 0
	for {
		if total == (chunks-1)*1024 {
			time.Sleep(idle * 3 / 2)
		}
		n, err := resp.Body.Read(buf)
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow download after %d bytes: %v", total, err)
		}
	}
	if total != chunks*1024 {
		t.Errorf("downloaded %d bytes, want %d", total, chunks*1024)
	}

	// A request body whose source pauses longer than the idle timeout is
	// the caller's time, not the server's.
	body := &slowReader{data: make([]byte, 2*1024), pause: idle * 3 / 2}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("slow upload: status %s, want 201", resp.Status)
	}
}

func TestTimeoutResumedAndLogged(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var stalled atomic.Bool
	srv, _ := stallServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if stalled.CompareAndSwap(false, true) {
			// The first response stops in the middle of the body.
			w.Header().Set("Content-Length", "65536")
			w.Write(body[:1000])
			w.(http.Flusher).Flush()
			return
		}
		http.ServeContent(w, r, "kit.tar", time.Time{}, bytes.NewReader(body))
	})
	host := strings.TrimPrefix(srv.URL, "http://")

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c := timeoutClient(t, testIdle, log)
	r, err := OpenHTTP(testContext(t), c.HTTP, srv.URL+"/kit.tar", log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("download after a stall: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("read %d bytes, want %d identical ones", len(got), len(body))
	}
	// A loaded machine may stall a later response too, so only the first
	// resume is certain.
	if r.Resumes < 1 {
		t.Errorf("resumed %d times, want at least 1", r.Resumes)
	}
	for _, want := range []string{"host=" + host, "timeout=" + testIdle.String(), "stopped answering"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// failedRequest sends a request through c and returns its error, failing
// the test when the request succeeds.
func failedRequest(t *testing.T, c *Client, method, url string, body io.Reader) error {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTP.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("%s %s succeeded, want a timeout", method, url)
	}
	return err
}

// startGet sends a GET request for url through c and returns the response
// with its body unread, failing the test when the request fails.
func startGet(t *testing.T, ctx context.Context, c *Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
