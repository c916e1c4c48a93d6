package cas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// storeWithTables pushes a blob into a new store in dir, flushes it into
// table files and closes the store. It returns the blob's descriptor and
// the table files.
func storeWithTables(t *testing.T, dir string) (ocispec.Descriptor, []string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	desc := push(t, s, randomBytes(7, 256<<10), ocispec.MediaTypeImageLayer)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("listing the table files of %s: %v, %d found", dir, err, len(tables))
	}
	return desc, tables
}

func TestDamagedTableRead(t *testing.T) {
	dir := t.TempDir()
	desc, tables := storeWithTables(t, dir)
	// Only the largest table, which holds the blob's data, is damaged, so
	// that the read of the blob's metadata in the other tables succeeds
	// and the error can name the blob whose data is lost.
	largest, largestSize := "", int64(-1)
	for _, table := range tables {
		info, err := os.Stat(table)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > largestSize {
			largest, largestSize = table, info.Size()
		}
	}
	f, err := os.OpenFile(largest, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte("QQQQQQQQ"), 100)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of a store with a damaged data block: %v", err)
	}
	rc, err := s.Fetch(context.Background(), desc)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, errdef.ErrStoreDamaged) {
		t.Fatalf("reading a blob from a damaged table: %v, want an error matching ErrStoreDamaged", err)
	}
	if !IsStoreError(err) {
		t.Errorf("the damage is no *StoreError: %v", err)
	}
	var damage *DamagedError
	if !errors.As(err, &damage) {
		t.Fatalf("the damage is no *DamagedError: %v", err)
	}
	if filepath.Dir(damage.File) != dir || filepath.Ext(damage.File) != ".sst" {
		t.Errorf("damaged file %q, want a table file in %s", damage.File, dir)
	}
	if !strings.Contains(damage.Problem, "checksum mismatch") {
		t.Errorf("problem %q does not name the failed checksum", damage.Problem)
	}
	if damage.Digest != desc.Digest {
		t.Errorf("damaged data of %q, want the blob %s", damage.Digest, desc.Digest)
	}
	if !errors.Is(s.Damage(), errdef.ErrStoreDamaged) {
		t.Errorf("Damage() = %v after a read found damage", s.Damage())
	}
	if err := s.Close(); err != nil {
		t.Errorf("closing the damaged store: %v", err)
	}
}

func TestOpenMissingTable(t *testing.T) {
	dir := t.TempDir()
	_, tables := storeWithTables(t, dir)
	if err := os.Remove(tables[0]); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a store without one of its table files succeeded")
	}
	if !errors.Is(err, errdef.ErrStoreDamaged) {
		t.Errorf("Open: %v, want an error matching ErrStoreDamaged", err)
	}
	if !IsStoreError(err) {
		t.Errorf("Open: %v, want a *StoreError", err)
	}
	if want := tables[0] + " is missing"; !strings.Contains(err.Error(), want) {
		t.Errorf("Open: %q does not contain %q", err, want)
	}
	// The failed open released the lock.
	s, err = Open(dir, Options{ReadOnly: true})
	if !errors.Is(err, errdef.ErrStoreDamaged) {
		t.Errorf("second Open: %v, want an error matching ErrStoreDamaged", err)
	}
	if s != nil {
		s.Close()
	}
}

func TestCloseAfterLeakedIterator(t *testing.T) {
	dir := t.TempDir()
	storeWithTables(t, dir)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An iterator that a recovered panic left open, with a block pinned in
	// the cache, makes Pebble's Close panic.
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !it.First() {
		t.Fatalf("the store has no keys: %v", it.Error())
	}
	if err := s.Close(); err == nil {
		t.Error("Close with a leaked iterator returned no error")
	}
	// Close released the lock.
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after a failed Close: %v", err)
	}
	s.Close()
}

// Damage that Pebble found in the background, which no read returned,
// still keeps a kit from being activated, because the damaged file may
// hold its blobs or lookup keys.
func TestActivateRefusedAfterBackgroundDamage(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bundle := push(t, s, []byte(`{"schemaVersion":2,"manifests":[]}`), ocispec.MediaTypeImageIndex)
	s.reportCorruption(pebble.DataCorruptionInfo{Path: filepath.Join(s.Dir(), "000009.sst"),
		Details: errors.New("block 0/100: crc32c checksum mismatch")})

	err = s.Activate(ctx, KitRecord{Digest: bundle.Digest, Version: "1", Sequence: 1})
	if !errors.Is(err, errdef.ErrStoreDamaged) {
		t.Fatalf("Activate after background damage: %v, want an error matching ErrStoreDamaged", err)
	}
	if _, err := s.Active(ctx); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a kit is active after the refused activation: %v", err)
	}
}

// A missing or damaged MANIFEST file, the list of the database's tables,
// is reported as a damaged store, as a damaged table file is.
func TestOpenDamagedManifest(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"missing": func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
		"overwritten": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(bytes.Repeat([]byte{0xde, 0xad}, 8), 20)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			storeWithTables(t, dir)
			manifests, err := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
			if err != nil || len(manifests) == 0 {
				t.Fatalf("listing the MANIFEST files of %s: %v, %d found", dir, err, len(manifests))
			}
			slices.Sort(manifests)
			current := manifests[len(manifests)-1]
			damage(t, current)

			s, err := Open(dir, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open of a store with a damaged MANIFEST file succeeded")
			}
			if !errors.Is(err, errdef.ErrStoreDamaged) {
				t.Errorf("Open: %v, want an error matching ErrStoreDamaged", err)
			}
			if !strings.Contains(err.Error(), current) {
				t.Errorf("Open: %q does not name %s", err, current)
			}
		})
	}
}
