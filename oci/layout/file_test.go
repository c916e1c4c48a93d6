package layout

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTarFileMatchesWriteTar(t *testing.T) {
	index, store := sampleStore(t)
	out := filepath.Join(t.TempDir(), "kit.tar")
	size, err := WriteTarFile(context.Background(), out, index, store, TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteTar(context.Background(), &want, index, store, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("file differs from the WriteTar stream")
	}
	if size != int64(len(got)) {
		t.Errorf("size = %d, file has %d bytes", size, len(got))
	}
}

func TestWriteTarFileFailureLeavesNothing(t *testing.T) {
	index, _ := sampleStore(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "kit.tar")
	// The store lacks the index's first manifest, so writing fails.
	store := memoryWithout(t, index.Manifests[0].Digest)
	if _, err := WriteTarFile(context.Background(), out, index, store, TarOptions{}); err == nil {
		t.Fatal("WriteTarFile succeeded without a blob the index names")
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 0 {
		t.Errorf("a failed write left %d files in the folder", len(names))
	}
}
