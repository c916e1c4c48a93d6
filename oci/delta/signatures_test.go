package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// countingFetcher counts the fetches of each digest.
type countingFetcher struct {
	store   *memory.Store
	fetches map[digest.Digest]int
}

func (c *countingFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.fetches[d.Digest]++
	return c.store.Fetch(ctx, d)
}

// pushJSON stores v as a blob of media type mediaType and returns its
// descriptor.
func pushJSON(t *testing.T, store *memory.Store, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := store.Push(context.Background(), d, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return d
}

// pushTagIndex stores a referrers tag index that lists refs and returns its
// index.json entry, tagged for subject.
func pushTagIndex(t *testing.T, store *memory.Store, subject digest.Digest, refs []ocispec.Descriptor,
	annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: refs, Annotations: annotations}
	idx.SchemaVersion = 2
	d := pushJSON(t, store, ocispec.MediaTypeImageIndex, idx)
	d.Annotations = map[string]string{oci.AnnotationRefName: layout.ReferrersTag(subject)}
	return d
}

// pushSignature stores a signature manifest of subject and returns its
// descriptor.
func pushSignature(t *testing.T, store *memory.Store, subject digest.Digest) ocispec.Descriptor {
	t.Helper()
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSigstoreBundle,
		Config:  ocispec.DescriptorEmptyJSON,
		Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: subject, Size: 1}}
	m.SchemaVersion = 2
	return pushJSON(t, store, ocispec.MediaTypeImageManifest, m)
}

// An index.json that lists one tag index many times, which lists one
// signature many times, costs one read of each.
func TestSignaturesReadsEachBlobOnce(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	subject := digest.FromString("bundle index")
	signature := pushSignature(t, store, subject)
	refs := make([]ocispec.Descriptor, 400)
	for i := range refs {
		refs[i] = signature
	}
	tagged := pushTagIndex(t, store, subject, refs, nil)
	var index ocispec.Index
	for range 50 {
		index.Manifests = append(index.Manifests, tagged)
	}
	src := &countingFetcher{store: store, fetches: map[digest.Digest]int{}}

	got := signatures(ctx, src, index, subject)
	if len(got) != 1 || got[0].Digest != signature.Digest {
		t.Fatalf("got signatures %v, want only %s", got, signature.Digest)
	}
	if n := src.fetches[tagged.Digest]; n != 1 {
		t.Errorf("tag index read %d times, want 1", n)
	}
	if n := src.fetches[signature.Digest]; n != 1 {
		t.Errorf("signature manifest read %d times, want 1", n)
	}
}

// Many distinct tag indexes that list the same manifests add each
// manifest once, so the memory used grows with the bytes of the tag
// indexes, not with their count squared.
func TestSignaturesMemoryLinear(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	subject := digest.FromString("bundle index")
	refs := make([]ocispec.Descriptor, 1000)
	for i := range refs {
		refs[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
			Digest: digest.FromString(fmt.Sprint("absent ", i)), Size: 2}
	}
	const tagIndexes = 64
	var index ocispec.Index
	var tagBytes int64
	for i := range tagIndexes {
		d := pushTagIndex(t, store, subject, refs, map[string]string{"n": fmt.Sprint(i)})
		index.Manifests = append(index.Manifests, d)
		tagBytes += d.Size
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := signatures(ctx, store, index, subject)
	runtime.ReadMemStats(&after)
	if len(got) != 0 {
		t.Errorf("got %d signatures, want none", len(got))
	}
	// Reading and decoding allocate about ten times the bytes of the tag
	// indexes.
	// Copying the list of candidates for each tag index would allocate
	// about tagIndexes²/2 × 1000 descriptors, over 200 MiB.
	allocated := after.TotalAlloc - before.TotalAlloc
	limit := uint64(16*tagBytes) + 16<<20
	if allocated > limit {
		t.Errorf("allocated %d bytes for %d tag indexes of %d bytes in all, over %d", allocated, tagIndexes, tagBytes, limit)
	}
}
