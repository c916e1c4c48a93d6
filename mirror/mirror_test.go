package mirror

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci"
)

func TestPushImportReferrersAPI(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	host := memRegistry(t, true)
	c := plainClient(t, host)
	ref := host + "/stella-ops/ouk:1.0.0"

	pushed := pushFile(t, c, kit, ref)
	if pushed.BlobsPushed == 0 {
		t.Errorf("push sent no blobs")
	}
	if len(pushed.Referrers) != 2 {
		t.Errorf("push attached %d referrers, want signature and SBOM: %+v", len(pushed.Referrers), pushed.Referrers)
	}
	// With the referrers API the tag fallback is not written.
	repo := repository(t, c, ref)
	fallback := "sha256-" + strings.TrimPrefix(pushed.Digest, "sha256:")
	if _, err := repo.Resolve(context.Background(), fallback); err == nil {
		t.Errorf("registry with referrers API got fallback tag %s", fallback)
	}

	store := newStore(t)
	res, src := importRef(t, c, store, f.keys, ref)
	if res.Digest != pushed.Digest {
		t.Errorf("imported digest %s, pushed %s", res.Digest, pushed.Digest)
	}
	if len(src.Index.Manifests) != 2 {
		t.Errorf("source index lists %d manifests, want bundle and one signature", len(src.Index.Manifests))
	}
	if res.SignedBy == "" {
		t.Errorf("import did not record the signer")
	}
	if src.BytesRead() == 0 || res.BytesRead == 0 {
		t.Errorf("bytes read: source %d, result %d", src.BytesRead(), res.BytesRead)
	}
	if active, err := store.Active(context.Background()); err != nil || active.Version != "1.0.0" {
		t.Fatalf("active kit after import: %+v, %v", active, err)
	}
}

func TestPushImportTagFallback(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.gz", "1.0.0", 1, "")
	host := memRegistry(t, false)
	c := plainClient(t, host)
	ref := host + "/ouk:1.0.0"
	pushed := pushFile(t, c, kit, ref)

	repo := repository(t, c, ref)
	fallback := "sha256-" + strings.TrimPrefix(pushed.Digest, "sha256:")
	desc, err := repo.Resolve(context.Background(), fallback)
	if err != nil {
		t.Fatalf("fallback tag %s: %v", fallback, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("fallback tag is a %s", desc.MediaType)
	}

	res, src := importRef(t, c, newStore(t), f.keys, host+"/ouk@"+pushed.Digest)
	if len(src.Index.Manifests) != 2 {
		t.Errorf("source index lists %d manifests, want bundle and one signature", len(src.Index.Manifests))
	}
	if res.Version != "1.0.0" {
		t.Errorf("imported version %q", res.Version)
	}
}

func TestImportSecondKitFetchesMissingOnly(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	kit2 := f.buildKit("kit2.tar.zst", "2.0.0", 2, kit1)
	host := memRegistry(t, true)
	c := plainClient(t, host)
	pushFile(t, c, kit1, host+"/ouk:1.0.0")
	store := newStore(t)
	first, _ := importRef(t, c, store, f.keys, host+"/ouk:1.0.0")

	second := pushFile(t, c, kit2, host+"/ouk:2.0.0")
	if second.BlobsSkipped == 0 {
		t.Errorf("second push skipped no blob the registry held")
	}
	res, _ := importRef(t, c, store, f.keys, host+"/ouk:2.0.0")
	if res.BlobsSkipped == 0 {
		t.Errorf("second import skipped no blob")
	}
	if res.BlobsStored >= first.BlobsStored {
		t.Errorf("second import stored %d blobs, first %d; only missing ones should move", res.BlobsStored, first.BlobsStored)
	}
	if res.BytesRead >= first.BytesRead {
		t.Errorf("second import read %d bytes, first %d", res.BytesRead, first.BytesRead)
	}
}

func TestPushFromStoreAndLayout(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	host := memRegistry(t, true)
	c := plainClient(t, host)
	pushFile(t, c, kit, host+"/a:1")
	store := newStore(t)
	res, _ := importRef(t, c, store, f.keys, host+"/a:1")

	// Push the stored kit to a second repository.
	bundle := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex}
	info, err := store.Stat(context.Background(), digestOf(t, res.Digest))
	if err != nil {
		t.Fatal(err)
	}
	bundle.Digest, bundle.Size = info.Digest, info.Size
	preds, err := store.Predecessors(context.Background(), bundle)
	if err != nil {
		t.Fatal(err)
	}
	index := ocispec.Index{Manifests: append([]ocispec.Descriptor{bundle}, preds...)}
	repo := repository(t, c, host+"/b:1")
	out, err := PushKit(context.Background(), store, index, repo, "1", PushOptions{})
	if err != nil {
		t.Fatalf("pushing from the store: %v", err)
	}
	if out.Digest != res.Digest {
		t.Errorf("pushed digest %s, stored %s", out.Digest, res.Digest)
	}
	if len(out.Referrers) != 2 {
		t.Errorf("store push attached %d referrers", len(out.Referrers))
	}
	again, _ := importRef(t, c, newStore(t), f.keys, host+"/b:1")
	if again.Digest != res.Digest {
		t.Errorf("re-imported digest %s", again.Digest)
	}
}

