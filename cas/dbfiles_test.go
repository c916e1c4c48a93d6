package cas

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// markerFile returns the path of the database's marker file that starts
// with prefix.
func markerFile(t *testing.T, dir, prefix string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, prefix+"*"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("finding %s* in %s: %v %v", prefix, dir, matches, err)
	}
	return matches[0]
}

// A database folder that lost one of Pebble's marker files is reported as
// damaged, and the open leaves its table files in place: Pebble would
// take the folder for a new database and delete them.
func TestOpenMissingMarkerKeepsTables(t *testing.T) {
	for _, prefix := range []string{manifestMarkerPrefix, formatMarkerPrefix} {
		t.Run(strings.TrimSuffix(prefix, "."), func(t *testing.T) {
			dir := t.TempDir()
			_, tables := storeWithTables(t, dir)
			if err := os.Remove(markerFile(t, dir, prefix)); err != nil {
				t.Fatal(err)
			}
			for _, opts := range []Options{{}, {MustExist: true}, {ReadOnly: true}} {
				s, err := Open(dir, opts)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%+v) of a store without %s* succeeded", opts, prefix)
				}
				if !errors.Is(err, errdef.ErrStoreDamaged) {
					t.Errorf("Open(%+v): %v, want an error matching ErrStoreDamaged", opts, err)
				}
				if !strings.Contains(err.Error(), prefix+"*") {
					t.Errorf("Open(%+v): %q does not name the missing marker", opts, err)
				}
				for _, table := range tables {
					if _, err := os.Stat(table); err != nil {
						t.Errorf("Open(%+v) removed the table file %s: %v", opts, table, err)
					}
				}
			}
		})
	}
}

// An empty database folder is no store for an open that must find one,
// and a new store for one that may create it.
func TestOpenEmptyDatabaseFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MustExist: true})
	if err == nil {
		s.Close()
		t.Fatal("Open with MustExist of an empty folder succeeded")
	}
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open with MustExist of an empty folder: %v, want an error matching ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, manifestMarkerPrefix)); err == nil {
		t.Error("Open with MustExist created a database")
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of an empty folder: %v", err)
	}
	s.Close()
	markerFile(t, dir, manifestMarkerPrefix)
}
