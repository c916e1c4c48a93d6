package importer

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// readReferrersTagIndex reads the referrers tag index entry d with fetch and
// returns the signature manifests it lists, as layout.ParseReferrersTagIndex does.
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
	return layout.ParseReferrersTagIndex(raw)
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
	for _, entry := range layout.ReferrersTagEntries(index, bundle) {
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
