package cas

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
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

// storeAsEarlierRelease rewrites the metadata of blob d as a release
// before formatSniffedIngest wrote it for an ingested blob: no media type,
// children, subject or edges. It also removes the store format.
func storeAsEarlierRelease(t *testing.T, s *Store, d digest.Digest) {
	t.Helper()
	m, err := s.meta(d)
	if err != nil {
		t.Fatal(err)
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	if err := deleteEdges(batch, d, m); err != nil {
		t.Fatal(err)
	}
	old := blobMeta{Size: m.Size, ChunkSize: m.ChunkSize, Stored: m.Stored}
	value, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Set(blobKey(d), value, nil); err != nil {
		t.Fatal(err)
	}
	if err := batch.Delete([]byte(keyFormat), nil); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// earlierReleaseStore returns the folder of a closed store whose active
// kit has a large manifest stored as an earlier release stored it.
func earlierReleaseStore(t *testing.T) (dir string, config, layer, man ocispec.Descriptor) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	config, layer, man = largeKit(t, s)
	storeAsEarlierRelease(t, s, man.Digest)
	if info, err := s.Stat(context.Background(), man.Digest); err != nil || info.MediaType != "" {
		t.Fatalf("Stat after the rewrite = %+v, %v; want no media type", info, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, config, layer, man
}

func TestOpenRepairsManifestOfEarlierRelease(t *testing.T) {
	dir, config, layer, man := earlierReleaseStore(t)
	s := openTest(t, dir, Options{})
	ctx := context.Background()

	info, err := s.Stat(ctx, man.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("Stat(repaired manifest).MediaType = %q, want %q", info.MediaType, ocispec.MediaTypeImageManifest)
	}
	preds, err := s.Predecessors(ctx, layer)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != man.Digest {
		t.Errorf("Predecessors(layer) = %v, want the repaired manifest %s", preds, man.Digest)
	}
	if value, err := s.get([]byte(keyFormat)); err != nil || string(value) != "2" {
		t.Errorf("store format after the open = %q, %v; want \"2\"", value, err)
	}
	if s.unsniffed {
		t.Error("store still marked as holding unsniffed manifests after the repair")
	}
	checkKept(t, s, config, layer, man)
}

// A read-only open cannot repair the store, so GC and KitComplete parse
// the manifest themselves.
func TestReadOnlyEarlierReleaseKeepsChildren(t *testing.T) {
	dir, config, layer, man := earlierReleaseStore(t)
	s := openTest(t, dir, Options{ReadOnly: true})
	ctx := context.Background()
	if !s.unsniffed {
		t.Fatal("read-only store of an earlier release not marked as holding unsniffed manifests")
	}

	time.Sleep(10 * time.Millisecond) // GC keeps blobs stored after its start
	var removed []digest.Digest
	rep, err := s.GC(ctx, GCOptions{DryRun: true, OnRemove: func(b BlobInfo) { removed = append(removed, b.Digest) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{config, layer} {
		if slices.Contains(removed, d.Digest) {
			t.Errorf("dry-run GC would remove %s of the active kit (report %+v)", d.Digest, rep)
		}
	}

	// The same store without its layer is incomplete.
	_ = s.Close()
	w := openTest(t, dir, Options{})
	if err := w.Delete(ctx, layer); err != nil {
		t.Fatal(err)
	}
	storeAsEarlierRelease(t, w, man.Digest)
	_ = w.Close()
	r := openTest(t, dir, Options{ReadOnly: true})
	ok, err := r.KitComplete(ctx, man.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("KitComplete = true for a manifest of an earlier release whose layer %s is gone; want false",
			layer.Digest)
	}
}

// An empty store keeps only its format key, which CloseAndRemoveIfEmpty
// ignores.
func TestCloseAndRemoveIfEmptyIgnoresFormat(t *testing.T) {
	dir := t.TempDir() + "/st"
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.get([]byte(keyFormat)); err != nil {
		t.Fatalf("store format of a new store: %v", err)
	}
	removed, err := s.CloseAndRemoveIfEmpty()
	if err != nil || !removed {
		t.Errorf("CloseAndRemoveIfEmpty = %v, %v; want the new store removed", removed, err)
	}
}

// A manifest without a "mediaType" field gets the OCI type that its
// fields imply, because an earlier release did not record the media type
// that Push was given.
func TestOpenRepairsManifestWithoutMediaType(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	config := push(t, s, []byte(`{"k":"config"}`), "application/vnd.test.config+json")
	m := ocispec.Manifest{
		Versioned:   specsVersioned(),
		Config:      config,
		Layers:      []ocispec.Descriptor{},
		Annotations: map[string]string{"pad": strings.Repeat("z", 300<<10)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	man := push(t, s, raw, ocispec.MediaTypeImageManifest)
	storeAsEarlierRelease(t, s, man.Digest)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, Options{})
	info, err := s.Stat(ctx, man.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("Stat(repaired manifest).MediaType = %q, want %q", info.MediaType, ocispec.MediaTypeImageManifest)
	}
	preds, err := s.Predecessors(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != man.Digest {
		t.Errorf("Predecessors(config) = %v, want the repaired manifest %s", preds, man.Digest)
	}
}
