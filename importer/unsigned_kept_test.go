package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/cas"
)

// paddingStream returns a tar stream of an oci-layout file and blobs of
// MaxManifestSize bytes, one short of MaxUnsignedBytes in all, each starting with tag and
// its number, cut off inside the next blob as a broken transfer is.
func paddingStream(t *testing.T, tag string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	for i := range MaxUnsignedBytes/MaxManifestSize - 1 {
		data := make([]byte, MaxManifestSize)
		copy(data, fmt.Sprintf("%s %d", tag, i))
		write("blobs/sha256/"+digest.FromBytes(data).Encoded(), data)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	// A header and part of a blob, then nothing: the stream is truncated.
	h := &tar.Header{Name: "blobs/sha256/" + digest.FromString(tag).Encoded(), Mode: 0o644, Size: 1 << 20, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write(make([]byte, 4096))
	return buf.Bytes()
}

func TestBrokenTransferDropsUnsignedBlobs(t *testing.T) {
	f := newFixture(t)
	for _, tag := range []string{"first", "second"} {
		_, err := ImportStream(context.Background(), bytes.NewReader(paddingStream(t, tag)), f.opts())
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("import of the %s stream: err = %v, want io.ErrUnexpectedEOF", tag, err)
		}
	}
	var stored int64
	err := f.store.Blobs(context.Background(), func(b cas.BlobInfo) error {
		stored += b.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("store holds %d bytes of blobs that no signature covers after two broken transfers", stored)
	}
}
