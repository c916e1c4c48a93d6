package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// endlessReferrers serves a registry whose referrers API responds with
// perPage made-up signature descriptors per page and a Link to the next
// page, up to lastPage pages. Every other request goes to the registry at
// upstream.
type endlessReferrers struct {
	upstream http.Handler
	perPage  int
	lastPage int
	pages    atomic.Int64
}

func (e *endlessReferrers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/referrers/") {
		e.upstream.ServeHTTP(w, r)
		return
	}
	page := int(e.pages.Add(1))
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	index.SchemaVersion = 2
	for i := range e.perPage {
		index.Manifests = append(index.Manifests, ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: oci.MediaTypeSigstoreBundle,
			Digest:       digest.FromString(fmt.Sprintf("page %d referrer %d", page, i)),
			Size:         400,
		})
	}
	if page < e.lastPage {
		w.Header().Set("Link", "<"+r.URL.Path+"?page="+strconv.Itoa(page+1)+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	json.NewEncoder(w).Encode(index)
}

// endlessRegistry pushes a kit to an in-memory registry and serves it
// behind e, and returns the repository of the kit.
func endlessRegistry(t *testing.T, e *endlessReferrers) (*Client, string) {
	t.Helper()
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	host := memRegistry(t, true)
	pushFile(t, plainClient(t, host), kit, host+"/ouk:1.0.0")
	target, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	e.upstream = httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	front := strings.TrimPrefix(srv.URL, "http://")
	return plainClient(t, front), front + "/ouk:1.0.0"
}

func TestOpenKitLimitsReferrerPages(t *testing.T) {
	e := &endlessReferrers{perPage: 1, lastPage: 5000}
	c, ref := endlessRegistry(t, e)
	repo := repository(t, c, ref)

	_, err := OpenKit(context.Background(), repo, repo.Reference.Reference, nil)
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v after %d pages, want ErrSizeExceedsLimit", err, e.pages.Load())
	}
	if !strings.Contains(err.Error(), "pages") {
		t.Errorf("message does not name the page limit: %v", err)
	}
	if n := e.pages.Load(); n > maxReferrerPages+1 {
		t.Errorf("read %d pages of referrers, want at most %d", n, maxReferrerPages+1)
	}
}

func TestOpenKitLimitsReferrerCount(t *testing.T) {
	e := &endlessReferrers{perPage: maxReferrers + 1, lastPage: 1}
	c, ref := endlessRegistry(t, e)
	repo := repository(t, c, ref)

	_, err := OpenKit(context.Background(), repo, repo.Reference.Reference, nil)
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(maxReferrers)) {
		t.Errorf("message does not give the limit of %d referrers: %v", maxReferrers, err)
	}
}
