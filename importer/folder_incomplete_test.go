package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// A layout folder that lacks a layer, as one still being copied does, ends
// the import before any large blob is read. The import keeps the verified
// blobs it stored, so the next attempt reads only what is new.
func TestImportDirMissingLayerKeepsVerifiedBlobs(t *testing.T) {
	const layerSize = 8 << 20
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.imageKit(layerSize), dir)
	file := removeLargestBlob(t, dir)

	importDir := func() (int64, *Result, error) {
		var read int64
		opts := f.opts()
		opts.Progress = func(p Progress) { read = p.BytesRead }
		res, err := ImportDir(context.Background(), dir, opts)
		return read, res, err
	}

	firstRead, _, err := importDir()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want an incomplete transfer (io.ErrUnexpectedEOF)", err)
	}
	if errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("err = %v, rejects the kit as invalid", err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name the missing file %s", err, file)
	}
	if strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Errorf("error %q shows the EOF text of a truncated file", err)
	}
	if firstRead >= layerSize {
		t.Errorf("the import read %d bytes, a large blob included, before it found the file missing", firstRead)
	}
	if n := f.largeBlobCount(); n != 0 {
		t.Errorf("store holds %d large blobs after the import stopped", n)
	}
	kept := f.blobCount()
	if kept == 0 {
		t.Fatal("the import removed the verified blobs it stored")
	}

	secondRead, _, err := importDir()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("second attempt: err = %v, want an incomplete transfer", err)
	}
	if secondRead >= firstRead {
		t.Errorf("second attempt read %d bytes, the first %d; the kept blobs were read again", secondRead, firstRead)
	}
	if n := f.blobCount(); n != kept {
		t.Errorf("store holds %d blobs after the second attempt, %d after the first", n, kept)
	}
}

// A layout folder of a delta lacks the blobs that the delta leaves out.
// Those blobs are in the store, so the import succeeds.
func TestImportDirDeltaOmitsBlobs(t *testing.T) {
	f := newFixture(t)
	full := f.kit("1.0.0", 1)
	if _, err := ImportStream(context.Background(), bytes.NewReader(full), f.opts()); err != nil {
		t.Fatal(err)
	}
	next := f.kit("1.0.1", 2)
	fullPath := filepath.Join(f.dir, "full.tar")
	nextPath := filepath.Join(f.dir, "next.tar")
	deltaPath := filepath.Join(f.dir, "next.delta.tar")
	for path, raw := range map[string][]byte{fullPath: full, nextPath: next} {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, err := delta.OpenKit(context.Background(), fullPath)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	target, err := delta.OpenKit(context.Background(), nextPath)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, err := delta.WriteFile(context.Background(), deltaPath, base, target, delta.Options{Signer: f.signer}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(deltaPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, "delta-layout")
	writeLayoutFolder(t, raw, dir)

	res, err := ImportDir(context.Background(), dir, f.opts())
	if err != nil {
		t.Fatalf("importing the delta folder: %v", err)
	}
	if res.Version != "1.0.1" {
		t.Errorf("imported kit %s, want 1.0.1", res.Version)
	}
	if res.Kind != oci.KindDelta {
		t.Errorf("imported the kit as %s, want %s", res.Kind, oci.KindDelta)
	}
}

// A folder that `oras cp -r` wrote may list the DB manifest in index.json
// before the bundle index. A DB layer that such a folder lacks still ends
// the import as incomplete, not as an invalid kit.
func TestImportDirMissingLayerOfListedManifest(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)

	indexPath, index := readLayoutIndex(t, dir)
	var dbManifest ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		raw, err := os.ReadFile(blobPath(dir, d.Digest))
		if err != nil {
			t.Fatal(err)
		}
		var bundle ocispec.Index
		if err := json.Unmarshal(raw, &bundle); err != nil {
			t.Fatal(err)
		}
		dbManifest, _ = oci.Child(bundle, oci.RoleDB)
	}
	if dbManifest.Digest == "" {
		t.Fatal("the kit's bundle index has no DB entry")
	}
	index.Manifests = append([]ocispec.Descriptor{dbManifest}, index.Manifests...)
	rawIndex, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(indexPath, rawIndex, 0o644); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(blobPath(dir, dbManifest.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	layer := blobPath(dir, manifest.Layers[len(manifest.Layers)-1].Digest)
	if err := os.Remove(layer); err != nil {
		t.Fatal(err)
	}

	_, err = ImportDir(context.Background(), dir, f.opts())
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want an incomplete transfer (io.ErrUnexpectedEOF)", err)
	}
	if !strings.Contains(err.Error(), layer) {
		t.Errorf("error %q does not name the missing file %s", err, layer)
	}
	if strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Errorf("error %q shows the EOF text of a truncated file", err)
	}
}
