package delta

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestPeekCutBeforeIndex checks that a kit file that ends before its
// index.json, as a blobs-first copy still in progress does, reads as
// truncated, so that the watch waits for the copy instead of rejecting it.
func TestPeekCutBeforeIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kit.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte(`{"schemaVersion":2}`)
	tw := tar.NewWriter(f)
	name := "blobs/sha256/" + digest.FromBytes(blob).Encoded()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(blob)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(blob); err != nil {
		t.Fatal(err)
	}
	// No Close: the copy stops after the blob, without the tar's end.
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, err = Peek(context.Background(), path)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Peek of a file cut before index.json = %v, want it read as truncated", err)
	}
}
