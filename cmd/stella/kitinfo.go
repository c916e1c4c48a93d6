package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// kitInfo describes a kit held in the store.
type kitInfo struct {
	Digest   string    `json:"digest"`
	Version  string    `json:"version"`
	Sequence int64     `json:"sequence"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	Records  int       `json:"dbRecords"`
	DBLayers int       `json:"dbLayers"`
	// DBError is the reason the kit's vulnerability DB cannot be opened,
	// which makes lookups and scans on the kit fail. It is empty when the
	// DB opens.
	DBError string      `json:"dbError,omitempty"`
	Images  []imageInfo `json:"images"`
	// Expired and Note describe the activation: Note records overrides
	// such as a skipped signature check.
	Expired bool   `json:"expired"`
	Note    string `json:"note,omitempty"`
	// SignedBy is the file of the trusted key that verified the kit at its
	// activation, as the history records it. It is empty when the check was
	// skipped or the history record is older than the field.
	SignedBy string `json:"signedBy,omitempty"`
}

type imageInfo struct {
	Ref       string   `json:"ref"`
	Digest    string   `json:"digest"`
	Platforms []string `json:"platforms"`
}

// readStoredBundle reads and decodes the bundle index d from store.
func readStoredBundle(ctx context.Context, store *cas.Store, d digest.Digest) (ocispec.Index, oci.Meta, error) {
	desc, err := stat(ctx, store, d, ocispec.MediaTypeImageIndex)
	if err != nil {
		return ocispec.Index{}, oci.Meta{}, err
	}
	raw, err := fetchSmall(ctx, store, desc)
	if err != nil {
		return ocispec.Index{}, oci.Meta{}, fmt.Errorf("reading bundle index %s: %w", d, err)
	}
	return oci.ParseBundleIndex(raw)
}

// describeKit reads the bundle index d and its children from the store.
func describeKit(ctx context.Context, store *cas.Store, d digest.Digest) (*kitInfo, error) {
	idx, meta, err := readStoredBundle(ctx, store, d)
	if err != nil {
		return nil, err
	}
	info := &kitInfo{
		Digest:   d.String(),
		Version:  meta.Version,
		Sequence: meta.Sequence,
		Kind:     meta.Kind,
		Created:  meta.Created,
		Expires:  meta.Expires,
		Images:   []imageInfo{},
	}
	if db, err := openDB(ctx, store, idx); err == nil {
		info.Records = db.Records()
		info.DBLayers = len(db.Status().Layers)
	} else if !errors.Is(err, errNoDB) {
		info.DBError = err.Error()
	}
	for _, c := range idx.Manifests {
		if c.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		img := imageInfo{Ref: c.Annotations[oci.AnnotationImageRef], Digest: c.Digest.String(),
			Platforms: platforms(ctx, store, c)}
		info.Images = append(info.Images, img)
	}
	return info, nil
}

// errNoDB is openDB's error for a kit without a vulnerability DB.
var errNoDB = errors.New("the kit carries no vulnerability DB")

// openDB opens the vulnerability DB of a bundle index from the store's
// lookup index.
func openDB(ctx context.Context, store *cas.Store, bundle ocispec.Index) (*vulndb.DB, error) {
	dbDesc, ok := oci.Child(bundle, oci.RoleDB)
	if !ok {
		return nil, errNoDB
	}
	raw, err := fetchSmall(ctx, store, dbDesc)
	if err != nil {
		return nil, fmt.Errorf("reading DB manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding DB manifest %s: %w", dbDesc.Digest, err)
	}
	config, err := fetchSmall(ctx, store, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reading DB config: %w", err)
	}
	return vulndb.Open(store.KV(importer.VulnDBNamespace), config, m.Layers)
}

// platforms lists the platforms of an image index or Docker manifest list,
// or the one platform of a single manifest as its descriptor gives it.
func platforms(ctx context.Context, store *cas.Store, d ocispec.Descriptor) []string {
	if !oci.IsIndex(d.MediaType) {
		if d.Platform != nil {
			return []string{oci.PlatformString(*d.Platform)}
		}
		return []string{}
	}
	raw, err := fetchSmall(ctx, store, d)
	if err != nil {
		return []string{}
	}
	var idx ocispec.Index
	if json.Unmarshal(raw, &idx) != nil {
		return []string{}
	}
	out := []string{}
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			out = append(out, oci.PlatformString(*m.Platform))
		}
	}
	return out
}

// stat builds a descriptor for a stored blob.
func stat(ctx context.Context, store *cas.Store, d digest.Digest, mediaType string) (ocispec.Descriptor, error) {
	info, err := store.Stat(ctx, d)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("kit %s: %w", d, err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: info.Size}, nil
}

func fetchSmall(ctx context.Context, store *cas.Store, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > importer.MaxManifestSize {
		return nil, fmt.Errorf("%s declares %d bytes, over the %d byte limit", d.Digest, d.Size, importer.MaxManifestSize)
	}
	return content.FetchAll(ctx, store, d)
}

// kitGraph walks the graph of the kit with bundle digest bundle in the store.
func kitGraph(ctx context.Context, store *cas.Store, bundle digest.Digest) (*delta.Graph, error) {
	root, err := stat(ctx, store, bundle, ocispec.MediaTypeImageIndex)
	if err != nil {
		return nil, err
	}
	g, err := delta.WalkGraph(ctx, store, root)
	if err != nil {
		return nil, fmt.Errorf("kit %s is incomplete in the store; import the kit again: %w", bundle, err)
	}
	return g, nil
}

// checkComplete walks the kit's graph and fails when a blob is missing, so
// that a rollback never activates a kit that gc has partly removed.
func checkComplete(ctx context.Context, store *cas.Store, bundle digest.Digest) error {
	g, err := kitGraph(ctx, store, bundle)
	if err != nil {
		return err
	}
	return checkBlobs(ctx, store, bundle, g)
}

// checkBlobs fails when the store lacks a blob of the kit's graph g.
func checkBlobs(ctx context.Context, store *cas.Store, bundle digest.Digest, g *delta.Graph) error {
	for _, blobs := range []map[digest.Digest]ocispec.Descriptor{g.Meta, g.Data} {
		for d := range blobs {
			if _, err := store.Stat(ctx, d); err != nil {
				return fmt.Errorf("kit %s lacks blob %s (removed by gc?); import the kit again: %w", bundle, d, err)
			}
		}
	}
	return nil
}

// checkActivatable fails when a kit cannot serve lookups once active: a
// blob of it is missing, or a DB layer has no complete lookup index in the
// current layout. A gc that was cut short or a store of an earlier release
// leaves a layer without its index, and importing the kit's file again
// indexes it.
func checkActivatable(ctx context.Context, store *cas.Store, bundle digest.Digest) error {
	g, err := kitGraph(ctx, store, bundle)
	if err != nil {
		return err
	}
	if err := checkBlobs(ctx, store, bundle, g); err != nil {
		return err
	}
	index := store.KV(importer.VulnDBNamespace)
	for d, desc := range g.Data {
		if desc.MediaType != oci.MediaTypeDBLayer {
			continue
		}
		ok, err := vulndb.IsIndexed(index, d)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("kit %s lacks the lookup index of its DB layer %s, as a gc that was cut short or an "+
				"earlier release leaves it; import the kit's file again to index it, with --allow-downgrade when it is older "+
				"than the active kit: %w", bundle, d, errdef.ErrNotFound)
		}
	}
	return nil
}
