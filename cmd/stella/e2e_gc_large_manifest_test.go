package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// largeManifestImage writes an image layout whose manifest is about 300
// KiB, padded with an annotation, so that the store ingests it as an
// sstable like a layer. It returns the layout folder.
func largeManifestImage(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "large-manifest-image")
	blobs := filepath.Join(out, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(mediaType string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	data := make([]byte, 2000)
	rand.NewChaCha8([32]byte{9}).Read(data)
	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	layerDesc := write(ocispec.MediaTypeImageLayerGzip, layer.Bytes())
	config := write(ocispec.MediaTypeImageConfig, marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}))
	manifest := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      config,
		Layers:      []ocispec.Descriptor{layerDesc},
		Annotations: map[string]string{"pad": strings.Repeat("x", 300_000)},
	}
	manDesc := write(ocispec.MediaTypeImageManifest, marshal(manifest))
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc}}
	if err := os.WriteFile(filepath.Join(out, "index.json"), marshal(index), 0o644); err != nil {
		t.Fatal(err)
	}
	layoutFile := marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(out, ocispec.ImageLayoutFile), layoutFile, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGCKeepsImageWithLargeManifest imports a signed kit whose image
// manifest is about 300 KiB and checks that gc removes none of the
// image's blobs, so that mirror still finds the whole kit.
func TestGCKeepsImageWithLargeManifest(t *testing.T) {
	e := newEnv(t)
	image := largeManifestImage(t, e.dir)
	kit := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1",
		"--image", "registry.example.test/big:1="+image)
	e.importJSON(kit)

	var rep gcReport
	if err := json.Unmarshal([]byte(e.must("ouk", "gc", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 0 {
		t.Errorf("gc removed %d blobs (%d bytes) of the active kit; want 0", rep.Removed, rep.BytesRemoved)
	}

	if r := e.mirrorDryRun("--key", e.pub); r.code != 0 {
		t.Errorf("mirror --dry-run after gc: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got == "" {
		t.Error("status after gc reports no active kit")
	}
}
