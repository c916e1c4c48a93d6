package cas

import (
	"fmt"
	"path/filepath"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
)

// Pebble finds its database through two marker files: marker.manifest.*
// names the current MANIFEST file, and marker.format-version.* the format
// of the database. Without the manifest marker, Pebble takes a folder for
// one that holds no database, creates a new one in it and deletes every
// table file it finds there as obsolete.
const (
	manifestMarkerPrefix = "marker.manifest."
	formatMarkerPrefix   = "marker.format-version."
)

// isDatabaseFile reports whether name is a file that holds data of a
// database: a table file, a blob file of Pebble, or the store ID, which
// the first open for writing adds once Pebble has created the database.
// A new database that an open left unfinished has none of them, and
// Pebble may start it again without loss.
func isDatabaseFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob") || name == storeIDFile
}

// checkDatabaseFiles checks, before Pebble opens the database folder, that
// it either holds a database that Pebble can find or holds no data. A
// folder with data of a database but without one of its markers is damaged: an
// open would create a new database over it and delete its tables, so
// checkDatabaseFiles returns a *StoreError with a *DamagedError instead.
// A folder without a database is an error wrapping errdef.ErrNotFound when
// mustExist is set, as a missing folder is.
func (s *Store) checkDatabaseFiles(mustExist bool) error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		// Pebble's open then fails on the folder too, with a more precise
		// error, such as one for a folder this user may not read.
		return nil
	}
	var manifestMarker, formatMarker, data bool
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, manifestMarkerPrefix):
			manifestMarker = true
		case strings.HasPrefix(name, formatMarkerPrefix):
			formatMarker = true
		}
		if isDatabaseFile(name) {
			data = true
		}
	}
	missing := ""
	switch {
	case manifestMarker && formatMarker:
		return nil
	case !data:
		if mustExist && !manifestMarker {
			return fmt.Errorf("opening store %s: the database is missing from the folder: %w; this open creates no store",
				s.dir, errdef.ErrNotFound)
		}
		// Nothing of value is there to lose.
		return nil
	case !manifestMarker:
		missing = manifestMarkerPrefix + "*"
	default:
		missing = formatMarkerPrefix + "*"
	}
	damage := &DamagedError{Dir: s.dir, File: filepath.Join(s.dir, missing),
		Problem: "is missing, though the folder holds table files: without that marker the database cannot be " +
			"found, and opening it would replace it with an empty one, so it was left as it is"}
	return fmt.Errorf("opening store %s: %w", s.dir, &StoreError{Dir: s.dir, Err: damage})
}
