package importer

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/delta"
)

// withoutCarriedDelta returns index without its delta manifests and their
// signatures when the kit source carries every blob that each delta
// manifest declares omitted. Such a source holds the complete kit, as a
// folder that `oras cp -r` copied out of a registry does, so the kit
// imports as a full kit and needs no base. Otherwise index is returned
// unchanged, and the import treats the kit as a delta. src serves the
// manifests, and carries reports whether the source holds the blobs that
// a delta config omits. A delta manifest or config that src lacks leaves
// index unchanged, and the later checks report it.
func (s *session) withoutCarriedDelta(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index,
	carries func(delta.Config) (bool, error)) (ocispec.Index, error) {
	var infos []*delta.Info
	for _, d := range index.Manifests {
		if !delta.IsDeltaEntry(d) {
			continue
		}
		info, err := delta.ReadInfo(ctx, src, d)
		if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
			return index, nil
		}
		if err != nil {
			return index, err
		}
		// A delta manifest of another kit is left for finish to reject.
		if !listsBundle(index, info.Target) {
			return index, nil
		}
		carried, err := carries(info.Config)
		if err != nil || !carried {
			return index, err
		}
		infos = append(infos, info)
	}
	if len(infos) == 0 {
		return index, nil
	}
	for _, info := range infos {
		s.opts.Logger.Info("the kit source carries every blob that its delta manifest omits, so the kit is "+
			"imported as a full kit, without its base", "deltaManifest", info.Manifest.Digest,
			"baseVersion", info.Config.Base.Version, "baseDigest", info.Config.Base.Digest)
	}
	return delta.WithoutDelta(ctx, src, index), nil
}

// streamCarries reports whether the tar stream had an entry for every
// blob that cfg omits.
func (s *session) streamCarries(cfg delta.Config) (bool, error) {
	for _, o := range cfg.Omitted {
		if !s.streamed[o.Digest] {
			return false, nil
		}
	}
	return true, nil
}
