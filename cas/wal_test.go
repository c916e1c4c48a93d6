package cas

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLogsReserveLittleAhead writes enough through batches that Pebble's
// growing memtables fill several times, each leaving a write-ahead log
// behind, and checks that no log takes much more disk than its records.
// Pebble would reserve about 70 MiB for each.
func TestLogsReserveLittleAhead(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	st := s.KV("wal-test")
	value := make([]byte, 64<<10)
	for i := range 64 {
		b := st.NewBatch()
		if err := b.Set(fmt.Appendf(nil, "k%03d", i), value); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	logs := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".log") {
			return err
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		logs++
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			t.Skip("the file system does not report allocated blocks")
		}
		if allocated := st.Blocks * 512; allocated > info.Size()+maxPreallocation+1<<20 {
			t.Errorf("log %s takes %d bytes on disk for %d bytes of records", filepath.Base(path), allocated, info.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if logs < 2 {
		t.Fatalf("the batches left %d write-ahead logs, want several for the test to mean anything", logs)
	}
}
