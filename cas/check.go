package cas

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// CheckTables runs Pebble's consistency check (DB.CheckLevels in v2.1.7)
// over the whole database and returns the number of point keys it read.
// The check reads every key of every table and memtable, so Pebble checks
// the checksum of each block, and it checks that the keys are in order
// within each table and across levels. A damaged block returns a
// *StoreError wrapping a *DamagedError, and so does a failed order check.
// It writes nothing, so it works on a store open read-only.
func (s *Store) CheckTables() (int64, error) {
	var stats pebble.CheckLevelsStats
	err := s.db.CheckLevels(&stats)
	if err == nil {
		return stats.NumPoints, nil
	}
	if damage := s.damageError(err); damage != nil {
		return stats.NumPoints, &StoreError{Dir: s.dir, Err: damage}
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return stats.NumPoints, &StoreError{Dir: s.dir, Err: &DamagedError{Dir: s.dir, File: s.dir,
		Problem: fmt.Sprintf("failed Pebble's consistency check (%s)", line)}}
}
