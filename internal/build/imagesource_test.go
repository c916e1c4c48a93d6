package build

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

func TestBuildRejectsBadImageSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	emptyFolder := filepath.Join(dir, "empty-folder")
	layoutOnly := filepath.Join(dir, "layout-only")
	for _, d := range []string{emptyFolder, layoutOnly} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join("layout-only", "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))

	// A tar of files that are not an OCI layout, as docker save once wrote.
	notLayout := filepath.Join(dir, "docker.tar")
	f, err := os.Create(notLayout)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("[]"))
	tw.Close()
	f.Close()

	cases := []struct {
		name, path, want string
	}{
		{"folder without oci-layout", emptyFolder, "the folder has no oci-layout file"},
		{"folder without index.json", layoutOnly, "the folder has no index.json file"},
		{"text file", write("notes.txt", []byte("hello\n")), `starts with bytes 68656c6c6f0a ("hello\n")`},
		{"empty file", write("empty", nil), "the file is empty"},
		{"tar without a layout", notLayout, `tar entry "manifest.json"`},
	}
	for _, c := range cases {
		opts := fixtureOptions(t, filepath.Join(dir, "kit.tar"))
		opts.Images = []Image{{Ref: testImageRef, Path: c.path}}
		_, err := Build(context.Background(), opts)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", c.name, err)
			continue
		}
		if errors.Is(err, errdef.ErrInvalidKit) || errors.Is(err, errdef.ErrUnknownCompression) {
			t.Errorf("%s: err = %v, which reads as a rejected kit", c.name, err)
		}
		for _, want := range []string{"image source " + c.path, "not", "OCI layout folder or oci-archive tar", c.want} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, want)
			}
		}
		if strings.Contains(err.Error(), "kit stream") {
			t.Errorf("%s: error %q speaks of a kit stream", c.name, err)
		}
	}
}

func TestBuildImageSourceAcceptsArchive(t *testing.T) {
	dir := t.TempDir()
	image := testImage(t, dir)
	archive := filepath.Join(dir, "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(image)); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	f.Close()
	if err := checkImageSource(archive); err != nil {
		t.Errorf("archive: %v", err)
	}
	if err := checkImageSource(image); err != nil {
		t.Errorf("layout folder: %v", err)
	}
}
