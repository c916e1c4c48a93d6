package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// stallMode selects the requests that a stallingServer holds open.
type stallMode int32

const (
	stallNone          stallMode = iota
	stallBeforeHeaders           // matching GETs get no response at all
	stallMidBody                 // matching GETs of 64 KiB or more stop at half the file, or at once for a range beyond that
	stallUpload                  // blob uploads (PUT and PATCH) stop being read after half their body
)

// stallingServer serves next on 127.0.0.1 and, in a stall mode, holds the
// requests that the mode picks open without sending another byte, as a
// server process stopped with SIGSTOP does, until the client gives up or the
// test ends.
type stallingServer struct {
	*httptest.Server
	host    string
	next    http.Handler
	match   func(*http.Request) bool
	mode    atomic.Int32
	stalled atomic.Int64
	release chan struct{}
}

// newStallingServer starts a stallingServer whose GET stalls apply to the
// requests match picks.
func newStallingServer(t *testing.T, next http.Handler, match func(*http.Request) bool, useTLS bool) *stallingServer {
	t.Helper()
	s := &stallingServer{next: next, match: match, release: make(chan struct{})}
	if useTLS {
		s.Server = httptest.NewTLSServer(s)
	} else {
		s.Server = httptest.NewServer(s)
	}
	s.host = strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	// Cleanups run last in, first out: the held handlers return before
	// Close waits for them.
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *stallingServer) setMode(m stallMode) { s.mode.Store(int32(m)) }

func (s *stallingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := stallMode(s.mode.Load())
	isGet := r.Method == http.MethodGet && s.match(r)
	switch {
	case mode == stallBeforeHeaders && isGet:
		s.hold(r)
	case mode == stallMidBody && isGet:
		rec := httptest.NewRecorder()
		s.next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		start, total := responseRange(rec, len(body))
		if total < 64<<10 {
			copyResponse(w, rec, body)
			return
		}
		// Every request stops at the same byte of the file, so a resumed
		// transfer makes no further progress.
		copyResponse(w, rec, body[:min(max(total/2-start, 0), len(body))])
		w.(http.Flusher).Flush()
		s.hold(r)
	case mode == stallUpload && (r.Method == http.MethodPut || r.Method == http.MethodPatch) &&
		strings.Contains(r.URL.Path, "/blobs/uploads/"):
		io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		s.hold(r)
	default:
		s.next.ServeHTTP(w, r)
	}
}

// hold blocks until the client closes the connection or the test ends.
func (s *stallingServer) hold(r *http.Request) {
	s.stalled.Add(1)
	select {
	case <-s.release:
	case <-r.Context().Done():
	}
}

// responseRange returns the offset of the first byte of a recorded
// response in the file and the file's size, from Content-Range for a 206.
func responseRange(rec *httptest.ResponseRecorder, n int) (int, int) {
	var start, end, total int
	if rec.Code != http.StatusPartialContent {
		return 0, n
	}
	if _, err := fmt.Sscanf(rec.Header().Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &total); err != nil {
		return 0, n
	}
	return start, total
}

// copyResponse sends the status and headers of rec, then body.
func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// runLimited runs stella like run, and fails the test when stella is still
// running after limit, which means it hangs.
func (e *env) runLimited(limit time.Duration, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, stellaBin, append([]string{"--store", e.store}, args...)...)
	res := e.runCommand(cmd, args)
	if ctx.Err() != nil {
		e.t.Fatalf("stella %s still ran after %s, so it hangs\nstderr: %s", strings.Join(args, " "), limit, res.stderr)
	}
	return res
}

// stallLimit is far above the few seconds that a stalled command takes
// with the short timeouts below, and only proves that it does not hang.
const stallLimit = 2 * time.Minute

// shortTimeouts are the timeout flags of the commands run against a
// stalling server.
var shortTimeouts = []string{"--connect-timeout", "2s", "--idle-timeout", "300ms"}

// checkStalled checks that a command run with -v against a stalling server
// on host failed with exit code 1, an error naming host as stopped
// answering, and a logged retry naming host and the idle timeout.
func checkStalled(t *testing.T, command string, r result, host string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("%s: exit %d, want 1\nstderr: %s", command, r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "Error:") {
		t.Errorf("%s: last line of stderr is %q, want the error", command, last)
	}
	if !strings.Contains(last, host+" stopped answering") {
		t.Errorf("%s: error %q does not say that %s stopped answering", command, last, host)
	}
	if !strings.Contains(r.stderr, "host="+host) {
		t.Errorf("%s: no retry logged with host=%s\nstderr: %s", command, host, r.stderr)
	}
	if !strings.Contains(r.stderr, "timeout=300ms") {
		t.Errorf("%s: no retry logged with timeout=300ms\nstderr: %s", command, r.stderr)
	}
}

// storeState returns the active kit and the history of the store, which a
// failed command must leave as they were.
func (e *env) storeState() (string, string) {
	e.t.Helper()
	return e.activeDigest(), e.must("ouk", "history", "-o", "json")
}

// checkStoreUnchanged checks that the active kit and the history are still
// active and history after command failed.
func (e *env) checkStoreUnchanged(command, active, history string) {
	e.t.Helper()
	gotActive, gotHistory := e.storeState()
	if gotActive != active {
		e.t.Errorf("%s changed the active kit to %s, want %s", command, gotActive, active)
	}
	if gotHistory != history {
		e.t.Errorf("%s changed the history to\n%s\nwant\n%s", command, gotHistory, history)
	}
}

