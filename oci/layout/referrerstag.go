package layout

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"
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
// too.

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
