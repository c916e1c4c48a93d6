package layout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// tarEntry is one entry of a tar built by a test.
type tarEntry struct {
	name     string
	typeflag byte
	body     []byte
	linkname string
	size     int64 // when non-zero, overrides len(body) in the header
}

func file(name string, body []byte) tarEntry {
	return tarEntry{name: name, typeflag: tar.TypeReg, body: body}
}

func blobEntry(body []byte) tarEntry {
	d := digest.FromBytes(body)
	return file("blobs/sha256/"+d.Encoded(), body)
}

// buildTar writes entries as a plain tar. A size override writes a header
// only, for limit tests that never read the body.
func buildTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Linkname: e.linkname, Mode: 0o644,
			Size: int64(len(e.body)), ModTime: time.Unix(0, 0)}
		if e.typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing header %s: %v", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatalf("writing %s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// validLayoutTar returns a small valid layout tar holding one manifest,
// its config and one layer.
func validLayoutTar(t testing.TB) []byte {
	t.Helper()
	_, entries := sampleLayout(t)
	return buildTar(t, entries...)
}

func sampleLayout(t testing.TB) (ocispec.Index, []tarEntry) {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := bytes.Repeat([]byte("layer data "), 100)
	manifest := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	manifest.SchemaVersion = 2
	mb := mustJSON(t, manifest)
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "1.0"},
	}}}
	index.SchemaVersion = 2
	return index, []tarEntry{
		file("oci-layout", layoutFileContent),
		file("index.json", mustJSON(t, index)),
		blobEntry(mb), blobEntry(config), blobEntry(layer),
	}
}

// sampleStore returns the index of sampleLayout and a store of its blobs.
func sampleStore(t testing.TB) (ocispec.Index, mapStore) {
	t.Helper()
	index, _ := sampleLayout(t)
	return index, memoryWithout(t, "")
}

// mapStore is a read-only storage keyed by digest alone, as the kit
// store is, so descriptors need no media type.
type mapStore map[digest.Digest][]byte

func (m mapStore) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := m[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m mapStore) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	_, ok := m[d.Digest]
	return ok, nil
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

// memoryWithout returns a store of sampleLayout's blobs except skip.
func memoryWithout(t testing.TB, skip digest.Digest) mapStore {
	t.Helper()
	_, entries := sampleLayout(t)
	store := mapStore{}
	for _, e := range entries[2:] {
		if d := digest.FromBytes(e.body); d != skip {
			store[d] = e.body
		}
	}
	return store
}

// tarHeaders returns the headers of a plain tar.
func tarHeaders(t testing.TB, data []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []*tar.Header
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		out = append(out, h)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
