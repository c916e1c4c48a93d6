package cas

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"stella-ops.org/ouk/internal/errdef"
)

// leftoverFS reports free space that is short by the size of one file,
// as a volume that a table left by a crashed push fills.
type leftoverFS struct {
	vfs.FS
	leftover string
	free     int64
}

func (f *leftoverFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	avail := f.free
	if info, err := f.FS.Stat(f.leftover); err == nil {
		avail -= info.Size()
	}
	return vfs.DiskUsage{AvailBytes: uint64(max(avail, 0)), TotalBytes: 1 << 30}, nil
}

func (f *leftoverFS) Unwrap() vfs.FS { return f.FS }

// writeLeftover creates the file name of size bytes in fsys.
func writeLeftover(t *testing.T, fsys vfs.FS, name string, size int) {
	t.Helper()
	f, err := fsys.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A table that a crashed push left in the ingest folder holds space that
// an open for writing needs. Open must remove it before it checks the
// free space, and a read-only open must leave it alone.
func TestOpenRemovesIngestLeftoverBeforeSpaceCheck(t *testing.T) {
	mem := vfs.NewMem()
	s, err := Open("/store", Options{fs: mem})
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, randomBytes(8, 4000), "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mem.MkdirAll("/store/"+ingestDir, 0o755); err != nil {
		t.Fatal(err)
	}
	leftover := "/store/" + ingestDir + "/000001.sst"
	writeLeftover(t, mem, leftover, 8<<20)
	fs := &leftoverFS{FS: mem, leftover: leftover, free: 8<<20 + 512<<10}

	ro, err := Open("/store", Options{fs: fs, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat(leftover); err != nil {
		t.Fatalf("read-only Open removed the leftover table: %v", err)
	}

	s, err = Open("/store", Options{fs: fs})
	if errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("Open with a leftover table that holds the space it needs: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := mem.Stat(leftover); err == nil {
		t.Errorf("Open for writing kept the leftover table %s", leftover)
	}
}

// DiskUsage counts a table in the ingest folder, so that the store's size
// shows the space a crashed push left.
func TestDiskUsageCountsIngestFolder(t *testing.T) {
	mem := vfs.NewMem()
	s := openTest(t, "/store", Options{fs: mem})
	before, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.MkdirAll("/store/"+ingestDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeLeftover(t, mem, "/store/"+ingestDir+"/000002.sst", 1<<20)
	after, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 1<<20 {
		t.Errorf("DiskUsage grew by %d bytes for a 1 MiB table in %s, want %d", after-before, ingestDir, 1<<20)
	}
}
