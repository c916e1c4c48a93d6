package layout

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
)

var demoCreated = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// buildDemo builds a two-platform demo image from small fake binaries.
func buildDemo(t *testing.T, outDir string) ocispec.Descriptor {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		path := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"))
		body := bytes.Repeat([]byte("fake binary for "+p+"\n"), 200)
		if err := os.WriteFile(path, body, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[p] = path
	}
	desc, err := BuildDemoImage(context.Background(), bins, "registry.example/stella-ops/stella:0.1.0", demoCreated, outDir)
	if err != nil {
		t.Fatalf("BuildDemoImage: %v", err)
	}
	return desc
}

func TestBuildDemoImageDeterministic(t *testing.T) {
	first := buildDemo(t, filepath.Join(t.TempDir(), "a"))
	second := buildDemo(t, filepath.Join(t.TempDir(), "b"))
	if first.Digest != second.Digest {
		t.Fatalf("digests differ: %s and %s", first.Digest, second.Digest)
	}
	if first.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("media type = %s, want image index", first.MediaType)
	}
	if got := first.Annotations[ocispec.AnnotationRefName]; got != "registry.example/stella-ops/stella:0.1.0" {
		t.Errorf("ref.name = %q", got)
	}
}

func TestBuildDemoImageContent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img")
	desc := buildDemo(t, out)
	_, src, err := OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var index ocispec.Index
	fetchJSON(t, src, desc, &index)
	if len(index.Manifests) != 2 {
		t.Fatalf("index lists %d manifests, want 2", len(index.Manifests))
	}
	for _, m := range index.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" {
			t.Fatalf("manifest %s has platform %+v", m.Digest, m.Platform)
		}
		var manifest ocispec.Manifest
		fetchJSON(t, src, m, &manifest)
		var cfg ocispec.Image
		fetchJSON(t, src, manifest.Config, &cfg)
		if cfg.Architecture != m.Platform.Architecture || cfg.OS != "linux" {
			t.Errorf("config platform %s/%s, index says %s", cfg.OS, cfg.Architecture, m.Platform.Architecture)
		}
		if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/usr/bin/stella" {
			t.Errorf("entrypoint = %v", cfg.Config.Entrypoint)
		}
		if cfg.Created == nil || !cfg.Created.Equal(demoCreated) {
			t.Errorf("created = %v", cfg.Created)
		}
		if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Fatalf("layers = %+v", manifest.Layers)
		}
		rc, err := src.Fetch(ctx, manifest.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		checkDemoLayer(t, rc)
		rc.Close()
	}
}

func checkDemoLayer(t *testing.T, rc io.Reader) {
	t.Helper()
	plain, release, err := decompress(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	tr := tar.NewReader(plain)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("layer has no usr/bin/stella: %v", err)
		}
		if h.Name != "usr/bin/stella" {
			continue
		}
		if h.Mode != 0o755 || !h.ModTime.Equal(demoCreated) {
			t.Errorf("usr/bin/stella mode %o mtime %v", h.Mode, h.ModTime)
		}
		return
	}
}

func fetchJSON(t *testing.T, src content.ReadOnlyStorage, d ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(context.Background(), src, d)
	if err != nil {
		t.Fatalf("fetching %s: %v", d.Digest, err)
	}
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestBuildDemoImageRejectsNonEmptyDir(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "x"), nil, 0o644)
	_, err := BuildDemoImage(context.Background(), map[string]string{"linux/amd64": "/nonexistent"}, "r:1", demoCreated, out)
	if !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("err = %v, want ErrAlreadyExists", err)
	}
}

// writeDemoArchive writes the demo image folder as a kit tar with the given compression.
func writeDemoArchive(t *testing.T, c Compression) (string, ocispec.Descriptor) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "img")
	desc := buildDemo(t, out)
	index, src, err := OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteTar(context.Background(), f, index, src, TarOptions{Compression: c}); err != nil {
		t.Fatal(err)
	}
	return path, desc
}

func TestLoadImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img")
	want := buildDemo(t, out)
	plain, _ := writeDemoArchive(t, None)
	zst, _ := writeDemoArchive(t, Zstd)
	for name, path := range map[string]string{"folder": out, "tar": plain, "tar.zst": zst} {
		t.Run(name, func(t *testing.T) {
			for _, ref := range []string{"registry.example/stella-ops/stella:0.1.0", "other.example/x:0.1.0", "anything"} {
				desc, src, err := LoadImage(context.Background(), path, ref)
				if err != nil {
					t.Fatalf("LoadImage(%q): %v", ref, err)
				}
				if desc.Digest != want.Digest {
					t.Errorf("LoadImage(%q) = %s, want %s", ref, desc.Digest, want.Digest)
				}
				var index ocispec.Index
				fetchJSON(t, src, desc, &index)
				if len(index.Manifests) != 2 {
					t.Errorf("index lists %d platforms, want 2", len(index.Manifests))
				}
			}
		})
	}
}

