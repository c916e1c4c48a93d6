package mirror

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"stella-ops.org/ouk/importer"
)

// restartingRegistry is a registry on loopback that goes down in the
// middle of the first download of the blob at path cut. It refuses
// connections for down, and then serves the same content again on the
// same address, as a registry restarted by its service manager does.
type restartingRegistry struct {
	t    *testing.T
	next http.Handler
	addr string
	cut  string
	down time.Duration

	mu   sync.Mutex
	srv  *http.Server
	done bool
}

func startRestartingRegistry(t *testing.T, down time.Duration) *restartingRegistry {
	t.Helper()
	r := &restartingRegistry{t: t, next: registry.New(registry.Logger(log.New(io.Discard, "", 0))), down: down}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.serve(l)
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *restartingRegistry) serve(l net.Listener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(l)
}

func (r *restartingRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	restart := !r.done && r.cut != "" && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, r.cut)
	if restart {
		r.done = true
	}
	srv := r.srv
	r.mu.Unlock()
	if !restart {
		r.next.ServeHTTP(w, req)
		return
	}

	body := serveRecorded(w, req, r.next)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()

	go func() {
		srv.Close()
		time.Sleep(r.down)
		l, err := net.Listen("tcp", r.addr)
		if err != nil {
			r.t.Errorf("listening on %s again: %v", r.addr, err)
			return
		}
		r.serve(l)
	}()
	panic(http.ErrAbortHandler)
}

// TestImportSurvivesRegistryRestart checks that an import waits for a
// registry that restarts in the middle of a blob for longer than the
// retries of a single request take, and then finishes the blob.
func TestImportSurvivesRegistryRestart(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	reg := startRestartingRegistry(t, 5*time.Second)
	c := fastRetryClient(t, reg.addr)
	pushFile(t, c, kit, reg.addr+"/ouk:1")

	reg.mu.Lock()
	reg.cut = "/blobs/" + largestBlob(t, kit).Digest.String()
	reg.mu.Unlock()

	src, err := OpenKit(context.Background(), repository(t, c, reg.addr+"/ouk:1"), "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.ImportFrom(context.Background(), src.Storage(), src.Index, importer.Options{Store: newStore(t), Keys: f.keys})
	if err != nil {
		t.Fatalf("import across a registry restart of 5s: %v", err)
	}
	if res.Digest == "" {
		t.Errorf("import result names no kit")
	}
}
