package mirror

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// deltaBase names the base kit of a delta: the kit whose blobs the delta
// omits, so a registry must hold them before the delta can be pushed.
type deltaBase struct {
	target  string
	digest  digest.Digest
	version string
}

// findDeltaBase returns the base kit of a delta. It reads the delta
// manifest from src when src contains it. Otherwise it uses the annotations
// of the manifest's entry in index.json (which tools such as oras leave
// out), or the bundle metadata when that marks the kit as a delta. A src
// that carries every blob the delta omits holds a complete kit, which
// needs no base. src is nil for a tar stream. The version of the delta
// comes from meta, else from the bundle index in src, else from the tag in
// index.json.
func findDeltaBase(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, meta oci.Meta) (deltaBase, bool, error) {
	target := meta.Version
	if target == "" && src != nil {
		target = bundleVersion(ctx, src, index)
	}
	if target == "" {
		target = indexVersion(index)
	}
	base, version, ok, err := delta.FindBase(ctx, src, index)
	if err != nil {
		return deltaBase{}, false, err
	}
	if ok {
		return deltaBase{target: target, digest: base, version: version}, true, nil
	}
	if meta.Kind == oci.KindDelta && meta.BaseDigest != "" {
		return deltaBase{target: target, digest: digest.Digest(meta.BaseDigest), version: meta.BaseVersion}, true, nil
	}
	return deltaBase{}, false, nil
}

// bundleVersion returns the version in the bundle index that index lists,
// read from src, or "" when src lacks it.
func bundleVersion(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) string {
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		b, err := fetchManifest(ctx, src, d)
		if err != nil {
			continue
		}
		if _, meta, err := oci.ParseBundleIndex(b); err == nil {
			return meta.Version
		}
	}
	return ""
}

// indexVersion returns the tag that index.json gives the bundle index,
// which is the kit version in kits that stella writes. The tag of a
// referrers tag index is no version.
func indexVersion(index ocispec.Index) string {
	for _, d := range index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && d.Annotations[oci.AnnotationRefName] != "" &&
			!layout.IsReferrersTagEntry(d) {
			return d.Annotations[oci.AnnotationRefName]
		}
	}
	return "(unknown version)"
}

// checkDeltaBase rejects a delta before any blob is sent when the
// repository lacks its base bundle index. Every other kit passes, and so
// does a delta whose source src holds the base bundle index, such as a
// store that the delta was imported into. src is nil for a tar stream. A
// repository that holds the base bundle index but not all of its blobs is
// caught later, when the copy misses a blob (see publish).
func (p *pusher) checkDeltaBase(ctx context.Context, index ocispec.Index, src content.ReadOnlyStorage) error {
	base, ok, err := findDeltaBase(ctx, src, index, oci.Meta{})
	if err != nil || !ok {
		return err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: base.digest}
	if src != nil {
		if found, err := src.Exists(ctx, desc); err == nil && found {
			return nil
		}
	}
	var exists bool
	err = withRetry(ctx, p.log, "check base kit "+base.digest.String(), func(int) error {
		var err error
		exists, err = p.repo.Exists(ctx, desc)
		return err
	})
	if err != nil {
		return fmt.Errorf("checking base kit %s of delta %s in %s: %w", base.digest, base.target, p.repo.Reference, err)
	}
	if !exists {
		return p.baseMissing(base.target, base, nil)
	}
	return nil
}

// baseMissing returns the error for a delta pushed to a repository that
// lacks blobs of its base kit. cause, when not nil, is the failed copy.
func (p *pusher) baseMissing(version string, base deltaBase, cause error) error {
	repo := p.repo.Reference.Registry + "/" + p.repo.Reference.Repository
	detail := ""
	if cause != nil {
		detail = fmt.Sprintf(" (%v)", cause)
	}
	return fmt.Errorf("kit %s is a delta of kit %s (%s), and %s lacks blobs of that base kit, which the delta omits%s; "+
		"push the base kit %s to %s first, or push the full kit %s instead of its delta: %w",
		version, base.version, base.digest, repo, detail, base.version, repo, version, errdef.ErrBaseMissing)
}
