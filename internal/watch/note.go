package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Note records why import rejected a kit, and the fingerprint of the file
// or layout folder it saw.
type Note struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	// Files is the number of files under a layout folder, 0 for a file.
	Files int `json:"files,omitempty"`
	// Inode and ChangeTime complete the fingerprint, as Candidate
	// describes them.
	Inode      uint64    `json:"inode,omitempty"`
	ChangeTime time.Time `json:"changeTime,omitzero"`
	Digest     string    `json:"digest,omitempty"`
	Version    string    `json:"version,omitempty"`
	// Sequence is the kit's sequence number, or nil when it could not be
	// read. A kit that becomes older than the active kit is skipped, not
	// kept rejected, even when the scan does not read it again.
	Sequence *int64 `json:"sequence,omitempty"`
	Reason   string `json:"reason"`
	// Retry is the operator's way to make the watch try the kit again.
	Retry string    `json:"retry,omitempty"`
	At    time.Time `json:"at"`
	// Active is the active kit digest at the time; a delta rejected for a
	// missing base is retried once the active kit changes.
	Active string `json:"active,omitempty"`
	// RetryOnActiveChange marks a rejection that a new active kit may cure.
	RetryOnActiveChange bool `json:"retryOnActiveChange,omitempty"`
	// Conflict marks a rejection because another kit of the same sequence
	// is in the drop folder. It is reconsidered every round, since removing
	// the other file ends it.
	Conflict bool `json:"conflict,omitempty"`
	// Keys identifies the trusted keys of a rejection for the kit's
	// signature, as KeySetID returns it; empty for other rejections. The
	// kit is tried again once the trusted keys differ, as after the
	// builder's key is put into the store's keys folder.
	Keys string `json:"keys,omitempty"`
	// Store is the store folder of the watch that wrote the note, as
	// StoreIdentity returns it. A rejection depends on the store's trusted
	// keys and active kit, so only that store's watch honours the note.
	// Notes of older versions have no store, and no watch honours them.
	Store string `json:"store,omitempty"`
	// StoreID is the ID of that store (see StoreRef), when it had one.
	StoreID string `json:"storeId,omitempty"`
}

// StoreRef names the store of a watch: its folder, as StoreIdentity
// returns it, and the random ID that the store keeps, or "" before the
// store exists. Two stores with the same path on two hosts that share a
// drop folder have different IDs, and one store reached through a bind
// mount has one ID.
type StoreRef struct {
	Path string
	ID   string
}

// WrittenBy reports whether the watch of store wrote n. When both the
// note and store have an ID, the IDs decide; otherwise the paths do. A
// note without a store belongs to no watch.
func (n Note) WrittenBy(store StoreRef) bool {
	if n.Store == "" && n.StoreID == "" {
		return false
	}
	if n.StoreID != "" && store.ID != "" {
		return n.StoreID == store.ID
	}
	return n.Store != "" && n.Store == store.Path
}

// Foreign reports whether the watch of another store than store wrote n.
// A note without a store is not foreign: any watch may replace or remove
// it.
func (n Note) Foreign(store StoreRef) bool {
	return (n.Store != "" || n.StoreID != "") && !n.WrittenBy(store)
}

// StoreIdentity returns the identity that notes record for the store
// folder dir: its absolute path with symbolic links resolved. Links are
// resolved in the longest part of the path that exists, so the identity
// of a store folder not created yet stays the same once it is.
func StoreIdentity(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(resolved, rest)
		}
		if filepath.Dir(p) == p {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// noteTempSuffix is appended to a note's name while it is written.
const noteTempSuffix = ".tmp"

// NoteFor returns a note with the fingerprint of c, for the caller to
// complete.
func NoteFor(c Candidate) Note {
	return Note{Size: c.Size, ModTime: c.ModTime, Files: c.Files, Inode: c.Inode, ChangeTime: c.ChangeTime}
}

// Fingerprint returns the fingerprint of the kit that n rejected.
func (n Note) Fingerprint() Fingerprint {
	return Fingerprint{Size: n.Size, ModTime: n.ModTime, Files: n.Files, Inode: n.Inode, ChangeTime: n.ChangeTime}
}

// NotePath returns the note file of a kit: its path with NoteSuffix.
func NotePath(kit string) string { return kit + NoteSuffix }

// ReadNote returns the rejection note of a kit, or false when there is
// none or it cannot be read.
func ReadNote(kit string) (Note, bool) {
	f, err := os.Open(NotePath(kit))
	if err != nil {
		return Note{}, false
	}
	defer f.Close()
	// A note the watch wrote is a few KiB; a larger file of that name is
	// not one, and is not read into memory every round.
	raw, err := io.ReadAll(io.LimitReader(f, maxNoteSize+1))
	if err != nil || len(raw) > maxNoteSize {
		return Note{}, false
	}
	var n Note
	if json.Unmarshal(raw, &n) != nil {
		return Note{}, false
	}
	return n, true
}

// maxNoteSize bounds the rejection note ReadNote reads, and maxReason the
// reason WriteNote writes, well inside it.
const (
	maxNoteSize = 64 << 10
	maxReason   = 16 << 10
)

// Stale reports whether a note no longer applies: the kit file or folder
// changed since, or the note requests a retry once the active kit changes
// and it has changed.
func (n Note) Stale(c Candidate, active string) bool {
	if !n.Fingerprint().Equal(c.Fingerprint()) {
		return true
	}
	return n.RetryOnActiveChange && n.Active != active
}

// KeysChanged reports whether the note rejects a kit for its signature
// and the trusted keys, as keys identifies them, differ from those of the
// rejection.
func (n Note) KeysChanged(keys string) bool {
	return n.Keys != "" && n.Keys != keys
}

// KeySetID identifies a set of trusted keys by their IDs, in any order:
// the hex SHA-256 of the sorted IDs, one per line.
func KeySetID(ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(sum[:])
}

// NoteReason returns reason as WriteNote stores it: cut after maxReason
// bytes, at a character boundary, and marked as cut. A caller compares a
// stored reason with NoteReason of a new one.
func NoteReason(reason string) string {
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + " (cut)"
}

// WriteNote writes the rejection note of a kit beside it.
func WriteNote(kit string, n Note) error {
	n.Reason = NoteReason(n.Reason)
	raw, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	tmp := NotePath(kit) + noteTempSuffix
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing rejection note of %s: %w", kit, err)
	}
	if err := os.Rename(tmp, NotePath(kit)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing rejection note of %s: %w", kit, err)
	}
	return nil
}

// RemoveNote deletes the rejection note of a kit, if any.
func RemoveNote(kit string) error {
	err := os.Remove(NotePath(kit))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing rejection note of %s: %w", kit, err)
	}
	return nil
}

// isOrphanNote reports whether path is a rejection note that the watch
// wrote for a kit that is gone. A file with the note suffix that does not
// parse as a note is not the watch's, so it is never an orphan.
func isOrphanNote(path string) bool {
	kit := strings.TrimSuffix(path, NoteSuffix)
	if _, err := os.Lstat(kit); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	n, ok := ReadNote(kit)
	return ok && n.Reason != "" && !n.At.IsZero()
}
