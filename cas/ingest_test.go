package cas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

func TestPushLargeBlobIngested(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{ChunkSize: 256 << 10})
	data := randomBytes(11, ingestThreshold*3+12345)
	desc := push(t, s, data, "")
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes differ from the %d pushed", len(got), len(data))
	}
	names, _ := os.ReadDir(filepath.Join(dir, ingestDir))
	if len(names) != 0 {
		t.Errorf("ingest folder keeps %d files after a push", len(names))
	}
}

// TestPushLayerSkipsLog pushes a blob of the size of a nightly DB overlay
// and checks that its chunks were ingested, not written to the log.
func TestPushLayerSkipsLog(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	data := randomBytes(13, 1<<20)
	desc := push(t, s, data, "")
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes differ from the %d pushed", len(got), len(data))
	}
	m := s.db.Metrics()
	if m.Ingest.Count == 0 {
		t.Error("the blob's chunks were not ingested")
	}
	if m.WAL.BytesIn > 64<<10 {
		t.Errorf("the write-ahead log took %d bytes for a blob of %d", m.WAL.BytesIn, len(data))
	}
}

func TestPushLargeBlobMismatchLeavesNothing(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 256 << 10})
	data := randomBytes(12, ingestThreshold+1)
	desc := descOf(data, "")

	bad := bytes.Clone(data)
	bad[0] ^= 1
	if err := s.Push(context.Background(), desc, bytes.NewReader(bad)); !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("Push error = %v, want ErrDigestMismatch", err)
	}
	assertAbsent(t, s, desc.Digest)

	err := s.Push(context.Background(), desc, bytes.NewReader(data[:len(data)/2]))
	if !errors.Is(err, errdef.ErrSizeMismatch) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short Push error = %v, want ErrSizeMismatch and io.ErrUnexpectedEOF", err)
	}
	assertAbsent(t, s, desc.Digest)

	// The same blob pushed correctly afterwards is stored whole.
	push(t, s, data, "")
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatalf("blob pushed after failed attempts differs")
	}
}

func TestOpenRemovesIngestLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	s.Close()
	leftover := filepath.Join(dir, ingestDir, "0123456789abcdef-00.sst")
	os.MkdirAll(filepath.Dir(leftover), 0o755)
	if err := os.WriteFile(leftover, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir, Options{})
	if _, err := os.Stat(leftover); err == nil {
		t.Errorf("Open kept the leftover sstable %s", leftover)
	}
}

func TestGCReclaimsLargeBlobSpace(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	data := randomBytes(13, 24<<20)
	push(t, s, data, "")
	before, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	report, err := s.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Removed != 1 {
		t.Fatalf("GC removed %d blobs, want the one unreferenced blob", report.Removed)
	}
	// Pebble deletes obsolete files in the background, so give it a moment.
	var after int64
	for range 50 {
		if after, err = s.DiskUsage(); err != nil {
			t.Fatal(err)
		}
		if before-after >= int64(len(data))/2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if before-after < int64(len(data))/2 {
		t.Errorf("disk usage went from %d to %d bytes after removing a %d byte blob", before, after, len(data))
	}
}