func TestMirrorImagesKeepsDigests(t *testing.T) {
	host, c, store, bundle := importKitFromRegistry(t)

	target := host + "/site"
	opts := MirrorOptions{Repository: c.Repository}
	dry, err := MirrorImages(context.Background(), store, bundle, target, MirrorOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry) != 1 || dry[0].Status != StatusPlanned || dry[0].Target != target+"/stella-ops/scanner:0.1.0" {
		t.Fatalf("dry run: %+v", dry)
	}
	first, err := MirrorImages(context.Background(), store, bundle, target, opts)
	if err != nil {
		t.Fatalf("mirroring: %v", err)
	}
	if first[0].Status != StatusPushed || first[0].BlobsPushed == 0 {
		t.Errorf("first mirror: %+v", first[0])
	}
	repo := repository(t, c, first[0].Target)
	desc, err := repo.Resolve(context.Background(), "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != first[0].Digest {
		t.Errorf("mirrored tag names %s, kit has %s", desc.Digest, first[0].Digest)
	}
	again, err := MirrorImages(context.Background(), store, bundle, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Status != StatusPresent || again[0].BlobsPushed != 0 {
		t.Errorf("second mirror pushed again: %+v", again[0])
	}
}

func TestOpenKitRejectsManifest(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	host := memRegistry(t, true)
	c := plainClient(t, host)
	pushed := pushFile(t, c, kit, host+"/ouk:1")
	sig := pushed.Referrers[0].Digest
	repo := repository(t, c, host+"/ouk@"+sig)
	_, err := OpenKit(context.Background(), repo, sig, nil)
	if err == nil || !strings.Contains(err.Error(), "image index") {
		t.Fatalf("opening a signature manifest as a kit: %v", err)
	}
}

func TestTargetRef(t *testing.T) {
	for _, tc := range []struct{ in, target, want string }{
		{"example.test/stella-ops/scanner:0.1.0", "reg.local/mirror", "reg.local/mirror/stella-ops/scanner:0.1.0"},
		{"example.test/stella-ops/scanner:0.1.0", "reg.local:5000", "reg.local:5000/stella-ops/scanner:0.1.0"},
		{"example.test:443/a/b/c:v1", "reg.local/p/", "reg.local/p/a/b/c:v1"},
		{"example.test/a@sha256:" + strings.Repeat("a", 64), "reg.local", "reg.local/a@sha256:" + strings.Repeat("b", 64)},
		// A tag and a digest: the tag is kept.
		{"example.test:5000/a/b:1.0@sha256:" + strings.Repeat("a", 64), "reg.local", "reg.local/a/b:1.0"},
		// A first component without '.' or ':' is no host, as Docker reads it.
		{"stella-ops/scanner:0.1.0", "reg.local/mirror", "reg.local/mirror/stella-ops/scanner:0.1.0"},
		{"library/alpine:3.20", "reg.local", "reg.local/library/alpine:3.20"},
		{"stella-ops/tools/scanner@sha256:" + strings.Repeat("a", 64), "reg.local", "reg.local/stella-ops/tools/scanner@sha256:" + strings.Repeat("b", 64)},
		// localhost and upper-case first components are hosts.
		{"localhost/foo:1", "reg.local", "reg.local/foo:1"},
		{"localhost:5000/a/b:1", "reg.local", "reg.local/a/b:1"},
		{"Mirror/a:1", "reg.local", "reg.local/a:1"},
		// One path component is a Docker Hub repository in library, and
		// so is one path component after a Docker Hub host.
		{"scanner:0.1.0", "reg.local/mirror", "reg.local/mirror/library/scanner:0.1.0"},
		{"scanner@sha256:" + strings.Repeat("a", 64), "reg.local", "reg.local/library/scanner@sha256:" + strings.Repeat("b", 64)},
		{"scanner:0.1.0@sha256:" + strings.Repeat("a", 64), "reg.local", "reg.local/library/scanner:0.1.0"},
		{"localhost", "reg.local", "reg.local/library/localhost@sha256:" + strings.Repeat("b", 64)},
		{"docker.io/scanner:0.1.0", "reg.local", "reg.local/library/scanner:0.1.0"},
		{"index.docker.io/scanner:0.1.0", "reg.local", "reg.local/library/scanner:0.1.0"},
		{"docker.io/library/scanner:0.1.0", "reg.local", "reg.local/library/scanner:0.1.0"},
		{"index.docker.io/stella-ops/scanner:0.1.0", "reg.local", "reg.local/stella-ops/scanner:0.1.0"},
		// Docker matches the Docker Hub host names case-sensitively, so
		// Docker.io is another host.
		{"Docker.io/scanner:0.1.0", "reg.local", "reg.local/scanner:0.1.0"},
	} {
		got, err := TargetRef(tc.in, tc.target, "sha256:"+strings.Repeat("b", 64))
		if err != nil || got != tc.want {
			t.Errorf("TargetRef(%q, %q) = %q, %v; want %q", tc.in, tc.target, got, err, tc.want)
		}
	}
	if _, err := TargetRef("example.test/a:1", "https://reg.local", "sha256:x"); err == nil {
		t.Errorf("a target with a scheme was accepted")
	}
}

func TestAirGapBlocksUnnamedHost(t *testing.T) {
	host := memRegistry(t, true)
	rec := &recorder{}
	c, err := NewClient(ClientOptions{PlainHTTP: true, AirGap: true, Hosts: []string{host}, Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	repo := repository(t, c, "other.example:5000/ouk:1")
	_, err = repo.Resolve(context.Background(), "1")
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("request to an unnamed host: %v", err)
	}
	if len(rec.hosts) != 0 {
		t.Errorf("transport saw requests to %v", rec.hosts)
	}
	// The named host passes.
	repo = repository(t, c, host+"/ouk:1")
	repo.Resolve(context.Background(), "1")
	if len(rec.hosts) == 0 || rec.hosts[0] != host {
		t.Errorf("named host %s was not contacted: %v", host, rec.hosts)
	}
}

// importKitFromRegistry pushes kit 1.0.0 to a registry in memory that
// lists referrers, as host/ouk:1, and imports it from there into a new
// store. It returns the registry's host, its client, the store and the
// kit's bundle index.
func importKitFromRegistry(t *testing.T) (string, *Client, *cas.Store, ocispec.Index) {
	t.Helper()
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	host := memRegistry(t, true)
	c := plainClient(t, host)
	pushFile(t, c, kit, host+"/ouk:1")
	store := newStore(t)
	res, _ := importRef(t, c, store, f.keys, host+"/ouk:1")
	return host, c, store, bundleIndex(t, store, res.Digest)
}

// bundleIndex reads a stored bundle index.
func bundleIndex(t *testing.T, store *cas.Store, d string) ocispec.Index {
	t.Helper()
	info, err := store.Stat(context.Background(), digestOf(t, d))
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: info.Digest, Size: info.Size}
	raw, err := content.FetchAll(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := oci.ParseBundleIndex(raw)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func digestOf(t *testing.T, s string) digest.Digest {
	t.Helper()
	d, err := digest.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// recorder is a transport that records the hosts it is asked to reach and
// sends the requests on.
type recorder struct {
	mu    sync.Mutex
	hosts []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}
