package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// IndexNamespace is the store namespace of the lookup index, which the
// pre-built tables are written for. The importer uses the same name.
const IndexNamespace = "vulndb"

// addIndexTables writes the pre-built lookup index tables of every layer
// of the DB manifest db and stores a manifest that lists them. An import
// ingests these tables instead of reading the records of each layer.
func (b *builder) addIndexTables(ctx context.Context, db ocispec.Descriptor) (ocispec.Descriptor, error) {
	raw, err := content.FetchAll(ctx, b.src, db)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading DB manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decoding DB manifest: %w", err)
	}
	var layers []ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == oci.MediaTypeDBLayer {
			layers = append(layers, l)
		}
	}
	tables := make([][]ocispec.Descriptor, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range layers {
		g.Go(func() error {
			var err error
			tables[i], err = b.layerTables(gctx, l)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return ocispec.Descriptor{}, err
	}

	list := ocispec.Manifest{
		Versioned:    specsVersioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.ArtifactTypeDBIndex,
		Config:       ocispec.DescriptorEmptyJSON,
		Annotations:  map[string]string{oci.AnnotationIndexFormat: vulndb.IndexFormat()},
	}
	var total int64
	for _, ts := range tables {
		list.Layers = append(list.Layers, ts...)
		for _, t := range ts {
			total += t.Size
		}
	}
	if _, err := b.pushBytes(ctx, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, _, err := b.pushJSON(ctx, ocispec.MediaTypeImageManifest, list)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.ArtifactType = oci.ArtifactTypeDBIndex
	b.tables = &TablesInfo{Tables: len(list.Layers), Bytes: total}
	b.opts.Logger.Info("pre-built lookup index tables", "layers", len(layers), "tables", len(list.Layers), "bytes", total)
	return desc, nil
}

// layerTables writes the index tables of one DB layer into the staging
// store and returns their descriptors.
func (b *builder) layerTables(ctx context.Context, layer ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	rc, err := b.src.Fetch(ctx, layer)
	if err != nil {
		return nil, fmt.Errorf("reading DB layer %s: %w", layer.Digest, err)
	}
	defer rc.Close()
	var out []ocispec.Descriptor
	err = vulndb.LayerTables(ctx, layer, rc, func(fill func(add func(key, value []byte) error) error) error {
		var buf bytes.Buffer
		keys := 0
		err := cas.WriteTable(&buf, IndexNamespace, func(add func(key, value []byte) error) error {
			return fill(func(key, value []byte) error {
				keys++
				return add(key, value)
			})
		})
		if err != nil || keys == 0 {
			return err
		}
		d, err := b.pushBytes(ctx, oci.MediaTypeDBIndexTable, buf.Bytes())
		if err != nil {
			return err
		}
		d.Annotations = map[string]string{oci.AnnotationIndexLayer: layer.Digest.String()}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing index tables of DB layer %s: %w", layer.Digest, err)
	}
	return out, nil
}
