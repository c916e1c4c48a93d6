package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// indexTables is the plan for the pre-built lookup index tables of a kit:
// which tables the import stages instead of storing, and where it staged
// them. A kit built with --index-tables carries them. A delta, or a kit
// copied through a registry, does not, so its layers are indexed from their
// records.
type indexTables struct {
	mu sync.Mutex
	// manifest is the manifest that lists the tables. The import stores
	// it to read it, and drops it once the kit is active: no kit graph
	// reaches it and the store keeps no tables, so gc would remove it.
	manifest ocispec.Descriptor
	// layerOf maps each table to stage to the DB layer whose keys it
	// contains. These are the tables of layers the store has not indexed.
	layerOf map[digest.Digest]digest.Digest
	// skipped lists the tables the import does not read: those of layers
	// indexed already, and all tables of a manifest it cannot use.
	skipped map[digest.Digest]bool
	// expected counts the tables to stage for each layer, and staged lists
	// the paths of those staged so far.
	expected map[digest.Digest]int
	staged   map[digest.Digest][]string
}

// planTables reads the manifest of pre-built index tables that the verified
// bundle index names, if index.json lists it, and returns its descriptor
// for the signed graph. When the manifest has another artifact type or key
// layout, or a table names no DB layer, every table it lists is skipped, so
// the import indexes the layers from their records. A missing or undecodable
// manifest returns false.
func (s *session) planTables(ctx context.Context, index ocispec.Index, bm *bundleMeta) (ocispec.Descriptor, bool, error) {
	named := bm.index.Annotations[oci.AnnotationDBIndex]
	if named == "" {
		return ocispec.Descriptor{}, false, nil
	}
	var desc ocispec.Descriptor
	found := false
	for _, d := range index.Manifests {
		if d.Digest.String() == named && d.MediaType == ocispec.MediaTypeImageManifest {
			desc, found = d, true
			break
		}
	}
	if !found {
		return ocispec.Descriptor{}, false, nil
	}
	if ok, err := s.opts.Store.Exists(ctx, desc); err != nil || !ok {
		return ocispec.Descriptor{}, false, err
	}
	raw, err := s.readManifest(ctx, desc)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		s.warn(fmt.Sprintf("the pre-built index manifest %s is invalid JSON (%v); indexing the DB layers from their records", desc.Digest, err))
		return ocispec.Descriptor{}, false, nil
	}

	t := &indexTables{manifest: desc, layerOf: map[digest.Digest]digest.Digest{}, skipped: map[digest.Digest]bool{},
		expected: map[digest.Digest]int{}, staged: map[digest.Digest][]string{}}
	s.tables = t
	if m.ArtifactType != oci.ArtifactTypeDBIndex {
		s.warn(fmt.Sprintf("the pre-built index manifest %s has artifact type %q, which this stella does not read; indexing the DB layers from their records",
			desc.Digest, m.ArtifactType))
		t.skipAll(m)
		return desc, true, nil
	}
	if f := m.Annotations[oci.AnnotationIndexFormat]; f != vulndb.IndexFormat() {
		s.warn(fmt.Sprintf("the pre-built index tables have key layout %q and this stella reads layout %q, so it "+
			"indexes the DB layers from their records; build the kit with this release to use the tables", f, vulndb.IndexFormat()))
		t.skipAll(m)
		return desc, true, nil
	}
	if err := s.planLayers(t, m); err != nil {
		return ocispec.Descriptor{}, false, err
	}
	return desc, true, nil
}

// planLayers sorts the tables of m into those to stage and those to skip,
// by whether the store has indexed their layer.
func (s *session) planLayers(t *indexTables, m ocispec.Manifest) error {
	store := s.opts.Store.KV(VulnDBNamespace)
	indexed := map[digest.Digest]bool{}
	for _, l := range m.Layers {
		layer, err := digest.Parse(l.Annotations[oci.AnnotationIndexLayer])
		if l.MediaType != oci.MediaTypeDBIndexTable || err != nil {
			s.warn(fmt.Sprintf("pre-built index table %s names no DB layer; indexing the DB layers from their records", l.Digest))
			clear(t.layerOf)
			clear(t.expected)
			t.skipAll(m)
			return nil
		}
		done, ok := indexed[layer]
		if !ok {
			if done, err = vulndb.IsIndexed(store, layer); err != nil {
				return err
			}
			indexed[layer] = done
		}
		if done {
			t.skipped[l.Digest] = true
			continue
		}
		t.layerOf[l.Digest] = layer
		t.expected[layer]++
	}
	return nil
}

