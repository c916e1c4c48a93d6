package importer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// setDBEntryMediaType rewrites the media type of the DB entry of the bundle
// index in the layout folder dir, stores the changed bundle index, points
// index.json at it and returns the DB entry's digest. The kit's signature
// no longer covers the bundle index.
func setDBEntryMediaType(t *testing.T, dir, mediaType string) digest.Digest {
	t.Helper()
	indexPath, index := readLayoutIndex(t, dir)

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
				bundle.Manifests[j].MediaType = mediaType
				dbDigest = c.Digest
			}
		}
		raw, err = json.Marshal(bundle)
		if err != nil {
			t.Fatal(err)
		}
		changed := writeBlob(t, dir, ocispec.MediaTypeImageIndex, raw)
		index.Manifests[i].Digest, index.Manifests[i].Size = changed.Digest, changed.Size
	}
	if dbDigest == "" {
		t.Fatal("the kit's bundle index has no DB entry")
	}

	rawIndex, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(indexPath, rawIndex, 0o644); err != nil {
		t.Fatal(err)
	}
	return dbDigest
}

// readLayoutIndex reads index.json of the layout folder dir and returns its
// path and the decoded image index.
func readLayoutIndex(t *testing.T, dir string) (string, ocispec.Index) {
	t.Helper()
	indexPath := filepath.Join(dir, "index.json")
	rawIndex, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(rawIndex, &index); err != nil {
		t.Fatal(err)
	}
	return indexPath, index
}

// A DB entry that is not an image manifest has no layers to index, so the
// import rejects the kit before it stores more than its heads, and removes
// those.
func TestImportRejectsDBEntryNotManifest(t *testing.T) {
	for _, mediaType := range []string{"application/octet-stream", ocispec.MediaTypeImageIndex} {
		t.Run(mediaType, func(t *testing.T) {
			f := newFixture(t)
			dir := filepath.Join(f.dir, "layout")
			writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
			dbDigest := setDBEntryMediaType(t, dir, mediaType)
			opts := f.opts()
			opts.InsecureSkipSignature = true

			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("import panicked: %v", r)
					}
				}()
				_, err = ImportDir(context.Background(), dir, opts)
			}()
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("err = %v, want ErrInvalidKit", err)
			}
			if !strings.Contains(err.Error(), dbDigest.String()) {
				t.Errorf("error %q does not name the DB entry %s", err, dbDigest)
			}
			if n := f.blobCount(); n != 0 {
				t.Errorf("store holds %d blobs of the rejected kit", n)
			}
			if _, err := f.store.Active(context.Background()); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("Active = %v, want no active kit", err)
			}
		})
	}
}
