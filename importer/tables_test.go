package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// unreadable fails every read, so a test detects a read of a skipped table.
type unreadable struct{}

func (unreadable) Read([]byte) (int, error) { return 0, errors.New("a skipped table was read") }

// session returns a session on the fixture's store, with the defaults an
// import fills in.
func (f *fixture) session() *session {
	f.t.Helper()
	opts := f.opts()
	if err := opts.validate(); err != nil {
		f.t.Fatal(err)
	}
	return newSession(opts)
}

// tablesManifest stores a manifest of one pre-built table for a DB layer no
// store has indexed, changed by edit, and returns the plan's inputs.
func (f *fixture) tablesManifest(edit func(*ocispec.Manifest)) (ocispec.Index, *bundleMeta, ocispec.Descriptor, digest.Digest) {
	f.t.Helper()
	layer := digest.FromString("a DB layer")
	table := ocispec.Descriptor{
		MediaType:   oci.MediaTypeDBIndexTable,
		Digest:      digest.FromString("a table"),
		Size:        MaxManifestSize + 1,
		Annotations: map[string]string{oci.AnnotationIndexLayer: layer.String()},
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.ArtifactTypeDBIndex,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{table},
		Annotations:  map[string]string{oci.AnnotationIndexFormat: vulndb.IndexFormat()},
	}
	m.SchemaVersion = 2
	edit(&m)
	raw, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := f.store.Push(context.Background(), desc, bytes.NewReader(raw)); err != nil {
		f.t.Fatal(err)
	}
	bm := &bundleMeta{index: ocispec.Index{Annotations: map[string]string{oci.AnnotationDBIndex: desc.Digest.String()}}}
	return ocispec.Index{Manifests: []ocispec.Descriptor{desc}}, bm, m.Layers[0], layer
}

func TestPlanTablesUsableManifest(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	index, bm, table, layer := f.tablesManifest(func(*ocispec.Manifest) {})
	desc, ok, err := s.planTables(context.Background(), index, bm)
	if err != nil || !ok {
		t.Fatalf("planTables = %v, %v; want the manifest in the signed graph", ok, err)
	}
	if desc.Digest != index.Manifests[0].Digest {
		t.Errorf("planTables returned %s, want %s", desc.Digest, index.Manifests[0].Digest)
	}
	if !s.isTable(table.Digest) {
		t.Error("isTable of the manifest's table = false")
	}
	if !s.hasTables(layer) {
		t.Error("hasTables of the table's layer = false")
	}
}

func TestPlanTablesSkipsUnusableManifest(t *testing.T) {
	for name, edit := range map[string]func(*ocispec.Manifest){
		"another key layout":    func(m *ocispec.Manifest) { m.Annotations[oci.AnnotationIndexFormat] = "layout-of-the-future" },
		"another artifact type": func(m *ocispec.Manifest) { m.ArtifactType = "application/vnd.example.index.v2+json" },
		"a table without layer": func(m *ocispec.Manifest) { m.Layers[0].Annotations = nil },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s := f.session()
			index, bm, table, layer := f.tablesManifest(edit)
			desc, ok, err := s.planTables(context.Background(), index, bm)
			// The tables stay in the signed graph, so a stream that carries
			// them is not rejected as carrying unsigned blobs.
			if err != nil || !ok {
				t.Fatalf("planTables = %v, %v; want the manifest in the signed graph", ok, err)
			}
			if desc.Digest != index.Manifests[0].Digest {
				t.Errorf("planTables returned %s, want %s", desc.Digest, index.Manifests[0].Digest)
			}
			if !s.isTable(table.Digest) {
				t.Error("isTable of the unusable table = false, so the import would store it as a blob")
			}
			if s.hasTables(layer) {
				t.Error("hasTables of the layer = true, want the layer indexed from its records")
			}
			read, err := s.store(context.Background(), table, unreadable{})
			if err != nil || read {
				t.Errorf("store of a skipped table = %v, %v; want it left unread", read, err)
			}
			if n := f.blobCount(); n != 1 {
				t.Errorf("store holds %d blobs, want only the tables manifest", n)
			}
		})
	}
}
