package mirror

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// unpackKit writes the entries of the plain kit tar file at path into the
// folder dir, as a layout folder.
func unpackKit(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// signedKitFolder builds a signed kit, unpacks it into a layout folder and
// returns the folder's index.json and blobs.
func signedKitFolder(t *testing.T) (ocispec.Index, content.ReadOnlyStorage) {
	t.Helper()
	f := newFixture(t)
	folder := filepath.Join(f.dir, "folder")
	unpackKit(t, f.buildKit("kit.tar", "1.0.0", 1, ""), folder)
	index, src, err := layout.OpenDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	return index, src
}

// A push reads only the referrers tag index of the bundle index, so the
// tag index of another digest is ignored even when its blob is missing or
// declares more than the manifest size limit.
func TestFindRootsIgnoresForeignReferrersTag(t *testing.T) {
	index, src := signedKitFolder(t)
	ctx := context.Background()
	roots, err := findRoots(ctx, src, index)
	if err != nil {
		t.Fatal(err)
	}
	if got := roots.signatureCount(); got != 1 {
		t.Fatalf("kit without a foreign tag has %d signatures, want 1", got)
	}

	absent := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	foreign := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(absent),
		Size: int64(len(absent)), Annotations: map[string]string{
			oci.AnnotationRefName: layout.ReferrersTag(digest.FromString("another manifest"))}}
	for name, size := range map[string]int64{"missing blob": foreign.Size, "oversized": maxManifestSize + 1} {
		t.Run(name, func(t *testing.T) {
			entry := foreign
			entry.Size = size
			edited := index
			edited.Manifests = append(append([]ocispec.Descriptor{}, index.Manifests...), entry)
			roots, err := findRoots(ctx, src, edited)
			if err != nil {
				t.Fatalf("findRoots: %v", err)
			}
			if got := roots.signatureCount(); got != 1 {
				t.Errorf("%d signatures, want 1", got)
			}
		})
	}
}

// countingStorage counts the fetches of each digest from a kit source.
type countingStorage struct {
	content.ReadOnlyStorage
	fetches map[digest.Digest]int
}

func (c *countingStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.fetches[d.Digest]++
	return c.ReadOnlyStorage.Fetch(ctx, d)
}

// A push reads the tag index of the bundle index at most twice, once to
// learn that it is not the bundle index and once for its referrers,
// however often index.json lists it.
func TestFindRootsReadsTagIndexOnce(t *testing.T) {
	f := newFixture(t)
	folder := filepath.Join(f.dir, "folder")
	unpackKit(t, f.buildKit("kit.tar", "1.0.0", 1, ""), folder)
	index, _, err := layout.OpenDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	var bundle, signature ocispec.Descriptor
	for _, d := range index.Manifests {
		switch d.ArtifactType {
		case oci.ArtifactTypeBundle:
			bundle = d
		case oci.MediaTypeSigstoreBundle:
			signature = d
		}
	}
	tagIndex := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{signature}}
	tagIndex.SchemaVersion = 2
	raw, err := json.Marshal(tagIndex)
	if err != nil {
		t.Fatal(err)
	}
	tagged := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw)),
		Annotations: map[string]string{oci.AnnotationRefName: layout.ReferrersTag(bundle.Digest)}}
	if err := os.WriteFile(filepath.Join(folder, "blobs", "sha256", tagged.Digest.Encoded()), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		index.Manifests = append(index.Manifests, tagged)
	}
	_, src, err := layout.OpenDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingStorage{ReadOnlyStorage: src, fetches: map[digest.Digest]int{}}

	roots, err := findRoots(context.Background(), counted, index)
	if err != nil {
		t.Fatalf("findRoots: %v", err)
	}
	if got := roots.signatureCount(); got != 1 {
		t.Errorf("%d signatures, want 1", got)
	}
	if n := counted.fetches[tagged.Digest]; n > 2 {
		t.Errorf("read the tag index %d times, want at most 2", n)
	}
}

// TestPushDamagedBundleTagIsDamage checks that push reports a kit whose
// signatures are listed only in an unreadable index tagged for its bundle
// as damaged, with copy-again advice, and not as an unsigned kit to build
// again with --key.
func TestPushDamagedBundleTagIsDamage(t *testing.T) {
	index, src := signedKitFolder(t)
	ctx := context.Background()
	roots, err := findRoots(ctx, src, index)
	if err != nil {
		t.Fatal(err)
	}
	absent := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	tag := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(absent),
		Size: int64(len(absent)), Annotations: map[string]string{
			oci.AnnotationRefName: layout.ReferrersTag(roots.bundle.Digest)}}
	edited := index
	edited.Manifests = []ocispec.Descriptor{tag}
	for _, d := range index.Manifests {
		if d.ArtifactType != oci.MediaTypeSigstoreBundle && !layout.IsReferrersTagEntry(d) {
			edited.Manifests = append(edited.Manifests, d)
		}
	}
	roots, err = findRoots(ctx, src, edited)
	if err != nil {
		t.Fatalf("findRoots: %v", err)
	}
	if roots.signatureCount() != 0 || roots.damagedTag == nil {
		t.Fatalf("%d signatures and damaged tag %v, want none and the missing tag index", roots.signatureCount(), roots.damagedTag)
	}

	host := memRegistry(t, true)
	repo := repository(t, plainClient(t, host), host+"/ouk:1")
	_, err = newPusher(repo, nil).publish(ctx, src, roots, "1", PushOptions{})
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("push: %v, want an error wrapping ErrInvalidKit", err)
	}
	if !strings.Contains(err.Error(), "copy it again") || strings.Contains(err.Error(), "--key") {
		t.Errorf("error does not advise copying the layout again, or advises --key:\n%s", err)
	}
}
