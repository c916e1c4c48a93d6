package cas

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/internal/errdef"
)

// testGraph is an image index with one image manifest (config and two
// layers) and a signature referrer whose subject is the index.
type testGraph struct {
	config, layer1, layer2, manifest, index, referrer, sigLayer ocispec.Descriptor
	blobs                                                       []graphBlob
}

type graphBlob struct {
	desc ocispec.Descriptor
	data []byte
}

func buildGraph(t testing.TB, seed uint64) *testGraph {
	t.Helper()
	g := &testGraph{}
	add := func(b []byte, mediaType string) ocispec.Descriptor {
		d := descOf(b, mediaType)
		g.blobs = append(g.blobs, graphBlob{d, b})
		return d
	}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g.config = add(randomBytes(seed, 64), ocispec.MediaTypeImageConfig)
	g.layer1 = add(randomBytes(seed+1, 3000), ocispec.MediaTypeImageLayer)
	g.layer2 = add(randomBytes(seed+2, 5000), ocispec.MediaTypeImageLayer)
	g.manifest = add(marshal(ocispec.Manifest{
		Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest,
		Config: g.config, Layers: []ocispec.Descriptor{g.layer1, g.layer2},
	}), ocispec.MediaTypeImageManifest)
	g.index = add(marshal(ocispec.Index{
		Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex,
		ArtifactType: "application/vnd.example.bundle+json",
		Manifests:    []ocispec.Descriptor{g.manifest},
	}), ocispec.MediaTypeImageIndex)
	g.index.ArtifactType = "application/vnd.example.bundle+json"
	g.sigLayer = add(randomBytes(seed+3, 200), "application/vnd.example.sig")
	subject := ocispec.Descriptor{MediaType: g.index.MediaType, Digest: g.index.Digest, Size: g.index.Size}
	g.referrer = add(marshal(ocispec.Manifest{
		Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig",
		Config:       ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{g.sigLayer},
		Subject: &subject,
	}), ocispec.MediaTypeImageManifest)
	g.referrer.ArtifactType = "application/vnd.example.sig"
	g.blobs = append(g.blobs, graphBlob{ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data})
	return g
}

func (g *testGraph) pushAll(t *testing.T, s *Store) {
	t.Helper()
	for _, blob := range g.blobs {
		// Push as a tar import does: without the media type. Kits share the
		// empty JSON config of the referrer.
		desc := blob.desc
		desc.MediaType = ""
		err := s.Push(context.Background(), desc, bytesReader(blob.data))
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Fatalf("Push(%s): %v", desc.Digest, err)
		}
	}
}

func TestPredecessorsSniffed(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	g := buildGraph(t, 1)
	g.pushAll(t, s)
	ctx := context.Background()

	preds, err := s.Predecessors(ctx, g.layer1)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != g.manifest.Digest {
		t.Fatalf("Predecessors(layer1) = %v, want the manifest", preds)
	}
	if preds[0].MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("predecessor media type = %q, want the sniffed manifest type", preds[0].MediaType)
	}

	preds, err = s.Predecessors(ctx, g.index)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != g.referrer.Digest {
		t.Fatalf("Predecessors(index) = %v, want the referrer", preds)
	}
	if preds[0].ArtifactType != "application/vnd.example.sig" {
		t.Errorf("referrer artifact type = %q", preds[0].ArtifactType)
	}

	info, err := s.Stat(ctx, g.index.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("Stat(index).MediaType = %q, want %q", info.MediaType, ocispec.MediaTypeImageIndex)
	}

	// Deleting the referrer removes its edges.
	if err := s.Delete(ctx, g.referrer); err != nil {
		t.Fatal(err)
	}
	preds, err = s.Predecessors(ctx, g.index)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 0 {
		t.Errorf("Predecessors(index) after deleting the referrer = %v, want none", preds)
	}
}

