package importer

import (
	"context"
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
// spec v1.1, which joins the digest's algorithm and encoded value with '-'. `regctl image copy --referrers` (v0.11.7) from a registry into a
// layout folder writes a kit's signature manifests into such an index and
// does not list them in index.json, so a kit's signatures may be found
// there too.

// referrersTagPattern matches a referrers tag schema name of a sha256
// digest, the only algorithm that kits use.
var referrersTagPattern = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// ReferrersTag returns the referrers tag schema name of d, such as
// "sha256-<64 hex>".
func ReferrersTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// isReferrersTagEntry reports whether the entry d of index.json is an image
// index tagged with a referrers tag schema name.
func isReferrersTagEntry(d ocispec.Descriptor) bool {
	return d.MediaType == ocispec.MediaTypeImageIndex && referrersTagPattern.MatchString(d.Annotations[oci.AnnotationRefName])
}

// referrersTagEntries returns the entries of index.json that are image
// indexes tagged with the referrers tag schema name of bundle.
func referrersTagEntries(index ocispec.Index, bundle digest.Digest) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	tag := ReferrersTag(bundle)
	for _, d := range index.Manifests {
		if isReferrersTagEntry(d) && d.Annotations[oci.AnnotationRefName] == tag && d.Digest != bundle {
			out = append(out, d)
		}
	}
	return out
}

// parseReferrersTagIndex decodes the referrers tag index raw and returns
// the image manifests it lists that may be signatures: those with the
// sigstore bundle artifact type or with none. The caller verifies each
// like a signature manifest that index.json lists, so the index itself
// vouches for nothing.
func parseReferrersTagIndex(raw []byte) ([]ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("decoding the index: %v: %w", err, errdef.ErrInvalidKit)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("the index has schemaVersion %d and mediaType %q, not 2 and %q: %w",
			idx.SchemaVersion, idx.MediaType, ocispec.MediaTypeImageIndex, errdef.ErrInvalidKit)
	}
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		if d.ArtifactType != "" && d.ArtifactType != oci.MediaTypeSigstoreBundle {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// readReferrersTagIndex reads the referrers tag index entry d with fetch and
// returns the signature manifests it lists, as parseReferrersTagIndex does.
func readReferrersTagIndex(ctx context.Context, fetch FetchFunc, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if err := checkDescriptor(d); err != nil {
		return nil, err
	}
	if d.Size > MaxManifestSize {
		return nil, fmt.Errorf("the index declares %d bytes, over the %d byte limit: %w",
			d.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := fetch(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	return parseReferrersTagIndex(raw)
}

// ReferrersTagProblem is a referrers tag index of a kit that could not be
// read or decoded.
type ReferrersTagProblem struct {
	Entry ocispec.Descriptor
	Err   error
}

func (p ReferrersTagProblem) Error() string {
	return fmt.Sprintf("referrers tag index %s (%s): %v", p.Entry.Annotations[oci.AnnotationRefName], p.Entry.Digest, p.Err)
}

func (p ReferrersTagProblem) Unwrap() error { return p.Err }

// ReferrersTagSignatures returns the signature manifests that the referrers
// tag indexes of bundle in index.json list, without those in skip, and a
// problem for each such index that could not be read or decoded.
func ReferrersTagSignatures(ctx context.Context, fetch FetchFunc, index ocispec.Index, bundle digest.Digest,
	skip []ocispec.Descriptor) ([]ocispec.Descriptor, []ReferrersTagProblem) {
	seen := make(map[digest.Digest]bool)
	for _, d := range skip {
		seen[d.Digest] = true
	}
	var out []ocispec.Descriptor
	var problems []ReferrersTagProblem
	for _, entry := range referrersTagEntries(index, bundle) {
		refs, err := readReferrersTagIndex(ctx, fetch, entry)
		if err != nil {
			problems = append(problems, ReferrersTagProblem{Entry: entry, Err: err})
			continue
		}
		for _, d := range refs {
			if seen[d.Digest] || d.Digest == bundle {
				continue
			}
			seen[d.Digest] = true
			out = append(out, d)
		}
	}
	return out, problems
}
