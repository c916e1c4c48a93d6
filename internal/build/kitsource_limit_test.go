package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

func TestOpenKitLimitsKeptBytes(t *testing.T) {
	old := maxKeptTotal
	maxKeptTotal = 1 << 20
	t.Cleanup(func() { maxKeptTotal = old })

	path := filepath.Join(t.TempDir(), "padded.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	write := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	write("index.json", []byte(`{"schemaVersion":2,"manifests":[]}`))
	// Three blobs of 512 KiB: each is below maxKeptBlob, together they
	// exceed maxKeptTotal.
	for i := range 3 {
		data := make([]byte, 512<<10)
		copy(data, fmt.Sprintf("padding %d", i))
		write("blobs/sha256/"+digest.FromBytes(data).Encoded(), data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = OpenKit(context.Background(), path)
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
}
