package importer

import (
	"context"
	"encoding/json"
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

// dropBlobsOutsideKit removes the blobs that this import stored outside
// the kit. The kit is the signed graph of the bundle index bundle, with
// every referrer of a manifest of the kit, such as a signature, and what
// that referrer lists. The blobs outside are referrers tag indexes, which
// the import reads only to find the signatures, and anything else that
// index.json or a tag index lists beside the kit. No signature covers them
// and nothing in the store reaches them once the kit is active, so they
// would only take space until the next gc. A failure is only logged,
// because gc removes them anyway.
// NOTE: a referrer is kept with everything it lists, whether or not it
// verifies.
func (s *session) dropBlobsOutsideKit(ctx context.Context, bundle digest.Digest) {
	if s.guard == nil || len(s.added) == 0 {
		return
	}
	// Every manifest of the signed graph counts, also one that the store
	// held before this import, so that a referrer of it, such as an
	// attestation of an image that the previous kit shared, stays.
	keep := map[digest.Digest]bool{bundle: true}
	for dg := range s.guard.graph {
		keep[dg] = true
	}

	shapes := make(map[digest.Digest]referrerShape)
	for _, d := range s.added {
		if _, signed := s.guard.graph[d.Digest]; signed || s.isTable(d.Digest) {
			keep[d.Digest] = true
			continue
		}
		// A blob of a tar stream comes without its media type, so every
		// blob small enough to be a manifest is read.
		if d.Size > MaxManifestSize {
			continue
		}
		b, err := s.fetchStored(ctx, d)
		if err != nil {
			// A manifest that cannot be read is kept, as gc would decide.
			s.opts.Logger.Debug("reading a blob outside the signed graph", "digest", d.Digest, "error", err)
			keep[d.Digest] = true
			continue
		}
		var m referrerShape
		if json.Unmarshal(b, &m) == nil {
			shapes[d.Digest] = m
		}
	}

	// A referrer of a kept manifest is kept with what it lists, which may
	// list manifests or have referrers of its own, so the pass runs until
	// nothing changes.
	listed := make(map[digest.Digest]bool)
	for changed := true; changed; {
		changed = false
		for dg, m := range shapes {
			referrer := m.Subject != nil && keep[m.Subject.Digest]
			if listed[dg] || !(keep[dg] || referrer) {
				continue
			}
			keep[dg], listed[dg], changed = true, true, true
			for _, c := range m.children() {
				keep[c] = true
			}
		}
	}

	for _, d := range s.added {
		if keep[d.Digest] {
			continue
		}
		if err := s.opts.Store.Delete(ctx, d); err != nil {
			if !errors.Is(err, errdef.ErrNotFound) {
				s.opts.Logger.Debug("removing a blob outside the signed graph", "digest", d.Digest, "error", err)
			}
			continue
		}
		// The report counts the blobs the kit left in the store.
		s.result.BlobsStored--
		s.result.BytesStored -= d.Size
	}
}

// referrerShape holds the fields of a manifest or index that name other
// blobs.
type referrerShape struct {
	Subject   *ocispec.Descriptor  `json:"subject"`
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

// children returns the digests of the blobs that m lists, its subject left
// out.
func (m referrerShape) children() []digest.Digest {
	var out []digest.Digest
	if m.Config != nil {
		out = append(out, m.Config.Digest)
	}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out
}
