package cas

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

// DamagedError is the failure of a database file that is damaged or
// missing, such as a table file with bit rot or one removed by hand. It
// matches errdef.ErrStoreDamaged. The store wraps it in a *StoreError, so
// IsStoreError reports it too.
type DamagedError struct {
	// Dir is the database folder.
	Dir string
	// File is the path of the damaged or missing file, as Pebble names it.
	File string
	// Digest is a digest that the keys in the damaged file name, such as
	// a blob whose chunks it contains or a DB layer whose lookup index it
	// contains. It is empty when the keys name none or are not known.
	Digest digest.Digest
	// Problem is a verb phrase about File, such as "is missing", that
	// completes the message.
	Problem string
}

// Error returns a message that names the file and its problem.
func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("the store is damaged: its file %s %s", e.File, e.Problem)
	if e.File == e.Dir {
		// The damage is known to be in the database but in no one file.
		msg = fmt.Sprintf("the store is damaged: its database %s %s", e.File, e.Problem)
	}
	if e.Digest != "" {
		msg += fmt.Sprintf(", and it contains data of %s", e.Digest)
	}
	return msg
}

// Is makes a DamagedError match errdef.ErrStoreDamaged.
func (e *DamagedError) Is(target error) bool { return target == errdef.ErrStoreDamaged }

// damageRecord keeps the first corruption that Pebble reported, which may
// come from a background compaction that returns its error to no caller.
type damageRecord struct {
	mu    sync.Mutex
	first *DamagedError
}

// reportCorruption records the damaged file of Pebble's DataCorruption
// event. Pebble's default handler calls Logger.Fatalf, which panics in
// pebbleLogger, and a panic on a compaction goroutine cannot be recovered.
// This handler returns, which Pebble v2.1.7 allows. The read that found the
// corruption then returns it as an error, and a compaction reports it as a
// background error and skips that key range for some minutes.
func (s *Store) reportCorruption(info pebble.DataCorruptionInfo) {
	damage := &DamagedError{Dir: s.dir, File: info.Path, Problem: corruptionProblem(info.Details),
		Digest: boundsDigest(info.Bounds.Start, info.Bounds.End.Key)}
	s.damage.mu.Lock()
	if s.damage.first == nil {
		s.damage.first = damage
	}
	s.damage.mu.Unlock()
	s.log.Debug("pebble: on-disk corruption", "file", info.Path, "bounds", info.Bounds.String(),
		"error", info.Details)
}

// Damage returns the first damage of a database file that Pebble found
// since Open, as a *StoreError wrapping a *DamagedError, or nil. A
// background compaction may find damage that no call of the store
// returned.
func (s *Store) Damage() error {
	s.damage.mu.Lock()
	defer s.damage.mu.Unlock()
	if s.damage.first == nil {
		return nil
	}
	return &StoreError{Dir: s.dir, Err: s.damage.first}
}

// damageError returns err as a *DamagedError when it is a corruption that
// Pebble found in a file, or nil.
func (s *Store) damageError(err error) *DamagedError {
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		return &DamagedError{Dir: s.dir, File: info.Path, Problem: corruptionProblem(info.Details),
			Digest: boundsDigest(info.Bounds.Start, info.Bounds.End.Key)}
	}
	if !pebble.IsCorruptionError(err) {
		return nil
	}
	s.damage.mu.Lock()
	first := s.damage.first
	s.damage.mu.Unlock()
	if first != nil {
		return first
	}
	return &DamagedError{Dir: s.dir, File: s.dir, Problem: corruptionProblem(err)}
}

// corruptionProblem returns the Problem of a DamagedError for Pebble's
// error err: its first line, which names the block and the failed check.
func corruptionProblem(err error) string {
	text := "is corrupt"
	if err == nil {
		return text
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return text + " (" + line + ")"
}

// digestPattern matches a SHA-256 digest inside a key.
var digestPattern = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// boundsDigest returns the digest that both bounds of a damaged key range
// name, or "" when they name none or different ones.
func boundsDigest(start, end []byte) digest.Digest {
	first := digestPattern.Find(start)
	if first == nil || string(digestPattern.Find(end)) != string(first) {
		return ""
	}
	return digest.Digest(first)
}

// Pebble's consistency check at open reports a missing or resized table
// file with these messages, which carry no error type to test for
// (checkConsistency in open.go and Lookup in objstorageprovider, v2.1.7).
var (
	missingTablePattern = regexp.MustCompile(`L\d+: (\d+): file \d+ \(type sstable\) unknown to the objstorage provider`)
	tableSizePattern    = regexp.MustCompile(`object size mismatch \(([^)]+)\): (\d+) \(disk\) != (\d+) \(MANIFEST\)`)
	// Pebble's load of its MANIFEST file reports a missing, unreadable or
	// malformed file with these messages (loadManifest in version_set.go,
	// v2.1.7).
	missingManifestPattern = regexp.MustCompile(`pebble: could not open manifest file "(MANIFEST-\d+)"`)
	badManifestPattern     = regexp.MustCompile(`pebble: (?:error when loading|malformed) manifest file "(MANIFEST-\d+)"`)
)

// openDamage returns the error of pebble.Open as a *DamagedError when it
// reports a table file that is missing or whose size differs from the one
// that the database recorded, or nil.
func openDamage(dir string, err error) *DamagedError {
	text := err.Error()
	if m := missingTablePattern.FindStringSubmatch(text); m != nil && errors.Is(err, fs.ErrNotExist) {
		return &DamagedError{Dir: dir, File: filepath.Join(dir, m[1]+".sst"), Problem: "is missing"}
	}
	if m := missingManifestPattern.FindStringSubmatch(text); m != nil && errors.Is(err, fs.ErrNotExist) {
		return &DamagedError{Dir: dir, File: filepath.Join(dir, m[1]), Problem: "is missing"}
	}
	if m := badManifestPattern.FindStringSubmatch(text); m != nil {
		line, _, _ := strings.Cut(text, "\n")
		return &DamagedError{Dir: dir, File: filepath.Join(dir, m[1]), Problem: "is corrupt (" + line + ")"}
	}
	if m := tableSizePattern.FindStringSubmatch(text); m != nil {
		return &DamagedError{Dir: dir, File: m[1],
			Problem: fmt.Sprintf("has %s bytes, but the database recorded %s", m[2], m[3])}
	}
	return nil
}

// closeDB closes the database and returns a panic of Pebble's Close as an
// error, so that Close still releases the lock. After a fatal error that
// write recovered, the call that Pebble stopped may still hold references
// to cached blocks, and Close then panics ("element has outstanding
// references" in v2.1.7). A deferred Close that runs while such a panic
// unwinds must not raise a second one.
func (s *Store) closeDB() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble: closing the database failed: %v", r)
			s.log.Error("closing the database failed after an earlier error", "dir", s.dir, "error", err)
		}
	}()
	return s.db.Close()
}
