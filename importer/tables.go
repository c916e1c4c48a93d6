package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// indexTables holds the pre-built lookup index tables of a kit: which
// tables the import stages instead of storing, and where it staged them.
// A kit built with --index-tables carries them; a delta, or a kit copied
// through a registry, does not, and its layers are indexed from their
// records as before.
type indexTables struct {
	mu sync.Mutex
	// wanted maps each table of a layer the store has not indexed to that
	// layer; ignored lists the tables of layers indexed already.
	wanted  map[digest.Digest]digest.Digest
	ignored map[digest.Digest]bool
	// expected counts the tables of each wanted layer, staged the paths
	// staged so far.
	expected map[digest.Digest]int
	staged   map[digest.Digest][]string
}

// planTables reads the manifest of pre-built index tables that the
// verified bundle index names, if index.json lists it, and returns its
// descriptor for the signed graph. Tables of another index layout, or a
// manifest that is not there, leave the import to index the layers itself.
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
	if err := json.Unmarshal(raw, &m); err != nil || m.ArtifactType != oci.ArtifactTypeDBIndex {
		s.warn(fmt.Sprintf("the pre-built index manifest %s is not one this stella reads; indexing the DB layers from their records", desc.Digest))
		return ocispec.Descriptor{}, false, nil
	}
	if f := m.Annotations[oci.AnnotationIndexFormat]; f != vulndb.IndexFormat() {
		s.opts.Logger.Info("pre-built index tables have another layout; indexing the DB layers from their records",
			"tableLayout", f, "layout", vulndb.IndexFormat())
		return ocispec.Descriptor{}, false, nil
	}
	t := &indexTables{wanted: map[digest.Digest]digest.Digest{}, ignored: map[digest.Digest]bool{},
		expected: map[digest.Digest]int{}, staged: map[digest.Digest][]string{}}
	store := s.opts.Store.KV(VulnDBNamespace)
	indexed := map[digest.Digest]bool{}
	for _, l := range m.Layers {
		layer, err := digest.Parse(l.Annotations[oci.AnnotationIndexLayer])
		if l.MediaType != oci.MediaTypeDBIndexTable || err != nil {
			s.warn(fmt.Sprintf("pre-built index table %s names no DB layer; indexing the DB layers from their records", l.Digest))
			return ocispec.Descriptor{}, false, nil
		}
		done, ok := indexed[layer]
		if !ok {
			if done, err = vulndb.IsIndexed(store, layer); err != nil {
				return ocispec.Descriptor{}, false, err
			}
			indexed[layer] = done
		}
		if done {
			t.ignored[l.Digest] = true
			continue
		}
		t.wanted[l.Digest] = layer
		t.expected[layer]++
	}
	s.tables = t
	return desc, true, nil
}

// isTable reports whether d is a pre-built index table of this kit.
func (s *session) isTable(d digest.Digest) bool {
	if s.tables == nil {
		return false
	}
	_, ok := s.tables.wanted[d]
	return ok || s.tables.ignored[d]
}

// stageTable stages a pre-built table from r, or reads nothing when the
// table's layer is indexed already. It reports whether it read r.
func (s *session) stageTable(ctx context.Context, desc ocispec.Descriptor, r io.Reader) (bool, error) {
	t := s.tables
	layer, wanted := t.wanted[desc.Digest]
	if !wanted {
		s.result.BlobsSkipped++
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
// staged, and nil otherwise.
func (s *session) stagedTables(layer digest.Digest) []string {
	t := s.tables
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	paths := t.staged[layer]
	if len(paths) == 0 || len(paths) != t.expected[layer] {
		return nil
	}
	return paths
}

// discardTables removes every staged table; the ingested ones live on in
// the store.
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
