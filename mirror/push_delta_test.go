package mirror

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// TestPushDeltaLeavesDeltaManifestBehind checks that a push of a delta
// attaches no delta manifest. The registry keeps one list of referrers per
// bundle digest, which the full kit shares, and holds the complete kit
// after the push, so a delta manifest there would make every copy of the
// kit look like a delta.
func TestPushDeltaLeavesDeltaManifestBehind(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	delta2 := f.buildDelta("kit2.delta.tar.zst", "2.0.0", 2, kit1)
	host := memRegistry(t, false)
	c := plainClient(t, host)
	pushFile(t, c, kit1, host+"/ouk:1.0.0")
	pushed := pushFile(t, c, delta2, host+"/ouk:2.0.0")

	signatures := 0
	for _, r := range pushed.Referrers {
		if r.ArtifactType == delta.ArtifactType {
			t.Errorf("push attached delta manifest %s", r.Digest)
		}
		if r.Subject != pushed.Digest {
			t.Errorf("push attached referrer %s to %s, want the bundle index %s", r.Digest, r.Subject, pushed.Digest)
		}
		if r.ArtifactType == oci.MediaTypeSigstoreBundle {
			signatures++
		}
	}
	if signatures != 1 {
		t.Errorf("push attached %d signatures, want 1: %+v", signatures, pushed.Referrers)
	}

	// The registry lists no delta manifest among the bundle's referrers.
	repo := repository(t, c, host+"/ouk:2.0.0")
	subject, err := repo.Resolve(context.Background(), pushed.Digest)
	if err != nil {
		t.Fatal(err)
	}
	err = repo.Referrers(context.Background(), subject, "", func(page []ocispec.Descriptor) error {
		for _, d := range page {
			if d.ArtifactType == delta.ArtifactType {
				t.Errorf("registry lists delta manifest %s as a referrer of the bundle index", d.Digest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The registry holds the complete kit, so a store without the base
	// imports it too.
	for name, withBase := range map[string]bool{"with base": true, "without base": false} {
		store := newStore(t)
		if withBase {
			importRef(t, c, store, f.keys, host+"/ouk:1.0.0")
		}
		res, _ := importRef(t, c, store, f.keys, host+"/ouk:2.0.0")
		if res.Digest != pushed.Digest {
			t.Errorf("%s: imported digest %s, pushed %s", name, res.Digest, pushed.Digest)
		}
	}
}

func TestPushDeltaWithoutBaseRejected(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	delta2 := f.buildDelta("kit2.delta.tar.zst", "2.0.0", 2, kit1)
	host := memRegistry(t, true)
	c := plainClient(t, host)

	repo := repository(t, c, host+"/empty:2.0.0")
	open := func() (io.ReadCloser, error) { return os.Open(delta2) }
	_, err := PushKitStream(context.Background(), open, repo, "2.0.0", PushOptions{})
	checkBaseMissing(t, "kit file", err)

	k, err := delta.OpenKit(context.Background(), delta2)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	_, err = PushKit(context.Background(), k.Storage, k.Index, repo, "2.0.0", PushOptions{})
	checkBaseMissing(t, "opened kit", err)

	// Nothing of the delta reached the repository.
	if _, err := repo.Resolve(context.Background(), "2.0.0"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("tag 2.0.0 after the rejected pushes: %v", err)
	}
}

// checkBaseMissing checks that a delta push from source failed for its
// missing base and that the message names both kits.
func checkBaseMissing(t *testing.T, source string, err error) {
	t.Helper()
	if !errors.Is(err, errdef.ErrBaseMissing) {
		t.Fatalf("pushing a delta from a %s without its base: %v, want ErrBaseMissing", source, err)
	}
	for _, want := range []string{"delta of kit 1.0.0", "push the base kit 1.0.0", "push the full kit 2.0.0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

func TestPushCountsEachBlobOnce(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	host := memRegistry(t, true)
	var heads countingTransport
	c := countingClient(t, &heads, host)

	first := pushFile(t, c, kit, host+"/ouk:1")
	if first.BlobsSkipped != 0 {
		t.Errorf("first push to an empty registry counts %d blobs as already present", first.BlobsSkipped)
	}
	for path, n := range heads.snapshot() {
		if n > 1 {
			t.Errorf("first push checked %s %d times", path, n)
		}
	}
	second := pushFile(t, c, kit, host+"/ouk:1")
	if second.BlobsPushed != 0 {
		t.Errorf("second push sent %d blobs", second.BlobsPushed)
	}
	if second.BlobsSkipped != first.BlobsPushed {
		t.Errorf("second push counts %d blobs present, first pushed %d", second.BlobsSkipped, first.BlobsPushed)
	}
}

// countingTransport counts the HEAD requests per URL path, the requests
// with which a push checks whether the registry contains a blob or manifest.
type countingTransport struct {
	mu    sync.Mutex
	heads map[string]int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodHead {
		c.mu.Lock()
		if c.heads == nil {
			c.heads = map[string]int{}
		}
		c.heads[req.URL.Path]++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.heads)
}

// countingClient returns a plain-HTTP client whose requests go through ct.
func countingClient(t *testing.T, ct *countingTransport, hosts ...string) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{PlainHTTP: true, Hosts: hosts, Transport: ct,
		RegistryConfig: filepath.Join(t.TempDir(), "config.json")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPushDeltaIndexLastNamesEarlyBlobs(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar", "1.0.0", 1, "")
	delta2 := f.buildDelta("kit2.delta.tar", "2.0.0", 2, kit1)

	// Rewrite the delta with a blob above the manifest size limit first
	// and index.json last, so the blob is pushed before the base check.
	raw, err := os.ReadFile(delta2)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, maxManifestSize+1)
	for i := range big {
		big[i] = byte(i * 7)
	}
	late := filepath.Join(f.dir, "index-last.tar")
	out, err := os.Create(late)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(out)
	write := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	write("blobs/sha256/"+digest.FromBytes(big).Encoded(), big)
	var index []byte
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if filepath.Base(hdr.Name) == "index.json" {
			index = data
			continue
		}
		write(hdr.Name, data)
	}
	write("index.json", index)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}

	host := memRegistry(t, true)
	repo := repository(t, plainClient(t, host), host+"/empty:2.0.0")
	open := func() (io.ReadCloser, error) { return os.Open(late) }
	_, err = PushKitStream(context.Background(), open, repo, "2.0.0", PushOptions{})
	checkBaseMissing(t, "kit file with index.json last", err)
	if !strings.Contains(err.Error(), "before index.json") || !strings.Contains(err.Error(), "already pushed") {
		t.Errorf("message does not say that blobs were pushed early: %v", err)
	}
}
