package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tarEntry is one entry of an uncompressed kit, for tests that tamper with kits.
type tarEntry struct {
	hdr  tar.Header
	data []byte
}

func readTar(t *testing.T, path string) []tarEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: *h, data: data})
	}
}

func writeTar(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing header %s: %v", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func extractTar(t *testing.T, kit, dir string) {
	t.Helper()
	for _, e := range readTar(t, kit) {
		p := filepath.Join(dir, filepath.FromSlash(e.hdr.Name))
		if e.hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func blobName(data []byte) string {
	sum := sha256.Sum256(data)
	return "blobs/sha256/" + hex.EncodeToString(sum[:])
}

func blobEntry(data []byte) tarEntry {
	return tarEntry{hdr: tar.Header{Name: blobName(data), Mode: 0o644, Typeflag: tar.TypeReg}, data: data}
}

// kitParts gives named access to a kit's entries.
type kitParts struct {
	entries []tarEntry
}

func (k *kitParts) find(name string) int {
	for i, e := range k.entries {
		if e.hdr.Name == name {
			return i
		}
	}
	return -1
}

func (k *kitParts) index(t *testing.T) ocispec.Index {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(k.entries[k.find("index.json")].data, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func (k *kitParts) setIndex(t *testing.T, idx ocispec.Index) {
	t.Helper()
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	k.entries[k.find("index.json")].data = raw
}

func (k *kitParts) blob(t *testing.T, d string) []byte {
	t.Helper()
	i := k.find("blobs/sha256/" + strings.TrimPrefix(d, "sha256:"))
	if i < 0 {
		t.Fatalf("kit has no blob %s", d)
	}
	return k.entries[i].data
}

func (k *kitParts) remove(name string) {
	if i := k.find(name); i >= 0 {
		k.entries = append(k.entries[:i], k.entries[i+1:]...)
	}
}

// bundle returns the bundle index descriptor of index.json and its JSON.
func (k *kitParts) bundle(t *testing.T) (ocispec.Descriptor, ocispec.Index) {
	t.Helper()
	for _, d := range k.index(t).Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex {
			var idx ocispec.Index
			if err := json.Unmarshal(k.blob(t, d.Digest.String()), &idx); err != nil {
				t.Fatal(err)
			}
			return d, idx
		}
	}
	t.Fatal("kit has no bundle index")
	return ocispec.Descriptor{}, ocispec.Index{}
}