func TestReferrersOnlySubjectEdges(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	g := buildGraph(t, 1)
	g.pushAll(t, s)
	ctx := context.Background()

	refs, err := s.Referrers(ctx, g.index)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != g.referrer.Digest {
		t.Fatalf("Referrers(index) = %v, want the referrer", refs)
	}
	if refs[0].ArtifactType != "application/vnd.example.sig" {
		t.Errorf("referrer artifact type = %q", refs[0].ArtifactType)
	}

	// The manifest is a child of the index, not a referrer of it.
	refs, err = s.Referrers(ctx, g.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 0 {
		t.Errorf("Referrers(manifest) = %v, want none", refs)
	}
}

func TestPredecessorsIgnoresDeclaredType(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	layer := []byte(`{"mediaType":"application/json","layers":[{"digest":"sha256:` +
		"0000000000000000000000000000000000000000000000000000000000000000" + `","size":1}]}`)
	push(t, s, layer, ocispec.MediaTypeImageManifest)
	info, err := s.Stat(context.Background(), descOf(layer, "").Digest)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != "" {
		t.Errorf("Stat media type = %q: a declared type overrode the content", info.MediaType)
	}
}

func TestTagResolveUntag(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	desc := push(t, s, []byte("tagged"), "text/plain")

	if err := s.Tag(ctx, desc, "kit:1"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	got, err := s.Resolve(ctx, "kit:1")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got.Digest != desc.Digest || got.MediaType != "text/plain" {
		t.Errorf("Resolve = %+v, want %+v", got, desc)
	}
	if _, err := s.Resolve(ctx, "kit:2"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(missing) error = %v, want ErrNotFound", err)
	}
	missing := descOf([]byte("absent"), "")
	if err := s.Tag(ctx, missing, "kit:3"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Tag(absent blob) error = %v, want ErrNotFound", err)
	}
	if err := s.Untag(ctx, "kit:1"); err != nil {
		t.Fatalf("Untag: %v", err)
	}
	if _, err := s.Resolve(ctx, "kit:1"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve after Untag error = %v, want ErrNotFound", err)
	}
	if err := s.Untag(ctx, "kit:1"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("second Untag error = %v, want ErrNotFound", err)
	}
}

func TestOrasCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	g := buildGraph(t, 7)
	src := memory.New()
	for _, blob := range g.blobs {
		if err := src.Push(ctx, blob.desc, bytesReader(blob.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Tag(ctx, g.index, "kit"); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, t.TempDir(), Options{ChunkSize: 1024})
	// oras.Copy brings the index and what it reaches; ExtendedCopy then
	// adds the signature referrer, found through predecessors.
	root, err := oras.Copy(ctx, src, "kit", s, "kit", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("oras.Copy into the store: %v", err)
	}
	if root.Digest != g.index.Digest {
		t.Fatalf("copied root = %s, want %s", root.Digest, g.index.Digest)
	}
	if _, err := oras.ExtendedCopy(ctx, src, "kit", s, "kit", oras.DefaultExtendedCopyOptions); err != nil {
		t.Fatalf("oras.ExtendedCopy into the store: %v", err)
	}
	for _, blob := range g.blobs {
		ok, err := s.Exists(ctx, blob.desc)
		if err != nil || !ok {
			t.Errorf("blob %s missing after copy (err %v)", blob.desc.Digest, err)
		}
	}

	dst := memory.New()
	if _, err := oras.ExtendedCopy(ctx, s, "kit", dst, "kit", oras.DefaultExtendedCopyOptions); err != nil {
		t.Fatalf("oras.ExtendedCopy out of the store: %v", err)
	}
	for _, blob := range g.blobs {
		got, err := content.FetchAll(ctx, dst, blob.desc)
		if err != nil {
			t.Errorf("blob %s missing after copying back: %v", blob.desc.Digest, err)
			continue
		}
		if string(got) != string(blob.data) {
			t.Errorf("blob %s differs after the round trip", blob.desc.Digest)
		}
	}
}
