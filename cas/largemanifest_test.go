package cas

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// largeManifest returns an image manifest of config and layer of at least
// minSize bytes, padded with an annotation.
func largeManifest(t *testing.T, config, layer ocispec.Descriptor, minSize int) []byte {
	t.Helper()
	m := ocispec.Manifest{
		Versioned:   specsVersioned(),
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      config,
		Layers:      []ocispec.Descriptor{layer},
		Annotations: map[string]string{"pad": strings.Repeat("x", minSize)},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// largeKit stores a config, a layer and an image manifest of about 300
// KiB, which Push ingests as an sstable, and activates the manifest.
func largeKit(t *testing.T, s *Store) (config, layer, man ocispec.Descriptor) {
	t.Helper()
	config = push(t, s, []byte(`{"k":"config"}`), "application/vnd.test.config+json")
	layer = push(t, s, randomBytes(7, 1000), "application/vnd.test.layer")
	raw := largeManifest(t, config, layer, 300<<10)
	if len(raw) < ingestThreshold || len(raw) > maxSniffSize {
		t.Fatalf("manifest has %d bytes, outside the ingest path's sniffed range", len(raw))
	}
	man = push(t, s, raw, ocispec.MediaTypeImageManifest)
	err := s.Activate(context.Background(), KitRecord{Digest: man.Digest, Version: "1", Sequence: 1})
	if err != nil {
		t.Fatal(err)
	}
	return config, layer, man
}

// checkKept runs GC and fails the test for every blob of want it removed.
func checkKept(t *testing.T, s *Store, want ...ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	time.Sleep(10 * time.Millisecond) // GC keeps blobs stored after its start
	rep, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 0 {
		t.Errorf("GC removed %d blobs of the active kit; want 0", rep.Removed)
	}
	for _, d := range want {
		if ok, err := s.Exists(ctx, d); err != nil || !ok {
			t.Errorf("blob %s of the active kit: Exists = %v, %v after GC; want kept", d.Digest, ok, err)
		}
	}
}

func TestGCKeepsChildrenOfLargeManifest(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	config, layer, man := largeKit(t, s)
	checkKept(t, s, config, layer, man)
}

func TestPushLargeManifestRecordsEdges(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	config, layer, man := largeKit(t, s)

	info, err := s.Stat(ctx, man.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("Stat(large manifest).MediaType = %q, want %q", info.MediaType, ocispec.MediaTypeImageManifest)
	}
	for _, child := range []ocispec.Descriptor{config, layer} {
		preds, err := s.Predecessors(ctx, child)
		if err != nil {
			t.Fatal(err)
		}
		if len(preds) != 1 || preds[0].Digest != man.Digest {
			t.Errorf("Predecessors(%s) = %v, want the large manifest %s", child.Digest, preds, man.Digest)
		}
	}
}

// An index without a "mediaType" field takes the media type that Push
// was given, on the ingest path as on the chunk path.
func TestPushLargeIndexUsesDeclaredType(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	child := push(t, s, []byte(`{"k":"child"}`), "application/vnd.test.manifest+json")
	idx := map[string]any{
		"schemaVersion": 2,
		"manifests":     []ocispec.Descriptor{child},
		"annotations":   map[string]string{"pad": strings.Repeat("y", 300<<10)},
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	desc := push(t, s, raw, ocispec.MediaTypeImageIndex)

	info, err := s.Stat(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("Stat(large index).MediaType = %q, want %q", info.MediaType, ocispec.MediaTypeImageIndex)
	}
	preds, err := s.Predecessors(ctx, child)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != desc.Digest {
		t.Errorf("Predecessors(child) = %v, want the large index %s", preds, desc.Digest)
	}
}

func TestKitCompleteLargeManifestMissingLayer(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	config := push(t, s, []byte(`{"k":"config"}`), "application/vnd.test.config+json")
	layer := descOf(randomBytes(8, 1000), "application/vnd.test.layer") // never stored
	man := push(t, s, largeManifest(t, config, layer, ingestThreshold), ocispec.MediaTypeImageManifest)
	ok, err := s.KitComplete(ctx, man.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("KitComplete = true for a large manifest whose layer %s is not stored; want false", layer.Digest)
	}
}