// skipAll marks every table of m as one the import does not read.
func (t *indexTables) skipAll(m ocispec.Manifest) {
	for _, l := range m.Layers {
		t.skipped[l.Digest] = true
	}
}

// isTable reports whether d is a pre-built index table of this kit.
func (s *session) isTable(d digest.Digest) bool {
	if s.tables == nil {
		return false
	}
	_, ok := s.tables.layerOf[d]
	return ok || s.tables.skipped[d]
}

// stageTable stages a pre-built table from r, or reads nothing when the
// plan skips the table. It reports whether it read r.
func (s *session) stageTable(ctx context.Context, desc ocispec.Descriptor, r io.Reader) (bool, error) {
	t := s.tables
	layer, ok := t.layerOf[desc.Digest]
	if !ok {
		s.result.TablesSkipped++
		return false, nil
	}
	counted := &countingReader{r: r, onRead: s.onRead(desc.Digest)}
	path, err := s.opts.Store.StageTable(ctx, desc, counted)
	if err != nil {
		return false, fmt.Errorf("staging index table %s: %w", desc.Digest, err)
	}
	t.mu.Lock()
	t.staged[layer] = append(t.staged[layer], path)
	t.mu.Unlock()
	return true, nil
}

// stagedTables returns the staged tables of layer when all of them are
// staged, and nil otherwise. When only some arrived, as from a kit that
// lacks a table or a tar whose tables came before the signature could be
// checked, it records a warning.
func (s *session) stagedTables(layer digest.Digest) []string {
	t := s.tables
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	paths := t.staged[layer]
	if want := t.expected[layer]; want > 0 && len(paths) != want {
		s.warn(fmt.Sprintf("the kit carries %d of the %d pre-built index tables of DB layer %s, so that layer "+
			"is indexed from its records; copy the kit file again, or import it as stella ouk build wrote it", len(paths), want, layer))
		return nil
	}
	if len(paths) == 0 {
		return nil
	}
	return paths
}

// discardTables removes every staged table. Pebble links or copies an
// ingested table into the store, so removing its staged path keeps its keys.
func (s *session) discardTables() {
	t := s.tables
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for layer, paths := range t.staged {
		for _, p := range paths {
			s.opts.Store.DiscardTable(p)
		}
		delete(t.staged, layer)
	}
}

// countTableLayer counts a layer indexed from its pre-built tables.
func (s *session) countTableLayer() {
	s.tables.mu.Lock()
	s.result.LayersFromTables++
	s.tables.mu.Unlock()
}

// hasTables reports whether the kit carries pre-built tables for layer.
func (s *session) hasTables(layer digest.Digest) bool {
	return s.tables != nil && s.tables.expected[layer] > 0
}

// dropTablesManifest removes the manifest of pre-built index tables that
// the import stored to read it. A failure is only logged: the manifest is
// garbage that gc removes anyway.
func (s *session) dropTablesManifest(ctx context.Context) {
	if s.tables == nil || s.tables.manifest.Digest == "" {
		return
	}
	m := s.tables.manifest
	if err := s.opts.Store.Delete(ctx, m); err != nil {
		if !errors.Is(err, errdef.ErrNotFound) {
			s.opts.Logger.Debug("removing the manifest of pre-built index tables", "digest", m.Digest, "error", err)
		}
		return
	}
	// The report counts the blobs the kit left in the store.
	if slices.ContainsFunc(s.added, func(d ocispec.Descriptor) bool { return d.Digest == m.Digest }) {
		s.result.BlobsStored--
		s.result.BytesStored -= m.Size
	}
}
