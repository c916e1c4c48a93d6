package mirror

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// buildLargeLayerKit writes a plain kit tar whose image has a layer over
// maxManifestSize, which a push streams into its upload instead of
// reading it first, and returns the kit and the layer's first bytes.
func buildLargeLayerKit(t *testing.T, f *fixture) (string, []byte) {
	t.Helper()
	data := make([]byte, maxManifestSize+(1<<20))
	rand.NewChaCha8([32]byte{9}).Read(data)
	bin := filepath.Join(f.dir, "large-binary")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(f.dir, "large-image")
	if _, err := layout.BuildDemoImage(context.Background(), map[string]string{"linux/amd64": bin}, demoImageRef, testCreated, image); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, "large.tar")
	opts := f.kitOptions(out, "1.0.0", 1, "")
	opts.Images = []build.Image{{Ref: demoImageRef, Path: image}}
	if _, err := build.Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	return out, data[:64]
}

func TestPushTruncatedKitReadsOnce(t *testing.T) {
	f := newFixture(t)
	small := f.buildKit("small.tar", "1.0.0", 1, "")
	large, layerStart := buildLargeLayerKit(t, f)
	for _, tc := range []struct {
		name string
		kit  string
		// cut returns the length of the truncated copy of the kit.
		cut func(kit []byte) int
	}{
		{"in a small blob", small, func(kit []byte) int { return len(kit) / 2 }},
		{"in a streamed layer", large, func(kit []byte) int {
			// The demo image stores its binary uncompressed, so the
			// layer's bytes start where the binary's do.
			start := bytes.Index(kit, layerStart)
			if start < 0 {
				t.Fatal("layer bytes not found in the kit")
			}
			return start + maxManifestSize
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kit, err := os.ReadFile(tc.kit)
			if err != nil {
				t.Fatal(err)
			}
			truncated := filepath.Join(t.TempDir(), "truncated.tar")
			if err := os.WriteFile(truncated, kit[:tc.cut(kit)], 0o644); err != nil {
				t.Fatal(err)
			}
			host := memRegistry(t, true)
			repo := repository(t, plainClient(t, host), host+"/ouk:1")
			var opens atomic.Int32
			open := func() (io.ReadCloser, error) {
				opens.Add(1)
				return os.Open(truncated)
			}
			_, err = PushKitStream(context.Background(), open, repo, "1", PushOptions{})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("push of a truncated kit: %v, want an error wrapping io.ErrUnexpectedEOF", err)
			}
			if !strings.Contains(err.Error(), "truncated") {
				t.Errorf("error does not say that the kit file is truncated:\n%s", err)
			}
			if msg := err.Error(); strings.Contains(msg, "readfrom") || strings.Contains(msg, "/blobs/uploads/") {
				t.Errorf("error blames the upload for a failure to read the kit file:\n%s", msg)
			}
			if n := opens.Load(); n != 1 {
				t.Errorf("kit file opened %d times, want 1: a truncated file reads the same on every attempt", n)
			}
		})
	}
}

// copyTarWithout copies the plain tar file src to dst without its entry
// named name, and fails the test when src has no such entry.
func copyTarWithout(t *testing.T, src, dst, name string) {
	t.Helper()
	copyTarEdited(t, src, dst, name, nil)
}

// copyTarEdited writes to dst the tar file src with the content of its
// entry name replaced by content, or without that entry when content is
// nil.
func copyTarEdited(t *testing.T, src, dst, name string, content []byte) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&out)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			found = true
			if content == nil {
				continue
			}
			h.Size = int64(len(content))
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(content); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("%s has no entry %s", src, name)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPushKitWithoutIndexJSON checks that the push of a kit file that
// lacks index.json names the file and advises copying it again, as
// import and verify do.
func TestPushKitWithoutIndexJSON(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit.tar", "1.0.0", 1, "")
	damaged := filepath.Join(t.TempDir(), "no-index.tar")
	copyTarWithout(t, kit, damaged, "index.json")
	host := memRegistry(t, true)
	repo := repository(t, plainClient(t, host), host+"/ouk:1")
	open := func() (io.ReadCloser, error) { return os.Open(damaged) }

	_, err := PushKitStream(context.Background(), open, repo, "1", PushOptions{KitPath: damaged})
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("push of a kit without index.json: %v, want an error wrapping ErrInvalidKit", err)
	}
	if want := "kit " + damaged + " has no index.json"; !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q:\n%s", want, err)
	}
	if !strings.Contains(err.Error(), layout.DamagedIndexAdvice) {
		t.Errorf("error does not advise copying the kit file again:\n%s", err)
	}
}

// TestPushKitDamagedIndexJSON checks that push rejects an index.json that
// import and verify reject as damaged, with the kit's name and the advice
// to copy it again.
func TestPushKitDamagedIndexJSON(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit.tar", "1.0.0", 1, "")
	host := memRegistry(t, true)
	repo := repository(t, plainClient(t, host), host+"/ouk:1")
	cases := map[string]string{
		"cut short":            `{"schemaVersion":2,"manifests":[`,
		"string schemaVersion": `{"schemaVersion":"2","manifests":[]}`,
		"misspelled manifests": `{"schemaVersion":2,"manifestz":[]}`,
		"not an object":        `[]`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			damaged := filepath.Join(t.TempDir(), "damaged.tar")
			copyTarEdited(t, kit, damaged, "index.json", []byte(content))
			open := func() (io.ReadCloser, error) { return os.Open(damaged) }

			_, err := PushKitStream(context.Background(), open, repo, "1", PushOptions{KitPath: damaged})
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("push: %v, want an error wrapping ErrInvalidKit", err)
			}
			if !strings.Contains(err.Error(), "kit "+damaged) {
				t.Errorf("error does not name the kit:\n%s", err)
			}
			if !strings.Contains(err.Error(), layout.DamagedIndexAdvice) {
				t.Errorf("error does not advise copying the kit file again:\n%s", err)
			}
		})
	}
}
