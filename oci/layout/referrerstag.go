package layout

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// A registry without the referrers API lists the referrers of a manifest in
// an image index tagged by the referrers tag schema of the OCI distribution
// spec v1.1, which joins the digest's algorithm and encoded value with '-'.
// `regctl image copy --referrers` (v0.11.7) from a registry into a layout
// folder writes a kit's signature manifests into such an index and does
// not list them in index.json, so a kit's signatures may be found there
// too. Kits that stella writes carry such an index beside the signature
// manifests in index.json, so that regctl finds the signatures as well.

// referrersTagPattern matches a referrers tag schema name of a sha256
// digest, the only algorithm that kits use.
var referrersTagPattern = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// ReferrersTag returns the referrers tag schema name of d, such as
// "sha256-<64 hex>".
func ReferrersTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// IsReferrersTagEntry reports whether the entry d of index.json is an image
// index tagged with a referrers tag schema name.
func IsReferrersTagEntry(d ocispec.Descriptor) bool {
	return d.MediaType == ocispec.MediaTypeImageIndex && referrersTagPattern.MatchString(d.Annotations[oci.AnnotationRefName])
}

// MaxReferrersTagManifests is the maximum number of manifests that a
// referrers tag index may list. The index lists every referrer of one
// manifest, and a kit's bundle index has a few: its signatures and perhaps
// an SBOM or attestations. The limit bounds the work of checking each
// listed manifest as a signature.
const MaxReferrersTagManifests = 1024

// ReferrersTagEntries returns the entries of index.json that are image
// indexes tagged with the referrers tag schema name of subject, each digest
// once.
func ReferrersTagEntries(index ocispec.Index, subject digest.Digest) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := make(map[digest.Digest]bool)
	tag := ReferrersTag(subject)
	for _, d := range index.Manifests {
		if !IsReferrersTagEntry(d) || d.Annotations[oci.AnnotationRefName] != tag || d.Digest == subject || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		out = append(out, d)
	}
	return out
}

// ParseReferrersTagIndex decodes the referrers tag index raw and returns
// the image manifests it lists that may be signatures: those with the
// sigstore bundle artifact type or with none. The index vouches for
// nothing, so a caller verifies each like a signature manifest that
// index.json lists. It returns each digest once. An index that lists more
// than MaxReferrersTagManifests manifests is rejected, so it adds no
// signature. Its errors wrap errdef.ErrInvalidKit.
func ParseReferrersTagIndex(raw []byte) ([]ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("decoding the index: %v: %w", err, errdef.ErrInvalidKit)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("the index has schemaVersion %d and mediaType %q, not 2 and %q: %w",
			idx.SchemaVersion, idx.MediaType, ocispec.MediaTypeImageIndex, errdef.ErrInvalidKit)
	}
	if len(idx.Manifests) > MaxReferrersTagManifests {
		return nil, fmt.Errorf("the index lists %d manifests, over the limit of %d for a referrers tag index: %w",
			len(idx.Manifests), MaxReferrersTagManifests, errdef.ErrInvalidKit)
	}
	var out []ocispec.Descriptor
	seen := make(map[digest.Digest]bool)
	for _, d := range idx.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest || seen[d.Digest] {
			continue
		}
		if d.ArtifactType != "" && d.ArtifactType != oci.MediaTypeSigstoreBundle {
			continue
		}
		seen[d.Digest] = true
		out = append(out, d)
	}
	return out, nil
}

// ReferrerDescriptor returns the descriptor of the image manifest d, whose
// bytes are raw, as a referrers list of the OCI distribution spec v1.1
// lists it. The descriptor carries the manifest's annotations and its
// artifactType, or its config media type when it has none. It returns an
// error wrapping errdef.ErrInvalidKit when raw is not an image manifest
// with a subject. A manifest without a mediaType passes, because d names
// its media type.
func ReferrerDescriptor(d ocispec.Descriptor, raw []byte) (ocispec.Descriptor, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decoding referrer %s: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
	}
	if (m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest) || m.Subject == nil {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s is invalid: it is not an image manifest with a subject: %w",
			d.Digest, errdef.ErrInvalidKit)
	}
	out := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d.Digest, Size: d.Size,
		ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if out.ArtifactType == "" {
		out.ArtifactType = m.Config.MediaType
	}
	return out, nil
}

// NewReferrersTagIndex encodes the referrers tag index of subject that
// lists referrers, sorted by digest, each digest once, and returns its
// bytes and its index.json entry, tagged ReferrersTag(subject). The
// referrers are listed as given, so a caller passes descriptors that
// ReferrerDescriptor returned. The same referrers give the same bytes.
func NewReferrersTagIndex(subject digest.Digest, referrers []ocispec.Descriptor) (ocispec.Descriptor, []byte, error) {
	listed := slices.Clone(referrers)
	slices.SortStableFunc(listed, func(a, b ocispec.Descriptor) int {
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
	listed = slices.CompactFunc(listed, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	if len(listed) > MaxReferrersTagManifests {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%d referrers of %s are over the limit of %d for a referrers tag index: %w",
			len(listed), subject, MaxReferrersTagManifests, errdef.ErrInvalidKit)
	}
	if listed == nil {
		listed = []ocispec.Descriptor{}
	}
	raw, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: listed,
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("encoding the referrers tag index of %s: %w", subject, err)
	}
	entry := ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageIndex,
		Digest:      digest.FromBytes(raw),
		Size:        int64(len(raw)),
		Annotations: map[string]string{oci.AnnotationRefName: ReferrersTag(subject)},
	}
	return entry, raw, nil
}
