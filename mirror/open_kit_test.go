package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"oras.land/oras-go/v2"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

func TestOpenKitRejectsImage(t *testing.T) {
	f := newFixture(t)
	host := memRegistry(t, true)
	c := plainClient(t, host)
	repo := repository(t, c, host+"/stella-ops/scanner:0.1.0")
	ctx := context.Background()
	image, src, err := layout.LoadImage(ctx, f.image, demoImageRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, src, repo, image, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, image, "0.1.0"); err != nil {
		t.Fatal(err)
	}

	_, err = OpenKit(ctx, repo, "0.1.0", nil)
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("opening an image as a kit: %v, want ErrInvalidKit", err)
	}
	for _, want := range []string{"tag 0.1.0 in", "is not a Stella Ops kit", "multi-platform container image", "stella ouk push"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), `artifact type is ""`) {
		t.Errorf("message shows the bundle check in place of what the reference is: %v", err)
	}
}

// tamperingRegistry serves an in-memory registry and alters the body of
// manifest responses whose URL path ends with one of the suffixes set by
// tamper, keeping their length.
type tamperingRegistry struct {
	mu       sync.Mutex
	suffixes []string
	next     http.Handler
}

func (r *tamperingRegistry) tamper(suffix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.suffixes = append(r.suffixes, suffix)
}

func (r *tamperingRegistry) matches(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.suffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

func (r *tamperingRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") || !r.matches(req.URL.Path) {
		r.next.ServeHTTP(w, req)
		return
	}
	body := serveRecorded(w, req, r.next)
	w.Write(bytes.Replace(body, []byte(`"20`), []byte(`"21`), 1))
}

// serveRecorded serves req with next into a recorder, copies the header
// and status code of the response to w and returns its body, which the
// caller writes to w, changed as the test needs.
func serveRecorded(w http.ResponseWriter, req *http.Request, next http.Handler) []byte {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, req)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	return rec.Body.Bytes()
}

func startTamperingRegistry(t *testing.T) (*tamperingRegistry, string) {
	t.Helper()
	r := &tamperingRegistry{next: registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, strings.TrimPrefix(srv.URL, "http://")
}

func TestImportRejectsTamperedManifest(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	ctx := context.Background()

	t.Run("bundle index", func(t *testing.T) {
		reg, host := startTamperingRegistry(t)
		c := plainClient(t, host)
		pushed := pushFile(t, c, kit, host+"/ouk:1.0.0")
		reg.tamper("/manifests/1.0.0")
		reg.tamper("/manifests/" + pushed.Digest)
		for _, reference := range []string{"1.0.0", pushed.Digest} {
			_, err := OpenKit(ctx, repository(t, c, host+"/ouk:1.0.0"), reference, nil)
			if !errors.Is(err, errdef.ErrDigestMismatch) {
				t.Errorf("opening %s with a tampered bundle index: %v, want ErrDigestMismatch", reference, err)
				continue
			}
			// A push skips what the registry holds, so the advice must not
			// stop at pushing the kit again.
			if !strings.Contains(err.Error(), "Import the kit file instead") {
				t.Errorf("opening %s with a tampered bundle index gives no advice that works: %v", reference, err)
			}
		}
	})

	t.Run("signature", func(t *testing.T) {
		reg, host := startTamperingRegistry(t)
		c := plainClient(t, host)
		pushed := pushFile(t, c, kit, host+"/ouk:1.0.0")
		reg.tamper("/manifests/" + pushed.Referrers[0].Digest)
		// OpenKit reads a referrer to learn whether it is a signature when
		// the registry does not report its artifact type, so either step
		// may find the damage.
		src, err := OpenKit(ctx, repository(t, c, host+"/ouk:1.0.0"), "1.0.0", nil)
		if err == nil {
			_, err = importer.ImportFrom(ctx, src.Storage(), src.Index, importer.Options{Store: newStore(t), Keys: f.keys})
		}
		if !errors.Is(err, errdef.ErrDigestMismatch) {
			t.Errorf("importing with a tampered signature manifest: %v, want ErrDigestMismatch", err)
		}
	})
}