func TestStalledRegistryFailsImportPushMirror(t *testing.T) {
	e := newEnv(t)
	image := demoImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	kit2 := e.buildKit("kit2.tar.zst", "--version", "2.0.0", "--sequence", "2",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+image)
	isBlob := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/sha256:") }
	reg := newStallingServer(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))), isBlob, false)
	e.must("ouk", "push", "--plain-http", kit1, reg.host+"/ouk:1.0.0")
	e.must("ouk", "push", "--plain-http", kit2, reg.host+"/ouk:2.0.0")
	e.must("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/ouk:1.0.0")
	active, history := e.storeState()

	for _, tc := range []struct {
		name string
		mode stallMode
	}{{"before headers", stallBeforeHeaders}, {"mid body", stallMidBody}} {
		reg.setMode(tc.mode)
		args := append([]string{"-v", "ouk", "import", "--plain-http", "--key", e.pub}, shortTimeouts...)
		r := e.runLimited(stallLimit, append(args, "oci://"+reg.host+"/ouk:2.0.0")...)
		checkStalled(t, "import stalled "+tc.name, r, reg.host)
		e.checkStoreUnchanged("import stalled "+tc.name, active, history)
	}

	// The in-memory registry shares blobs between repositories, so uploads
	// go to a second, empty one.
	site := newStallingServer(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))), isBlob, false)
	site.setMode(stallUpload)
	args := append([]string{"-v", "ouk", "push", "--plain-http"}, shortTimeouts...)
	r := e.runLimited(stallLimit, append(args, kit2, site.host+"/ouk:2.0.0")...)
	checkStalled(t, "push to a stalled upload", r, site.host)
	e.checkStoreUnchanged("push to a stalled upload", active, history)

	// Once the registry responds again, the import completes and the kit's
	// image can be mirrored, so mirror meets the stalled upload too.
	reg.setMode(stallNone)
	e.must("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/ouk:2.0.0")
	active, history = e.storeState()
	args = append([]string{"-v", "ouk", "mirror", "--key", e.pub, "--plain-http", "--to", site.host + "/mirror"}, shortTimeouts...)
	r = e.runLimited(stallLimit, args...)
	checkStalled(t, "mirror to a stalled upload", r, site.host)
	e.checkStoreUnchanged("mirror to a stalled upload", active, history)
	if reg.stalled.Load() == 0 {
		t.Errorf("the source registry held no request")
	}
	if site.stalled.Load() == 0 {
		t.Errorf("the site registry held no request")
	}
}

func TestStalledWebServerFailsImport(t *testing.T) {
	e := newEnv(t)
	image := demoImage(t, e.dir)
	kits := map[string]string{
		"/kit1.tar": e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"),
		"/kit2.tar.zst": e.buildKit("kit2.tar.zst", "--version", "2.0.0", "--sequence", "2",
			"--image", "registry.example.test/stella-ops/scanner:0.1.0="+image),
	}
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := kits[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("ETag", `"`+filepath.Base(path)+`"`)
		http.ServeContent(w, r, filepath.Base(path), time.Time{}, bytes.NewReader(body))
	})
	web := newStallingServer(t, files, func(*http.Request) bool { return true }, true)
	caFile := filepath.Join(e.dir, "web-ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: web.Certificate().Raw})))
	e.must("ouk", "import", "--ca-file", caFile, "--key", e.pub, web.URL+"/kit1.tar")
	active, history := e.storeState()

	for _, tc := range []struct {
		name string
		mode stallMode
	}{{"before headers", stallBeforeHeaders}, {"mid body", stallMidBody}} {
		web.setMode(tc.mode)
		args := append([]string{"-v", "ouk", "import", "--ca-file", caFile, "--key", e.pub}, shortTimeouts...)
		r := e.runLimited(stallLimit, append(args, web.URL+"/kit2.tar.zst")...)
		checkStalled(t, "import stalled "+tc.name, r, web.host)
		e.checkStoreUnchanged("import stalled "+tc.name, active, history)
	}

	web.setMode(stallNone)
	e.must("ouk", "import", "--ca-file", caFile, "--key", e.pub, web.URL+"/kit2.tar.zst")
	if got := e.status().Active; got == nil || got.Version != "2.0.0" {
		t.Errorf("import after the server recovered: active %+v, want 2.0.0", got)
	}
}

func TestTimeoutFlagsRejectNonPositive(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"--idle-timeout", "0s"},
		{"--idle-timeout", "-5s"},
		{"--connect-timeout", "0s"},
	} {
		all := append([]string{"ouk", "push", "--plain-http"}, args...)
		r := e.run(append(all, "kit.tar", "127.0.0.1:9/ouk:1")...)
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, args[0]+" is "+args[1]) {
			t.Errorf("%s: error does not name the flag and its value: %s", strings.Join(args, " "), r.stderr)
		}

		// An import from a kit file does not talk to a registry, but
		// rejects the same values before it starts.
		all = append([]string{"ouk", "import", "--key", e.pub}, args...)
		r = e.run(append(all, "kit.tar")...)
		if r.code != 2 {
			t.Errorf("import %s of a kit file: exit %d, want 2\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
