package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeImage writes an OCI image layout at dir holding one linux/amd64
// image of `layers` layers of layerSize seeded random bytes each, tagged
// ref. Random bytes do not compress, so the layers keep their size in a
// zstd kit, as real compressed image layers do.
func writeImage(dir, ref string, seed uint64, layers int, layerSize int64) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	var descs []ocispec.Descriptor
	var diffIDs []digest.Digest
	for i := range layers {
		d, err := writeRandomBlob(dir, rand.New(rand.NewChaCha8(seedBytes(seed, uint64(i)))), layerSize)
		if err != nil {
			return err
		}
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: layerSize})
		diffIDs = append(diffIDs, d)
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cfgDesc, err := writeJSONBlob(dir, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return err
	}
	man := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfgDesc, Layers: descs}
	manDesc, err := writeJSONBlob(dir, ocispec.MediaTypeImageManifest, man)
	if err != nil {
		return err
	}
	manDesc.Platform = &cfg.Platform
	manDesc.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc}}
	raw, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func seedBytes(seed, i uint64) [32]byte {
	var s [32]byte
	for b := range 8 {
		s[b] = byte(seed >> (8 * b))
		s[8+b] = byte(i >> (8 * b))
	}
	return s
}

func writeRandomBlob(dir string, rng *rand.Rand, size int64) (digest.Digest, error) {
	tmp, err := os.CreateTemp(dir, ".blob-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		for i := int64(0); i < n; i += 8 {
			v := rng.Uint64()
			for b := int64(0); b < 8 && i+b < n; b++ {
				buf[i+b] = byte(v >> (8 * b))
			}
		}
		if _, err := io.MultiWriter(tmp, h).Write(buf[:n]); err != nil {
			tmp.Close()
			return "", err
		}
		left -= n
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	d := digestOf(h)
	return d, os.Rename(tmp.Name(), filepath.Join(dir, "blobs", "sha256", d.Encoded()))
}

func digestOf(h hash.Hash) digest.Digest {
	return digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

func writeJSONBlob(dir, mediaType string, v any) (ocispec.Descriptor, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.FromBytes(raw)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), raw, 0o644); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing %s: %w", d, err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(raw))}, nil
}
