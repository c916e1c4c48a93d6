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
	"oras.land/oras-go/v2/content/oci"

	"stella-ops.org/ouk/internal/errdef"
)

func writeTarBytes(t *testing.T, index ocispec.Index, opts TarOptions) []byte {
	t.Helper()
	_, store := sampleStore(t)
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, index, store, opts); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	return buf.Bytes()
}

func TestWriteTarDeterministic(t *testing.T) {
	index, _ := sampleStore(t)
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []Compression{None, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			first := writeTarBytes(t, index, TarOptions{Compression: c, ModTime: mtime})
			second := writeTarBytes(t, index, TarOptions{Compression: c, ModTime: mtime})
			if !bytes.Equal(first, second) {
				t.Fatal("two writes of the same layout differ")
			}
			entries, err := readAll(first, Limits{})
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name)
			}
			if len(names) != 5 || names[0] != "oci-layout" || names[1] != "index.json" {
				t.Fatalf("entries = %v", names)
			}
		})
	}
}

func TestWriteTarOrder(t *testing.T) {
	index, _ := sampleStore(t)
	entries, err := readAll(writeTarBytes(t, index, TarOptions{}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Manifest and config come before the layer, each group sorted by digest.
	meta := []digest.Digest{entries[2].Digest, entries[3].Digest}
	if meta[0] > meta[1] {
		t.Errorf("metadata blobs not sorted: %v", meta)
	}
	_, sample := sampleLayout(t)
	layer := digest.FromBytes(sample[4].body)
	if entries[4].Digest != layer {
		t.Errorf("last entry = %s, want the layer %s", entries[4].Digest, layer)
	}
}

func TestWriteTarHeaders(t *testing.T) {
	index, _ := sampleStore(t)
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 999, time.UTC)
	data := writeTarBytes(t, index, TarOptions{ModTime: mtime})
	hdrs := tarHeaders(t, data)
	for _, h := range hdrs {
		if h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mode %o uid %d gid %d uname %q gname %q", h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(mtime.Truncate(time.Second)) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
		if len(h.PAXRecords) != 0 {
			t.Errorf("%s: PAX records %v", h.Name, h.PAXRecords)
		}
	}
}

func TestWriteTarInclude(t *testing.T) {
	index, _ := sampleStore(t)
	_, sample := sampleLayout(t)
	layer := digest.FromBytes(sample[4].body)
	manifest := index.Manifests[0].Digest
	include := func(d ocispec.Descriptor) bool { return d.Digest != layer && d.Digest != manifest }
	entries, err := readAll(writeTarBytes(t, index, TarOptions{Include: include}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	for _, e := range entries[2:] {
		got = append(got, e.Digest)
	}
	// The manifest is listed in index.json, so Include cannot drop it.
	if len(got) != 2 || !containsDigest(got, manifest) || containsDigest(got, layer) {
		t.Fatalf("blobs = %v; want the manifest and config only", got)
	}
}

func containsDigest(ds []digest.Digest, d digest.Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

func TestWriteTarMissingBlob(t *testing.T) {
	index, _ := sampleStore(t)
	_, sample := sampleLayout(t)
	layer := digest.FromBytes(sample[4].body)
	store := memoryWithout(t, layer)
	var buf bytes.Buffer
	err := WriteTar(context.Background(), &buf, index, store, TarOptions{})
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), layer.String()) {
		t.Errorf("error %q does not name %s", err, layer)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written before the error", buf.Len())
	}
}

func TestWriteTarReadByOras(t *testing.T) {
	index, _ := sampleStore(t)
	path := filepath.Join(t.TempDir(), "kit.tar")
	if err := os.WriteFile(path, writeTarBytes(t, index, TarOptions{}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := oci.NewFromTar(ctx, path)
	if err != nil {
		t.Fatalf("oras-go NewFromTar: %v", err)
	}
	desc, err := store.Resolve(ctx, "1.0")
	if err != nil {
		t.Fatalf("resolving tag 1.0: %v", err)
	}
	rc, err := store.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
}

func TestMaxModTimeIsUSTARLimit(t *testing.T) {
	tw := tar.NewWriter(io.Discard)
	if err := tw.WriteHeader(header("index.json", 0, MaxModTime)); err != nil {
		t.Errorf("header at MaxModTime: %v", err)
	}
	if err := tw.WriteHeader(header("index.json", 0, MaxModTime.Add(time.Second))); err == nil {
		t.Error("header one second after MaxModTime was written, so MaxModTime is not the USTAR limit")
	}
}

func TestWriteTarReportsProgress(t *testing.T) {
	index, _ := sampleStore(t)
	var reports []TarProgress
	data := writeTarBytes(t, index, TarOptions{Progress: func(p TarProgress) { reports = append(reports, p) }})
	entries, err := readAll(data, Limits{})
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}

	written := map[digest.Digest]int64{}
	var blobBytes int64
	for _, e := range entries {
		if e.Kind == Blob {
			written[e.Digest] = e.Size
			blobBytes += e.Size
		}
	}

	if len(reports) < 2 {
		t.Fatalf("got %d reports, want the first and one per blob piece at least", len(reports))
	}
	if first := reports[0]; first.Blob != "" || first.Bytes != 0 || first.Total != blobBytes {
		t.Errorf("first report is %+v, want no blob, no bytes and a total of %d", first, blobBytes)
	}

	reported := map[digest.Digest]int64{}
	for _, p := range reports[1:] {
		reported[p.Blob] += p.Bytes
		if p.Total != blobBytes {
			t.Errorf("report %+v has a total other than %d", p, blobBytes)
		}
	}
	for d, size := range written {
		if reported[d] != size {
			t.Errorf("blob %s: reports count %d bytes, the stream holds %d", d, reported[d], size)
		}
	}
	if len(reported) != len(written) {
		t.Errorf("reports name %d blobs, the stream holds %d", len(reported), len(written))
	}
}
