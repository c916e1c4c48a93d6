package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// checkDeltaEarly rejects a delta whose base is not complete in the store,
// before any blob is stored. It takes the base from the delta manifest
// when src holds it, as a layout folder or registry does, and otherwise
// from the annotations of the manifest's entry in index.json. That entry
// is not signed and may lack the annotations, as in a folder that oras
// wrote, so it only ever causes a rejection. A tar stream without the
// annotations gets the check from checkOmittedEarly once the manifest has
// arrived, and readStream holds that rejection until the end of the
// stream, which may carry the omitted blobs. finish checks the signed
// manifest in any case. src is nil for a tar stream.
func (s *session) checkDeltaEarly(ctx context.Context, index ocispec.Index, src content.ReadOnlyStorage) error {
	if s.targetActive(ctx, index) {
		// A delta of the active kit needs no base: finish reports the
		// kit as already active.
		return nil
	}
	for _, d := range index.Manifests {
		if !delta.IsDeltaEntry(d) {
			continue
		}
		base, baseVersion, ok := delta.BaseHint(d)
		if src != nil {
			b, v, err := delta.ReadBase(ctx, src, d)
			switch {
			case err == nil:
				base, baseVersion, ok = b, v, true
			case !errors.Is(err, errdef.ErrNotFound) && !isNotFound(err):
				return err
			}
		}
		if !ok {
			if _, named := d.Annotations[oci.AnnotationBaseDigest]; named {
				return fmt.Errorf("delta manifest %s in index.json names no valid base digest: %w", d.Digest, errdef.ErrInvalidKit)
			}
			continue
		}
		s.baseChecked = true
		if err := s.checkBaseComplete(ctx, s.kitVersion(ctx, src, index), base, baseVersion); err != nil {
			return err
		}
	}
	return nil
}

// targetActive reports whether the kit that index lists is the active kit.
func (s *session) targetActive(ctx context.Context, index ocispec.Index) bool {
	active, err := s.opts.Store.Active(ctx)
	return err == nil && listsBundle(index, active.Digest)
}

// kitVersion returns the version of the kit that index lists, for
// messages: from its bundle index when src, or the store when src is nil,
// holds it, else the tag that index.json gives the bundle index. A tool
// such as oras tags it with the registry tag, which need not be the
// version.
func (s *session) kitVersion(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) string {
	if src == nil {
		src = s.opts.Store
	}
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || d.Size < 0 || d.Size > MaxManifestSize {
			continue
		}
		b, err := content.FetchAll(ctx, src, d)
		if err != nil {
			continue
		}
		if _, meta, err := oci.ParseBundleIndex(b); err == nil {
			return meta.Version
		}
	}
	return targetVersion(index)
}

// listsBundle reports whether index.json lists bundle as an image index,
// as it lists a kit's bundle index.
func listsBundle(index ocispec.Index, bundle digest.Digest) bool {
	for _, d := range index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && d.Digest == bundle {
			return true
		}
	}
	return false
}

// targetVersion returns the kit version that index.json tags the bundle
// index with, for messages. The tag of a referrers tag index is no version.
func targetVersion(index ocispec.Index) string {
	for _, d := range index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && d.Annotations[oci.AnnotationRefName] != "" &&
			!layout.IsReferrersTagEntry(d) {
			return d.Annotations[oci.AnnotationRefName]
		}
	}
	return "(unknown version)"
}

// checkBaseComplete checks that the base bundle index and every blob it
// reaches are in the store.
func (s *session) checkBaseComplete(ctx context.Context, version string, base digest.Digest, baseVersion string) error {
	missing := func(what string) error {
		return fmt.Errorf("kit %s is a delta of kit %s (%s), and the store lacks %s; import kit %s or its delta first: %w",
			version, baseVersion, base, what, baseVersion, errdef.ErrBaseMissing)
	}
	info, err := s.opts.Store.Stat(ctx, base)
	if errors.Is(err, errdef.ErrNotFound) {
		if active, aerr := s.opts.Store.Active(ctx); aerr == nil && active.Version == baseVersion {
			return fullKitAdvisedError{fmt.Errorf("kit %s is a delta of kit %s (%s), but the active kit %s has digest %s: the two "+
				"were built differently (for example with or without --index-tables), so the delta does not apply. "+
				"Import the full kit %s that the delta was built against (%s), which stores only the blobs the "+
				"store lacks, or the full kit %s; or build the delta from the kit this site holds, with "+
				"`stella ouk delta --from` that kit: %w",
				version, baseVersion, base, active.Version, active.Digest, baseVersion, base, version, errdef.ErrBaseMissing)}
		}
		return missing("its bundle index")
	}
	if err != nil {
		return fmt.Errorf("checking delta base %s: %w", base, err)
	}
	root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: base, Size: info.Size}
	g, err := delta.WalkGraph(ctx, s.opts.Store, root)
	if errors.Is(err, errdef.ErrNotFound) {
		return missing("part of it (" + err.Error() + ")")
	}
	if err != nil {
		return fmt.Errorf("walking delta base %s: %w", base, err)
	}
	for dg := range g.Data {
		if _, err := s.opts.Store.Stat(ctx, dg); errors.Is(err, errdef.ErrNotFound) {
			return missing("its blob " + dg.String())
		} else if err != nil {
			return fmt.Errorf("checking blob %s of delta base %s: %w", dg, base, err)
		}
	}
	return nil
}

