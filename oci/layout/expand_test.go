package layout

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"stella-ops.org/ouk/internal/errdef"
)

// TestLoadImageLimitsExpansion checks that a compressed archive that
// expands far beyond its size is refused before it fills the temporary
// folder.
func TestLoadImageLimitsExpansion(t *testing.T) {
	path := writeExpandingArchive(t)
	_, _, err := LoadImage(context.Background(), path, "anything")
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("LoadImage of an archive that expands 64 MiB from a few KB: %v, want ErrSizeExceedsLimit", err)
	}

	// A demo archive, whose layers compress well, still opens.
	zst, _ := writeDemoArchive(t, Zstd)
	if _, _, err := LoadImage(context.Background(), zst, "anything"); err != nil {
		t.Errorf("LoadImage of the demo archive: %v", err)
	}
}

// TestTarReaderLimitsExpansion checks that a kit stream, as import, push
// and verify read it, stops at the same expansion limit.
func TestTarReaderLimitsExpansion(t *testing.T) {
	f, err := os.Open(writeExpandingArchive(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := NewTarReader(f, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for {
		e, err := tr.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, e.Reader)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !strings.Contains(err.Error(), "expands to more than") {
			t.Fatalf("reading a stream that expands 64 MiB from a few KB: %v, want ErrSizeExceedsLimit", err)
		}
		return
	}
}

// writeExpandingArchive lowers the expansion slack to 1 MiB for the test
// and writes a tar.zst of a few KB holding a 64 MiB blob of zeros.
func writeExpandingArchive(t *testing.T) string {
	t.Helper()
	saved := expansionSlack
	expansionSlack = 1 << 20
	t.Cleanup(func() { expansionSlack = saved })

	path := filepath.Join(t.TempDir(), "bomb.tar.zst")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zstd.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	const size = 64 << 20
	name := "blobs/sha256/" + strings.Repeat("0", 64)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range size / len(zeros) {
		if _, err := tw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []interface{ Close() error }{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