func TestLoadImageTruncatedZstd(t *testing.T) {
	zst, _ := writeDemoArchive(t, Zstd)
	data, err := os.ReadFile(zst)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar.zst")
	if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadImage(context.Background(), cut, "anything")
	if err == nil {
		t.Fatal("LoadImage of a truncated archive succeeded")
	}
	if !strings.Contains(err.Error(), "truncated; copy it again") {
		t.Errorf("error does not say the file is truncated and what to do: %v", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error does not wrap io.ErrUnexpectedEOF: %v", err)
	}
}

// TestLoadImageTarCutAtEntry cuts a plain archive after each entry, where
// archive/tar sees a clean end of the archive, and inside its
// end-of-archive marker. Each cut must read as a truncated file.
func TestLoadImageTarCutAtEntry(t *testing.T) {
	path, _ := writeDemoArchive(t, None)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(data)
	tr := tar.NewReader(r)
	var cuts []int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		start := r.Size() - int64(r.Len())
		cuts = append(cuts, start+(hdr.Size+511)/512*512)
	}
	last := cuts[len(cuts)-1]
	cuts = append(cuts, last+512)

	for _, cut := range cuts {
		cutPath := filepath.Join(t.TempDir(), "cut.tar")
		if err := os.WriteFile(cutPath, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadImage(context.Background(), cutPath, "anything")
		if err == nil {
			t.Errorf("cut at %d of %d bytes: LoadImage succeeded", cut, len(data))
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: error does not wrap io.ErrUnexpectedEOF: %v", cut, err)
		}
		if !strings.Contains(err.Error(), "truncated; copy it again") {
			t.Errorf("cut at %d: error does not say the file is truncated and what to do: %v", cut, err)
		}
	}
	if _, _, err := LoadImage(context.Background(), path, "anything"); err != nil {
		t.Errorf("LoadImage of the whole archive: %v", err)
	}
}

func TestLoadImageChoosesByTag(t *testing.T) {
	index := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Annotations: map[string]string{ocispec.AnnotationRefName: "1.0"}},
		{Digest: digest.Digest("sha256:" + strings.Repeat("b", 64)), Annotations: map[string]string{ocispec.AnnotationRefName: "2.0"}},
	}}
	d, err := selectImage(index, "registry.example/repo:2.0", "x")
	if err != nil || d.Digest != index.Manifests[1].Digest {
		t.Fatalf("selectImage = %s, %v; want the 2.0 entry", d.Digest, err)
	}
	_, err = selectImage(index, "registry.example/repo:3.0", "x")
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "1.0, 2.0") {
		t.Errorf("error %q does not list the names", err)
	}
	_, err = selectImage(index, "localhost:5000/repo", "x")
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("port mistaken for a tag: err = %v", err)
	}
}

// A reference with a tag and a digest names the image by its digest, as
// a registry resolves it, so an entry with that digest wins over an entry
// with that tag.
func TestLoadImageChoosesDigestOverTag(t *testing.T) {
	tagged := digest.Digest("sha256:" + strings.Repeat("a", 64))
	pinned := digest.Digest("sha256:" + strings.Repeat("b", 64))
	index := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: tagged, Annotations: map[string]string{ocispec.AnnotationRefName: "1.0"}},
		{Digest: pinned, Annotations: map[string]string{ocispec.AnnotationRefName: "1.0-old"}},
	}}
	d, err := selectImage(index, "registry.example/repo:1.0@"+pinned.String(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != pinned {
		t.Errorf("selectImage chose %s, want the entry of the reference's digest %s", d.Digest, pinned)
	}
}

// flipBlobByte flips the lowest bit of the byte at offset at of the blob
// d in the layout folder dir.
func flipBlobByte(t *testing.T, dir string, d digest.Digest, at int) {
	t.Helper()
	path := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 1
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFolderBlob opens the layout folder dir, reads the blob d from it and
// returns the error of the read.
func readFolderBlob(t *testing.T, dir string, d ocispec.Descriptor) error {
	t.Helper()
	_, src, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := src.Fetch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	return err
}

func TestOpenDirVerifiesDigest(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img")
	desc := buildDemo(t, out)
	flipBlobByte(t, out, desc.Digest, int(desc.Size)-2)

	err := readFolderBlob(t, out, desc)
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
}

// A damaged blob of a layout folder fails a kit write with one digest
// error that advises copying the layout again, not the same cause twice.
func TestWriteTarDamagedFolderBlob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img")
	desc := buildDemo(t, out)
	index, src, err := OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var imageIndex ocispec.Index
	fetchJSON(t, src, desc, &imageIndex)
	var manifest ocispec.Manifest
	fetchJSON(t, src, imageIndex.Manifests[0], &manifest)
	layer := manifest.Layers[0]
	flipBlobByte(t, out, layer.Digest, int(layer.Size)/2)

	err = WriteTar(context.Background(), io.Discard, index, src, TarOptions{})
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if n := strings.Count(err.Error(), errdef.ErrDigestMismatch.Error()); n != 1 {
		t.Errorf("error names %q %d times, want once: %v", errdef.ErrDigestMismatch, n, err)
	}
	if !strings.Contains(err.Error(), "copy it again") {
		t.Errorf("error %q does not advise copying the layout again", err)
	}
}

// A blob cut short, as by a copy still in progress, gets a size error
// that advises copying the layout again, not a bare unexpected EOF.
func TestOpenDirTruncatedBlob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img")
	desc := buildDemo(t, out)
	path := filepath.Join(out, "blobs", "sha256", desc.Digest.Encoded())
	os.Chmod(path, 0o644)
	if err := os.Truncate(path, desc.Size/2); err != nil {
		t.Fatal(err)
	}

	err := readFolderBlob(t, out, desc)
	if !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Errorf("err = %v, want ErrSizeMismatch", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
	if !strings.Contains(err.Error(), "copy it again") {
		t.Errorf("error %q does not advise copying the layout again", err)
	}
}

func TestOpenDirNotLayout(t *testing.T) {
	_, _, err := OpenDir(t.TempDir())
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("err = %v, want ErrInvalidKit", err)
	}
}

func TestLoadImageArchiveRejectsSymlink(t *testing.T) {
	data := buildTar(t, file("oci-layout", layoutFileContent),
		tarEntry{name: "index.json", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})
	path := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(path, data, 0o644)
	_, _, err := LoadImage(context.Background(), path, "x")
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("err = %v, want ErrUnsafePath", err)
	}
}
