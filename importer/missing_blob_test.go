package importer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/sign"
)

// signatureManifest returns the index.json entry of the signature manifest
// in the layout folder dir.
func signatureManifest(t *testing.T, dir string) ocispec.Descriptor {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	for _, d := range index.Manifests {
		if d.ArtifactType == oci.MediaTypeSigstoreBundle {
			return d
		}
	}
	t.Fatal("index.json lists no signature manifest")
	return ocispec.Descriptor{}
}

// A layout folder without a blob that the signature check needs fails with
// an error that names the blob's file and advises copying the folder again.
func TestImportDirMissingSignatureBlobMessage(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string) (ocispec.Descriptor, string){
		"bundle index": func(t *testing.T, dir string) (ocispec.Descriptor, string) {
			raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			var index ocispec.Index
			if err := json.Unmarshal(raw, &index); err != nil {
				t.Fatal(err)
			}
			for _, d := range index.Manifests {
				if d.ArtifactType == oci.ArtifactTypeBundle {
					return d, "the bundle index"
				}
			}
			t.Fatal("index.json lists no bundle index")
			return ocispec.Descriptor{}, ""
		},
		"signature manifest": func(t *testing.T, dir string) (ocispec.Descriptor, string) {
			return signatureManifest(t, dir), "the signature manifest"
		},
		"signature bundle": func(t *testing.T, dir string) (ocispec.Descriptor, string) {
			m := signatureManifest(t, dir)
			raw, err := os.ReadFile(blobPath(dir, m.Digest))
			if err != nil {
				t.Fatal(err)
			}
			bundle, _, err := sign.ParseReferrerManifest(raw)
			if err != nil {
				t.Fatal(err)
			}
			return bundle, "the signature bundle of signature manifest " + m.Digest.String()
		},
	}
	for name, pick := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			dir := filepath.Join(f.dir, "layout")
			writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
			missing, description := pick(t, dir)
			file := blobPath(dir, missing.Digest)
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}

			_, err := ImportDir(context.Background(), dir, f.opts())
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("err = %v, want ErrInvalidKit", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, file) {
				t.Errorf("error %q does not name the missing file %s", msg, file)
			}
			if !strings.Contains(msg, description) {
				t.Errorf("error %q does not say that %s is missing", msg, description)
			}
			if !strings.Contains(msg, "copy it again") {
				t.Errorf("error %q does not say to copy the folder again", msg)
			}
		})
	}
}

// removeLargestBlob removes the largest blob file of the layout folder dir and
// returns its path.
func removeLargestBlob(t *testing.T, dir string) string {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	var largest string
	var largestSize int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > largestSize {
			largest, largestSize = filepath.Join(blobs, e.Name()), info.Size()
		}
	}
	if err := os.Remove(largest); err != nil {
		t.Fatal(err)
	}
	return largest
}

// A layout folder without a layer fails with an error that names the
// layer's file and advises copying the folder again.
func TestImportDirMissingLayerMessage(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.imageKit(1<<20), dir)
	file := removeLargestBlob(t, dir)

	_, err := ImportDir(context.Background(), dir, f.opts())
	if err == nil {
		t.Fatal("import of a folder without a layer succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, file) {
		t.Errorf("error %q does not name the missing file %s", msg, file)
	}
	if !strings.Contains(msg, "copy it again") {
		t.Errorf("error %q does not say to copy the folder again", msg)
	}
}
