package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// TestImportDBEntryNotManifestJSON imports a layout folder whose bundle
// index lists its DB entry as a plain blob. The import must reject the kit
// with a failure object, not crash, and leave no blob behind.
func TestImportDBEntryNotManifestJSON(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)

	index := readLayoutIndex(t, dir)
	var dbDigest digest.Digest
	for i, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		var bundle ocispec.Index
		if err := json.Unmarshal(raw, &bundle); err != nil {
			t.Fatal(err)
		}
		for j, c := range bundle.Manifests {
			if c.Annotations[oci.AnnotationRole] == oci.RoleDB {
				bundle.Manifests[j].MediaType = "application/octet-stream"
				dbDigest = c.Digest
			}
		}
		raw, err = json.Marshal(bundle)
		if err != nil {
			t.Fatal(err)
		}
		changed := digest.FromBytes(raw)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", changed.Encoded()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		index.Manifests[i].Digest, index.Manifests[i].Size = changed, int64(len(raw))
	}
	if dbDigest == "" {
		t.Fatal("the kit's bundle index has no DB entry")
	}
	rawIndex, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), rawIndex, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "import", "--insecure-skip-signature", "-o", "json", dir)
	if r.code != exitRejected {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRejected, r.stdout, r.stderr)
	}
	var got importFailure
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not the import failure object (%v): %q", err, r.stdout)
	}
	if got.Reason != "invalid-kit" {
		t.Errorf("reason %q, want invalid-kit", got.Reason)
	}
	if !strings.Contains(got.Error, dbDigest.String()) {
		t.Errorf("error %q does not name the DB entry %s", got.Error, dbDigest)
	}
	if _, err := os.Stat(filepath.Join(e.store, "db")); !errors.Is(err, os.ErrNotExist) {
		if blobs := e.storeBlobs(); len(blobs) != 0 {
			t.Errorf("store holds %d blobs of the rejected kit", len(blobs))
		}
	}
}
