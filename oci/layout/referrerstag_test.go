package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// referrersTagIndex returns the bytes of a referrers tag index that lists
// refs.
func referrersTagIndex(t *testing.T, refs []ocispec.Descriptor) []byte {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: refs}
	idx.SchemaVersion = 2
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signatureManifest returns a descriptor of a signature manifest whose
// bytes are the string s.
func signatureManifest(s string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s),
		Size: int64(len(s)), ArtifactType: oci.MediaTypeSigstoreBundle}
}

func TestReferrersTagEntriesDeduplicates(t *testing.T) {
	subject := digest.FromString("bundle index")
	tagged := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("tag index"), Size: 9,
		Annotations: map[string]string{oci.AnnotationRefName: ReferrersTag(subject)}}
	other := tagged
	other.Digest = digest.FromString("other tag index")
	var index ocispec.Index
	for range 50 {
		index.Manifests = append(index.Manifests, tagged)
	}
	index.Manifests = append(index.Manifests, other, tagged)

	got := ReferrersTagEntries(index, subject)
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2: %v", len(got), got)
	}
	if got[0].Digest != tagged.Digest {
		t.Errorf("first entry %s, want %s", got[0].Digest, tagged.Digest)
	}
	if got[1].Digest != other.Digest {
		t.Errorf("second entry %s, want %s", got[1].Digest, other.Digest)
	}
}

func TestParseReferrersTagIndexDeduplicates(t *testing.T) {
	first, second := signatureManifest("first"), signatureManifest("second")
	refs := []ocispec.Descriptor{first}
	for range 400 {
		refs = append(refs, first)
	}
	refs = append(refs, second, first)

	got, err := ParseReferrersTagIndex(referrersTagIndex(t, refs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d manifests, want 2: %v", len(got), got)
	}
	if got[0].Digest != first.Digest || got[1].Digest != second.Digest {
		t.Errorf("got %s and %s, want %s and %s", got[0].Digest, got[1].Digest, first.Digest, second.Digest)
	}
}

// A tag index over the limit is rejected whole, so that the manifests it
// lists count as no signature rather than as some.
func TestParseReferrersTagIndexLimit(t *testing.T) {
	refs := make([]ocispec.Descriptor, MaxReferrersTagManifests)
	for i := range refs {
		refs[i] = signatureManifest(fmt.Sprint("signature ", i))
	}
	got, err := ParseReferrersTagIndex(referrersTagIndex(t, refs))
	if err != nil {
		t.Fatalf("index at the limit: %v", err)
	}
	if len(got) != MaxReferrersTagManifests {
		t.Errorf("index at the limit: got %d manifests, want %d", len(got), MaxReferrersTagManifests)
	}

	// Duplicates count, so that the decoded entries, not only the
	// distinct ones, are bounded.
	refs = append(refs, refs[0])
	got, err = ParseReferrersTagIndex(referrersTagIndex(t, refs))
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("index over the limit: err = %v, want ErrInvalidKit", err)
	}
	if got != nil {
		t.Errorf("index over the limit: got %d manifests, want none", len(got))
	}
}
