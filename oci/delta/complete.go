package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
)

// A delta manifest lists the blobs of its kit that a delta leaves out, so
// whether a kit source is a delta depends on the source, not on the
// manifest alone. A source that carries every blob the delta manifest
// declares omitted contains the complete kit, needs no base and reads as a
// full kit. A folder that `oras cp -r` copied out of a registry is such a
// source. The registry keeps one list of referrers per bundle digest, so
// once a kit was pushed as a delta, every copy of that kit brings the delta
// manifest along.

// errCarried marks a kit that lists a delta manifest and carries every
// blob the manifest declares omitted.
var errCarried = errors.New("the kit carries every blob that its delta manifest omits")

// FindDelta returns the delta manifest that index.json lists for the kit's
// bundle index, as FindInfo does, when src lacks a blob that the delta
// omits. When src carries every omitted blob, the kit is complete, and
// FindDelta returns an error wrapping errdef.ErrNotFound, as for a full kit.
func FindDelta(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, bundle digest.Digest) (*Info, error) {
	info, err := FindInfo(ctx, src, index, bundle)
	if err != nil {
		return nil, err
	}
	carried, err := info.Config.CarriedBy(ctx, src)
	if err != nil {
		return nil, err
	}
	if carried {
		return nil, fmt.Errorf("%w: %w", errCarried, errdef.ErrNotFound)
	}
	return info, nil
}

// CarriedBy reports whether src holds every blob that the delta omits. A
// delta that omits nothing is carried by any source.
func (c Config) CarriedBy(ctx context.Context, src content.ReadOnlyStorage) (bool, error) {
	for _, o := range c.Omitted {
		ok, err := src.Exists(ctx, ocispec.Descriptor{Digest: o.Digest, Size: o.Size})
		if err != nil {
			return false, fmt.Errorf("checking blob %s that the delta omits: %w", o.Digest, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// WithoutDelta returns index without its delta manifests and without the
// entries whose subject is a delta manifest, which are the signatures of
// that manifest. It reads signature manifests from src to find their
// subject, and keeps an entry it cannot read.
func WithoutDelta(ctx context.Context, src content.Fetcher, index ocispec.Index) ocispec.Index {
	deltas := map[digest.Digest]bool{}
	for _, d := range index.Manifests {
		if IsDeltaEntry(d) {
			deltas[d.Digest] = true
		}
	}
	out := index
	out.Manifests = nil
	for _, d := range index.Manifests {
		if deltas[d.Digest] || (d.MediaType == ocispec.MediaTypeImageManifest && deltas[subjectOf(ctx, src, d)]) {
			continue
		}
		out.Manifests = append(out.Manifests, d)
	}
	return out
}

// subjectOf returns the subject digest of the image manifest d, or ""
// when src lacks it or it has none.
func subjectOf(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) digest.Digest {
	raw, err := fetchSmall(ctx, src, d)
	if err != nil {
		return ""
	}
	var m ocispec.Manifest
	if json.Unmarshal(raw, &m) != nil || m.Subject == nil {
		return ""
	}
	return m.Subject.Digest
}