// checkOmittedEarly checks, once the delta manifest and its config are
// readable from src, that every blob the delta omits is in the store. It
// returns done=false while they are not both available yet.
func (s *session) checkOmittedEarly(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (bool, error) {
	for _, d := range index.Manifests {
		if !delta.IsDeltaEntry(d) {
			continue
		}
		if d.Size > MaxManifestSize {
			return true, fmt.Errorf("delta manifest %s declares %d bytes, over the %d byte limit: %w",
				d.Digest, d.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
		}
		if ok, err := src.Exists(ctx, d); err != nil || !ok {
			return false, nil
		}
		raw, err := content.FetchAll(ctx, src, d)
		if err != nil {
			return true, fmt.Errorf("reading delta manifest %s: %w", d.Digest, err)
		}
		m, err := delta.ParseManifest(raw)
		if err != nil {
			return true, err
		}
		if err := delta.CheckEntry(d, m); err != nil {
			return true, err
		}
		if !s.baseChecked && !s.targetActive(ctx, index) {
			// index.json named no base, so this is the first chance to
			// reject a delta whose base the store lacks.
			s.baseChecked = true
			base, baseVersion := delta.ManifestBase(m)
			if err := s.checkBaseComplete(ctx, s.kitVersion(ctx, src, index), base, baseVersion); err != nil {
				return true, err
			}
		}
		if ok, err := src.Exists(ctx, m.Config); err != nil || !ok {
			return false, nil
		}
		craw, err := content.FetchAll(ctx, src, m.Config)
		if err != nil {
			return true, fmt.Errorf("reading delta config %s: %w", m.Config.Digest, err)
		}
		cfg, err := delta.ParseConfig(craw)
		if err != nil {
			return true, err
		}
		return true, s.checkOmitted(ctx, cfg)
	}
	return true, nil
}

// checkOmitted checks that the store holds every blob a delta omits, with
// the size the delta declares.
func (s *session) checkOmitted(ctx context.Context, cfg delta.Config) error {
	for _, o := range cfg.Omitted {
		info, err := s.opts.Store.Stat(ctx, o.Digest)
		if errors.Is(err, errdef.ErrNotFound) {
			return fmt.Errorf("delta %s omits blob %s, which the store lacks; import kit %s (%s) or its delta first: %w",
				cfg.Target.Version, o.Digest, cfg.Base.Version, cfg.Base.Digest, errdef.ErrBaseMissing)
		}
		if err != nil {
			return fmt.Errorf("checking blob %s: %w", o.Digest, err)
		}
		if info.Size != o.Size {
			return fmt.Errorf("stored blob %s has %d bytes, but the delta declares %d: %w",
				o.Digest, info.Size, o.Size, errdef.ErrSizeMismatch)
		}
	}
	return nil
}

// findDelta returns the delta manifest of the kit, verified against the
// trusted keys, or nil when the kit is not a delta.
func (s *session) findDelta(ctx context.Context, index ocispec.Index, bm *bundleMeta) (*delta.Info, error) {
	info, err := delta.FindInfo(ctx, s.opts.Store, index, bm.desc.Digest)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if info.Config.Target.Digest != bm.desc.Digest {
		return nil, fmt.Errorf("delta config names target %s, but the bundle index is %s: %w",
			info.Config.Target.Digest, bm.desc.Digest, errdef.ErrInvalidKit)
	}
	if err := s.checkDeltaSignature(ctx, index, bm, info); err != nil {
		return nil, err
	}
	return info, nil
}

// checkDeltaSignature accepts the delta manifest when one signature
// referrer in index.json verifies it with a trusted key.
func (s *session) checkDeltaSignature(ctx context.Context, index ocispec.Index, bm *bundleMeta, info *delta.Info) error {
	if _, err := delta.VerifySignature(ctx, s.readManifest, index, bm.desc.Digest, info, s.opts.Keys); err == nil {
		return nil
	}
	if s.opts.InsecureSkipSignature {
		s.warn("importing delta " + bm.meta.Version + " whose delta manifest has no valid signature (--insecure-skip-signature)")
		return nil
	}
	return fmt.Errorf("delta %s: no signature of its delta manifest %s verifies with a trusted key; sign deltas with the kit key, or pass --insecure-skip-signature to override: %w",
		bm.meta.Version, info.Manifest.Digest, errdef.ErrSignature)
}
