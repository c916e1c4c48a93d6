package mirror

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
)

// losingRegistry serves a registry that loses the blob at path lost in the
// middle of its first download. The first GET sends half of the blob and
// closes the connection. Every later GET gets a 404, as from a registry
// restarted with empty storage.
type losingRegistry struct {
	next http.Handler
	lost string // "/blobs/sha256:…"
	gets atomic.Int64
}

func (l *losingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || l.lost == "" || !strings.HasSuffix(r.URL.Path, l.lost) {
		l.next.ServeHTTP(w, r)
		return
	}
	if l.gets.Add(1) > 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`)
		return
	}
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func TestImportNamesBlobGoneFromRegistry(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	reg := &losingRegistry{next: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := fastRetryClient(t, host)
	pushFile(t, c, kit, host+"/ouk:1")

	repo := repository(t, c, host+"/ouk:1")
	src, err := OpenKit(context.Background(), repo, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.lost = "/blobs/" + largestBlob(t, kit).Digest.String()
	_, err = importer.ImportFrom(context.Background(), src.Storage(), src.Index, importer.Options{Store: newStore(t), Keys: f.keys})
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("import of a blob the registry lost: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "the blob is not found in the registry any more") {
		t.Errorf("message does not say that the registry lost the blob: %v", err)
	}
}
