package importer

import (
	"context"
	"errors"
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

// dropReferrersTagIndexes removes the referrers tag indexes that index.json
// lists and that this import stored. The import reads them only to find the
// kit's signatures, and the store finds referrers through their subject, so
// nothing in the store reaches them once the kit is active, and gc would
// remove them. A tag index in the signed graph stays. A failure is only
// logged, because the index is garbage that gc removes anyway.
func (s *session) dropReferrersTagIndexes(ctx context.Context) {
	if s.guard == nil || s.guard.index == nil {
		return
	}
	tags := make(map[digest.Digest]bool)
	for _, d := range s.guard.index.Manifests {
		if layout.IsReferrersTagEntry(d) {
			tags[d.Digest] = true
		}
	}
	for _, d := range s.added {
		if _, signed := s.guard.graph[d.Digest]; !tags[d.Digest] || signed {
			continue
		}
		// The import stores a blob once, so it is removed once.
		delete(tags, d.Digest)
		if err := s.opts.Store.Delete(ctx, d); err != nil {
			if !errors.Is(err, errdef.ErrNotFound) {
				s.opts.Logger.Debug("removing a referrers tag index", "digest", d.Digest, "error", err)
			}
			continue
		}
		// The report counts the blobs the kit left in the store.
		s.result.BlobsStored--
		s.result.BytesStored -= d.Size
	}
}
