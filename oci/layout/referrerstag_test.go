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

// referrerManifest returns the bytes and descriptor of an image manifest
// whose subject is subject, with the given artifact type, config media type
// and annotations.
func referrerManifest(t *testing.T, subject digest.Digest, artifactType, configType string,
	annotations map[string]string) ([]byte, ocispec.Descriptor) {
	t.Helper()
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.Descriptor{MediaType: configType, Digest: digest.FromString("{}"), Size: 2},
		Layers:       []ocispec.Descriptor{},
		Subject:      &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: subject, Size: 12},
		Annotations:  annotations,
	}
	m.SchemaVersion = 2
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw),
		Size: int64(len(raw))}
}

func TestReferrerDescriptorCarriesManifestFields(t *testing.T) {
	subject := digest.FromString("bundle index")
	created := map[string]string{oci.AnnotationCreated: "2026-12-04T00:00:00Z"}
	raw, d := referrerManifest(t, subject, oci.MediaTypeSigstoreBundle, ocispec.MediaTypeEmptyJSON, created)
	got, err := ReferrerDescriptor(d, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != d.Digest || got.Size != d.Size || got.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("descriptor %+v does not name the manifest %+v", got, d)
	}
	if got.ArtifactType != oci.MediaTypeSigstoreBundle {
		t.Errorf("artifactType %q, want %q", got.ArtifactType, oci.MediaTypeSigstoreBundle)
	}
	if got.Annotations[oci.AnnotationCreated] != created[oci.AnnotationCreated] {
		t.Errorf("annotations %v, want %v", got.Annotations, created)
	}

	// Without an artifactType, the config media type is used instead.
	raw, d = referrerManifest(t, subject, "", "application/spdx+json", nil)
	got, err = ReferrerDescriptor(d, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ArtifactType != "application/spdx+json" {
		t.Errorf("artifactType %q, want the config media type", got.ArtifactType)
	}
}

func TestReferrerDescriptorRejectsNonReferrer(t *testing.T) {
	noSubject := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`)
	for name, raw := range map[string][]byte{
		"no subject": noSubject,
		"index":      []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`),
		"not JSON":   []byte(`{"schemaVersion":`),
	} {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
		if _, err := ReferrerDescriptor(d, raw); !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: err = %v, want ErrInvalidKit", name, err)
		}
	}
}

func TestNewReferrersTagIndexReadsBack(t *testing.T) {
	subject := digest.FromString("bundle index")
	var listed []ocispec.Descriptor
	for _, s := range []string{"first", "second"} {
		raw, d := referrerManifest(t, subject, oci.MediaTypeSigstoreBundle, ocispec.MediaTypeEmptyJSON,
			map[string]string{oci.AnnotationCreated: "2026-12-04T00:00:00Z", "test.name": s})
		r, err := ReferrerDescriptor(d, raw)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, r)
	}
	// Order and repeats of the input do not change the bytes.
	entry, raw, err := NewReferrersTagIndex(subject, []ocispec.Descriptor{listed[1], listed[0], listed[1]})
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := NewReferrersTagIndex(subject, []ocispec.Descriptor{listed[0], listed[1]})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != string(again) {
		t.Errorf("the same referrers in another order give other bytes:\n%s\n%s", raw, again)
	}

	if !IsReferrersTagEntry(entry) {
		t.Errorf("entry %+v is not a referrers tag entry", entry)
	}
	if got := entry.Annotations[oci.AnnotationRefName]; got != ReferrersTag(subject) {
		t.Errorf("entry tag %q, want %q", got, ReferrersTag(subject))
	}
	if entry.Digest != digest.FromBytes(raw) || entry.Size != int64(len(raw)) {
		t.Errorf("entry %s (%d bytes) does not describe the index bytes", entry.Digest, entry.Size)
	}
	entries := ReferrersTagEntries(ocispec.Index{Manifests: []ocispec.Descriptor{entry}}, subject)
	if len(entries) != 1 {
		t.Errorf("ReferrersTagEntries finds %d entries, want 1", len(entries))
	}

	parsed, err := ParseReferrersTagIndex(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed) != 2 {
		t.Fatalf("the index lists %d signatures, want 2: %+v", len(parsed), parsed)
	}
	if parsed[0].Digest > parsed[1].Digest {
		t.Errorf("the index lists %s before %s, want digest order", parsed[0].Digest, parsed[1].Digest)
	}
	for _, p := range parsed {
		if p.ArtifactType != oci.MediaTypeSigstoreBundle || p.Annotations[oci.AnnotationCreated] == "" {
			t.Errorf("listed %+v lacks the artifactType or annotations of its manifest", p)
		}
	}
}

func TestNewReferrersTagIndexLimit(t *testing.T) {
	subject := digest.FromString("bundle index")
	var many []ocispec.Descriptor
	for i := range MaxReferrersTagManifests + 1 {
		many = append(many, signatureManifest(fmt.Sprint(i)))
	}
	if _, _, err := NewReferrersTagIndex(subject, many); !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("err = %v, want ErrInvalidKit for %d referrers", err, len(many))
	}
	if _, _, err := NewReferrersTagIndex(subject, many[:MaxReferrersTagManifests]); err != nil {
		t.Errorf("%d referrers: %v", MaxReferrersTagManifests, err)
	}
}
