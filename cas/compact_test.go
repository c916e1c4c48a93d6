package cas

import (
	"context"
	"errors"
	iofs "io/fs"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// tablesFullFS fails the writes to table files with ENOSPC while full is
// set. The write-ahead log still takes records, as on a volume that filled
// after the log reserved its space, so a commit succeeds and only the
// flush that follows fails.
type tablesFullFS struct {
	vfs.FS
	full atomic.Bool
}

func (f *tablesFullFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return file, err
	}
	return &tableFile{File: file, fs: f, name: name}, nil
}

func (f *tablesFullFS) Unwrap() vfs.FS { return f.FS }

// tableFile is a table file of a tablesFullFS.
type tableFile struct {
	vfs.File
	fs   *tablesFullFS
	name string
}

func (f *tableFile) Write(p []byte) (int, error) {
	if f.fs.full.Load() {
		return 0, &iofs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

// waitWithin runs fn and returns its error, or fails the test when fn
// still runs after a minute: the bound catches a wait without end, not a
// slow call.
func waitWithin(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s still waits a minute after the volume filled", what)
		return nil
	}
}

// waitVolumeNotFull polls VolumeFull until a flush or compaction that
// succeeded cleared it, for up to a minute.
func waitVolumeNotFull(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.VolumeFull() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("VolumeFull still returns %v a minute after the volume has room", s.VolumeFull())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCompactRangeOnFullVolume(t *testing.T) {
	fs := &tablesFullFS{FS: vfs.NewMem()}
	s := openTest(t, "/store", Options{fs: fs})
	store := s.KV("test")
	batch := store.NewBatch()
	if err := batch.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(true); err != nil {
		t.Fatal(err)
	}
	compacter := store.(kv.Compacter)

	// The key is in the memtable, so the compaction needs a flush first,
	// which Pebble retries without end while no table can be written.
	fs.full.Store(true)
	err := waitWithin(t, "CompactRange", func() error {
		return compacter.CompactRange(context.Background(), []byte("a"), []byte("b"))
	})
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Errorf("CompactRange on a full volume: err = %v, want errdef.ErrDiskFull", err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("CompactRange on a full volume: err = %v, want the ENOSPC of the flush", err)
	}
	if full := s.VolumeFull(); !errors.Is(full, errdef.ErrDiskFull) {
		t.Errorf("VolumeFull after a failed flush = %v, want errdef.ErrDiskFull", full)
	}

	fs.full.Store(false)
	waitVolumeNotFull(t, s)
	if err := compacter.CompactRange(context.Background(), []byte("a"), []byte("b")); err != nil {
		t.Errorf("CompactRange once the volume has room: %v", err)
	}
}

func TestDeleteLargeBlobOnFullVolume(t *testing.T) {
	fs := &tablesFullFS{FS: vfs.NewMem()}
	s := openTest(t, "/store", Options{fs: fs})
	desc := push(t, s, randomBytes(21, ingestThreshold+1), "")

	// Delete commits through the write-ahead log and then compacts the
	// blob's range, which waits for a flush of that commit.
	fs.full.Store(true)
	err := waitWithin(t, "Delete", func() error { return s.Delete(context.Background(), desc) })
	if err != nil {
		t.Errorf("Delete on a full volume: %v, want nil, because the blob is removed and only its compaction waits for gc", err)
	}
	if ok, _ := s.Exists(context.Background(), desc); ok {
		t.Errorf("blob exists after Delete on a full volume")
	}
	fs.full.Store(false)
	waitVolumeNotFull(t, s)

	report, err := s.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatalf("GC once the volume has room: %v", err)
	}
	if report.LeftoverRemoved != 1 {
		t.Errorf("GC compacted %d ranges of removed blobs, want the 1 that Delete left", report.LeftoverRemoved)
	}
}
