package build

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

const testImageRef = "registry.example.test/stella-ops/scanner:0.1.0"

// testImage writes a two-platform image layout with small binaries.
func testImage(t *testing.T, dir string) string {
	t.Helper()
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		p := filepath.Join(dir, platform[len("linux/"):])
		if err := os.WriteFile(p, []byte{byte(i), 1, 2, 3}, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[platform] = p
	}
	out := filepath.Join(dir, "image")
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := layout.BuildDemoImage(context.Background(), bins, testImageRef, created, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildBaseWithImage builds a kit carrying the test image and returns its path.
func buildBaseWithImage(t *testing.T, dir string) string {
	t.Helper()
	base := filepath.Join(dir, "base.tar")
	opts := fixtureOptions(t, base)
	opts.Sequence = 1
	opts.Images = []Image{{Ref: testImageRef, Path: testImage(t, dir)}}
	if _, err := Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	return base
}

// imageChildren returns the image children of the kit's bundle index.
func imageChildren(t *testing.T, path string) []ocispec.Descriptor {
	t.Helper()
	k, err := delta.OpenKit(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var out []ocispec.Descriptor
	for _, d := range k.BundleIndex.Manifests {
		if d.Annotations[oci.AnnotationRole] == oci.RoleImage {
			out = append(out, d)
		}
	}
	return out
}

func TestBuildOnBaseCarriesImages(t *testing.T) {
	dir := t.TempDir()
	base := buildBaseWithImage(t, dir)
	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Version, opts.Sequence = "1.0.1", 2
	opts.Base = base
	opts.DeltaOutput = filepath.Join(dir, "next.delta.tar")
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	want := imageChildren(t, base)
	got := imageChildren(t, opts.Output)
	if len(want) != 1 || len(got) != 1 {
		t.Fatalf("base kit has %d images and the new kit %d, want 1 each", len(want), len(got))
	}
	if got[0].Digest != want[0].Digest || got[0].Annotations[oci.AnnotationImageRef] != testImageRef {
		t.Errorf("carried image %s %v, want %s %s", got[0].Digest, got[0].Annotations, want[0].Digest, testImageRef)
	}
	if len(res.BaseImages) != 1 || res.BaseImages[0] != testImageRef {
		t.Errorf("result lists base images %v, want [%s]", res.BaseImages, testImageRef)
	}
	if len(res.Images) != 1 || res.Images[0] != testImageRef {
		t.Errorf("result lists images %v, want [%s]", res.Images, testImageRef)
	}

	// The base holds the image layers, so the delta leaves them out.
	k, err := delta.OpenKit(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	graph, err := delta.WalkGraph(context.Background(), k.Storage, want[0])
	if err != nil {
		t.Fatal(err)
	}
	if res.Delta == nil || res.Delta.BlobsOmitted < len(graph.Data) {
		t.Errorf("delta %+v omits fewer blobs than the %d image layers the base holds", res.Delta, len(graph.Data))
	}
}

func TestBuildOnBaseDropBaseImages(t *testing.T) {
	dir := t.TempDir()
	base := buildBaseWithImage(t, dir)
	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Base = base
	opts.DropBaseImages = true
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := imageChildren(t, opts.Output); len(got) != 0 {
		t.Errorf("kit built with DropBaseImages carries %d images", len(got))
	}
	if len(res.Images) != 0 || len(res.BaseImages) != 0 {
		t.Errorf("result lists images %v and base images %v, want none", res.Images, res.BaseImages)
	}
}

func TestBuildOnBaseLackingImageBlob(t *testing.T) {
	dir := t.TempDir()
	base := buildBaseWithImage(t, dir)
	image := imageChildren(t, base)[0]

	// Unpack the base as a layout folder and delete one image layer.
	k, err := delta.OpenKit(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	graph, err := delta.WalkGraph(context.Background(), k.Storage, image)
	k.Close()
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "base-layout")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unpackLayout(f, folder); err != nil {
		t.Fatal(err)
	}
	for d := range graph.Data {
		if err := os.Remove(filepath.Join(folder, "blobs", "sha256", d.Encoded())); err != nil {
			t.Fatal(err)
		}
		break
	}

	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Base = folder
	_, err = Build(context.Background(), opts)
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound for the missing image layer", err)
	}
	for _, want := range []string{testImageRef, "lacks blob", "full base kit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, statErr := os.Stat(opts.Output); statErr == nil {
		t.Errorf("a failed build left a kit at %s", opts.Output)
	}
}

// unpackLayout writes the entries of a plain kit tar into dir.
func unpackLayout(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			return err
		}
	}
}

func TestBuildIgnoresImageOrder(t *testing.T) {
	dir := t.TempDir()
	image := testImage(t, dir)
	first := Image{Ref: testImageRef, Path: image}
	second := Image{Ref: "registry.example.test/stella-ops/agent:0.1.0", Path: image}
	build := func(name string, images ...Image) string {
		opts := fixtureOptions(t, filepath.Join(dir, name))
		opts.Images = images
		res, err := Build(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return res.Digest
	}
	if a, b := build("a.tar", first, second), build("b.tar", second, first); a != b {
		t.Errorf("bundle digest depends on the order of the images: %s and %s", a, b)
	}
}
