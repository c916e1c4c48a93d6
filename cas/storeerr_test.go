package cas

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"stella-ops.org/ouk/internal/errdef"
)

func TestPushReadOnlyVolumeIsStoreError(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"write-ahead log", 1000},
		{"ingested table", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFullFS(vfs.NewMem(), 1<<40)
			s := openTest(t, "/store", Options{fs: fs})
			fs.errno = syscall.EROFS
			fs.setBudget(0)
			data := randomBytes(21, tc.size)
			err := s.Push(context.Background(), descOf(data, ""), bytes.NewReader(data))
			if !errors.Is(err, syscall.EROFS) {
				t.Fatalf("Push on a read-only volume: err = %v, want EROFS", err)
			}
			var se *StoreError
			if !errors.As(err, &se) {
				t.Fatalf("Push on a read-only volume: err = %v (%T), want a *StoreError", err, err)
			}
			if se.Dir != "/store" {
				t.Errorf("StoreError.Dir = %q, want /store", se.Dir)
			}
		})
	}
}

func TestBrokenStoreWriteIsStoreError(t *testing.T) {
	fs := newFullFS(vfs.NewMem(), 1<<40)
	s, err := Open("/store", Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs.errno = syscall.EIO
	fs.setBudget(0)
	data := randomBytes(22, 1000) // below ingestThreshold, so it goes through the log
	if err := s.Push(context.Background(), descOf(data, ""), bytes.NewReader(data)); !IsStoreError(err) {
		t.Fatalf("Push with a failing log: err = %v, want a *StoreError", err)
	}

	fs.setBudget(1 << 30)
	other := randomBytes(23, 1000)
	err = s.Push(context.Background(), descOf(other, ""), bytes.NewReader(other))
	if !strings.Contains(err.Error(), "cannot write after an earlier error") {
		t.Fatalf("Push after the fatal error: err = %v, want the broken store's error", err)
	}
	if !IsStoreError(err) {
		t.Errorf("Push after the fatal error: err = %v (%T), want a *StoreError", err, err)
	}
}

func TestDigestMismatchIsNotStoreError(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	data := randomBytes(24, 1000)
	desc := descOf(data, "")
	data[0] ^= 1
	err := s.Push(context.Background(), desc, bytes.NewReader(data))
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("Push of altered data: err = %v, want ErrDigestMismatch", err)
	}
	if IsStoreError(err) {
		t.Errorf("Push of altered data: err = %v is a *StoreError, but the data is at fault", err)
	}
}

func TestActiveRecordErrors(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	_, err := s.Active(context.Background())
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("Active without a kit: err = %v, want ErrNotFound", err)
	}
	if IsStoreError(err) {
		t.Errorf("Active without a kit: err = %v is a *StoreError", err)
	}

	if err := s.db.Set([]byte(keyActive), []byte("{not json"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Active(context.Background()); !IsStoreError(err) {
		t.Errorf("Active with a damaged record: err = %v (%T), want a *StoreError", err, err)
	}
}

func TestHistoryDamagedEntryIsStoreError(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	if err := s.db.Set([]byte(prefixHistory+"00000000000000000001"), []byte("{"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History(context.Background()); !IsStoreError(err) {
		t.Errorf("History with a damaged entry: err = %v (%T), want a *StoreError", err, err)
	}
}
