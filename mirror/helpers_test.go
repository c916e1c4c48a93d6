package mirror

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/retry"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

const demoImageRef = "example.test/stella-ops/scanner:0.1.0"

var testCreated = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// repoRoot returns the repository root, one level above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// fixture is a signing key and a two-platform demo image shared by the kits
// of one test.
type fixture struct {
	t      *testing.T
	dir    string
	signer *ecdsa.PrivateKey
	keys   []sign.TrustedKey
	image  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sign.KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), signer: key,
		keys: []sign.TrustedKey{{ID: id, Key: key.Public(), Source: "test key"}}}
	bins := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		path := filepath.Join(f.dir, strings.ReplaceAll(p, "/", "-"))
		body := bytes.Repeat([]byte("demo binary for "+p+"\n"), 400)
		if err := os.WriteFile(path, body, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[p] = path
	}
	f.image = filepath.Join(f.dir, "image")
	if _, err := layout.BuildDemoImage(context.Background(), bins, demoImageRef, testCreated, f.image); err != nil {
		t.Fatalf("building demo image: %v", err)
	}
	return f
}

// kitOptions returns the options of a signed kit with the demo feeds and
// image, written to out.
func (f *fixture) kitOptions(out, version string, seq int64, base string) build.Options {
	feeds := filepath.Join(repoRoot(f.t), "testdata", "feeds")
	return build.Options{
		Output:   out,
		Version:  version,
		Sequence: seq,
		Feeds: []vulndb.Feed{{Kind: "osv", Path: filepath.Join(feeds, "osv")},
			{Kind: "regional", Name: "demo-cert", Path: filepath.Join(feeds, "regional")}},
		Images:  []build.Image{{Ref: demoImageRef, Path: f.image}},
		Signer:  f.signer,
		Created: testCreated.Add(time.Duration(seq) * time.Hour),
		Base:    base,
	}
}

// buildKit writes a signed kit file with the demo image and returns its path.
func (f *fixture) buildKit(name, version string, seq int64, base string) string {
	f.t.Helper()
	out := filepath.Join(f.dir, name)
	if _, err := build.Build(context.Background(), f.kitOptions(out, version, seq, base)); err != nil {
		f.t.Fatalf("building kit %s: %v", version, err)
	}
	return out
}

// buildDelta builds the full kit of version on base and, from the same
// build, its delta from base, and returns the path of the delta.
func (f *fixture) buildDelta(name, version string, seq int64, base string) string {
	f.t.Helper()
	out := filepath.Join(f.dir, name)
	opts := f.kitOptions(filepath.Join(f.dir, "full-"+name), version, seq, base)
	opts.DeltaOutput = out
	if _, err := build.Build(context.Background(), opts); err != nil {
		f.t.Fatalf("building delta %s: %v", version, err)
	}
	return out
}

// newStore opens an empty content store.
func newStore(t *testing.T) *cas.Store {
	t.Helper()
	s, err := cas.Open(filepath.Join(t.TempDir(), "db"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// memRegistry starts go-containerregistry's in-memory registry on loopback
// and returns its host:port. Manifest uploads pass through checkManifestPut.
func memRegistry(t *testing.T, referrers bool) string {
	t.Helper()
	inner := registry.New(registry.WithReferrersSupport(referrers), registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(checkManifestPut(inner))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// plainClient returns a client for plain-HTTP registries on loopback.
func plainClient(t *testing.T, hosts ...string) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{PlainHTTP: true, Hosts: hosts, RegistryConfig: filepath.Join(t.TempDir(), "config.json")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func repository(t *testing.T, c *Client, ref string) *remote.Repository {
	t.Helper()
	r, err := c.Repository(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushFile pushes a kit file to ref and fails the test on error.
func pushFile(t *testing.T, c *Client, kit, ref string) *PushResult {
	t.Helper()
	repo := repository(t, c, ref)
	open := func() (io.ReadCloser, error) { return os.Open(kit) }
	res, err := PushKitStream(context.Background(), open, repo, repo.Reference.Reference, PushOptions{})
	if err != nil {
		t.Fatalf("pushing %s to %s: %v", kit, ref, err)
	}
	return res
}

// importRef imports the kit at ref into store.
func importRef(t *testing.T, c *Client, store *cas.Store, keys []sign.TrustedKey, ref string) (*importer.Result, *Source) {
	t.Helper()
	repo := repository(t, c, ref)
	src, err := OpenKit(context.Background(), repo, repo.Reference.Reference, nil)
	if err != nil {
		t.Fatalf("opening %s: %v", ref, err)
	}
	res, err := importer.ImportFrom(context.Background(), src.Storage(), src.Index, importer.Options{Store: store, Keys: keys})
	if err != nil {
		t.Fatalf("importing %s: %v", ref, err)
	}
	return res, src
}

// fastPolicy retries like DefaultRetryPolicy but waits only a millisecond.
func fastPolicy() retry.Policy {
	return &retry.GenericPolicy{Retryable: retry.DefaultPredicate,
		Backoff: retry.ExponentialBackoff(time.Millisecond, 1, 0), MinWait: time.Millisecond, MaxWait: time.Millisecond, MaxRetry: 6}
}

// largestBlob returns the largest blob of the kit file, an image layer,
// which is fetched and pushed after the signature.
func largestBlob(t *testing.T, kit string) ocispec.Descriptor {
	t.Helper()
	k, err := delta.OpenKit(context.Background(), kit)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	g, err := k.Walk(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var largest ocispec.Descriptor
	for _, d := range g.Data {
		if d.Size > largest.Size {
			largest = d
		}
	}
	return largest
}

// checkManifestPut rejects a manifest upload whose body broke off or does
// not match the digest it is uploaded under, as registries that verify
// digests do, and passes every other request to next. The in-memory
// registry stores what it read even when the read failed. Behind a proxy
// that cuts connections, the broken copy of an upload that the client
// sent again could then arrive last and replace the good one.
func checkManifestPut(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the manifest: "+err.Error(), http.StatusBadRequest)
			return
		}
		ref := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if want, err := digest.Parse(ref); err == nil && digest.FromBytes(body) != want {
			http.Error(w, "manifest does not match digest "+ref, http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
