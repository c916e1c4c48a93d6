package build

import (
	"context"
	"fmt"
	"maps"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// previousDB returns the base kit's DB as the base of this build.
func (b *builder) previousDB(ctx context.Context) (*vulndb.PreviousDB, error) {
	prev, err := previousDB(ctx, b.base.Storage, b.base.BundleIndex)
	if err != nil {
		return nil, fmt.Errorf("base kit %s: %w", b.opts.Base, err)
	}
	return prev, nil
}

// baseImageChildren returns the image children of the base kit's bundle
// index.
func (b *builder) baseImageChildren() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range b.base.BundleIndex.Manifests {
		if d.Annotations[oci.AnnotationRole] == oci.RoleImage {
			out = append(out, d)
		}
	}
	return out
}

// baseImages returns the base kit's image children unchanged, so the new
// kit carries the same images and a delta from the base omits their
// layers. Every blob of each image must be in the base kit: a base that
// is itself a delta may lack them.
func (b *builder) baseImages(ctx context.Context) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	for _, d := range b.baseImageChildren() {
		ref := d.Annotations[oci.AnnotationImageRef]
		if err := b.checkBaseImage(ctx, d, ref); err != nil {
			return nil, err
		}
		child := d
		child.Annotations = maps.Clone(d.Annotations)
		out = append(out, child)
		b.opts.Logger.Info("image carried over from the base kit", "ref", ref, "digest", d.Digest)
	}
	return out, nil
}

// checkBaseImage fails when the base kit lacks a manifest or layer of the
// image d.
func (b *builder) checkBaseImage(ctx context.Context, d ocispec.Descriptor, ref string) error {
	g, err := delta.WalkGraph(ctx, b.base.Storage, d)
	if err != nil {
		return fmt.Errorf("carrying image %s over from base kit %s: %w; "+
			"give the full base kit or name the images to carry", ref, b.opts.Base, err)
	}
	for _, blobs := range []map[digest.Digest]ocispec.Descriptor{g.Meta, g.Data} {
		for _, blob := range blobs {
			ok, err := b.base.Storage.Exists(ctx, blob)
			if err != nil {
				return fmt.Errorf("carrying image %s over from base kit %s: %w", ref, b.opts.Base, err)
			}
			if !ok {
				return fmt.Errorf("carrying image %s over from base kit %s: the kit lacks blob %s, "+
					"as a delta does; give the full base kit or name the images to carry: %w",
					ref, b.opts.Base, blob.Digest, errdef.ErrNotFound)
			}
		}
	}
	return nil
}

// logDroppedBaseImages logs each image of the base kit that the new kit
// does not carry. An image replaced by one of the same repository, such as
// a newer tag, is logged at info level, and any other at warning level.
func (b *builder) logDroppedBaseImages() {
	given := map[string]bool{}
	repos := map[string]bool{}
	for _, img := range b.opts.Images {
		given[img.Ref] = true
		repos[repositoryOf(img.Ref)] = true
	}
	for _, d := range b.baseImageChildren() {
		ref := d.Annotations[oci.AnnotationImageRef]
		switch {
		case given[ref]:
		case b.opts.DropBaseImages:
			b.opts.Logger.Info("image of the base kit left out on request", "ref", ref)
		case repos[repositoryOf(ref)]:
			b.opts.Logger.Info("image of the base kit replaced by a given image of the same repository", "ref", ref)
		default:
			b.opts.Logger.Warn("image of the base kit is not in the new kit, because images were given "+
				"and it is not one of them; give it as an image too to keep it", "ref", ref)
		}
	}
}

// repositoryOf returns the registry and repository of an image reference,
// or the reference itself when it does not parse.
func repositoryOf(ref string) string {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return ref
	}
	return r.Registry + "/" + r.Repository
}
