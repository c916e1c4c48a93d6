// Package watch finds kits and deltas in a drop folder, orders them by
// sequence, finds kits of the same sequence that conflict and remembers the
// ones import rejected. A rejection is kept in a
// note file beside the kit, so the kit is not retried every round unless the
// file changes.
package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// NoteSuffix is appended to a kit's name to form its rejection note.
const NoteSuffix = ".stella-rejected"

// kitSuffixes are the file name endings, in lower case, that a drop folder
// scan considers kits. The scan compares them case-insensitively, because
// FAT media often store names in capitals.
var kitSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"}

// Candidate is one kit file or layout folder found in the drop folder.
type Candidate struct {
	Path  string
	IsDir bool
	// Size, ModTime, Files, Inode and ChangeTime fingerprint the kit, so a
	// rejected kit is retried once it changes. For a file they are its
	// size, modification time, 0, inode number and status change time
	// (ctime). For a layout folder they are the total size of the files
	// under it, the latest modification time of the folder or any entry
	// under it, the number of files, the folder's inode number and the
	// latest status change time of the folder or any entry under it. The
	// folder's own size and modification time would not do, because they
	// stay the same while a file inside it grows.
	//
	// The inode and change time tell apart two copies that keep the size
	// and modification time, as cp -p and rsync -t make them. A copy over
	// the old file keeps its inode but sets its change time, and a copy
	// that replaces the file gives it a new inode.
	Size       int64
	ModTime    time.Time
	Files      int
	Inode      uint64
	ChangeTime time.Time
	// StatTime is the time at which Scan took the fingerprint, or zero
	// for a candidate that Scan did not list. Racy compares it with the
	// fingerprint's times.
	StatTime time.Time
	// Summary is nil when PeekErr is set, or when NotPeeked is.
	Summary *delta.Summary
	// PeekErr is the error that kept the kit's sequence from being read.
	PeekErr error
	// NotPeeked is set when the scan did not read the kit, because a
	// current rejection note beside it keeps it rejected. Summary and
	// PeekErr are then unset, so such a kit counts toward no conflict.
	NotPeeked bool
}

// Fingerprint returns the fingerprint of c.
func (c Candidate) Fingerprint() Fingerprint {
	return Fingerprint{Size: c.Size, ModTime: c.ModTime, Files: c.Files, Inode: c.Inode, ChangeTime: c.ChangeTime}
}

// RacyWindow is the maximum distance before StatTime of a kit's
// modification or change time at which Racy reports that the fingerprint
// may miss a write. Linux takes those times from a clock that advances in
// ticks of an estimated 1 to 10 ms on kernels without fine-grained
// timestamps, and FAT stores modification times in steps of 2 s. So a
// write that lands after a read, but within the same step as the stat,
// leaves the fingerprint unchanged.
const RacyWindow = 2 * time.Second

// Racy reports whether c's fingerprint may miss a write, because its
// modification or change time lies less than RacyWindow before StatTime,
// or after it. A failed read of such a kit must not be kept as the
// result of its fingerprint, so the next round reads it again. It
// reports false when StatTime is zero.
func (c Candidate) Racy() bool {
	if c.StatTime.IsZero() {
		return false
	}
	limit := c.StatTime.Add(-RacyWindow)
	return c.ModTime.After(limit) || c.ChangeTime.After(limit)
}

// Fingerprint is the part of a kit file's or layout folder's state that
// changes when the kit does, as Candidate describes its fields.
type Fingerprint struct {
	Size       int64
	ModTime    time.Time
	Files      int
	Inode      uint64
	ChangeTime time.Time
}

// Equal reports whether f and o are the fingerprints of an unchanged kit.
func (f Fingerprint) Equal(o Fingerprint) bool {
	return f.Size == o.Size && f.ModTime.Equal(o.ModTime) && f.Files == o.Files && f.Inode == o.Inode &&
		f.ChangeTime.Equal(o.ChangeTime)
}

// Skipped is a drop folder entry that is not a kit, with the reason.
type Skipped struct {
	Path   string
	Reason string
	// NamedLikeKit is set for a folder whose name ends like a kit file's
	// but that holds no oci-layout file. It is almost certainly a mistake,
	// such as a kit unpacked into a folder of the file's name, or a layout
	// folder copied without its oci-layout file.
	NamedLikeKit bool
}

// Listing is the result of one scan of the drop folder.
type Listing struct {
	// Candidates are ordered by sequence, full kits before deltas of the
	// same sequence, then by path. Kits whose sequence could not be read
	// come last.
	Candidates []Candidate
	Skipped    []Skipped
	// OrphanNotes are the paths of rejection notes whose kit is gone.
	OrphanNotes []string
}

// Scanner scans one drop folder round after round. It keeps the result of
// each candidate's peek with the candidate's fingerprint, so a later scan
// reads a kit again only when it is new or changed. Reading a large file
// that is not a kit means decompressing all of it, since it has no bundle
// index. A Scanner is not safe for concurrent use.
type Scanner struct {
	dir string
	// store names the watch's store. Only a note that this store's watch
	// wrote keeps a kit unread.
	store  StoreRef
	peeked map[string]peekResult
	// peek reads a kit's summary, and now returns the time. Tests replace
	// both.
	peek func(ctx context.Context, path string) (*delta.Summary, error)
	now  func() time.Time
}

// peekResult is the result of one peek, with the fingerprint of the
// candidate at the time.
type peekResult struct {
	fingerprint Fingerprint
	summary     *delta.Summary
	err         error
}

// NewScanner returns a Scanner of dir for the watch of store.
func NewScanner(dir string, store StoreRef) *Scanner {
	return &Scanner{dir: dir, store: store, peeked: map[string]peekResult{}, peek: delta.Peek, now: time.Now}
}

// SetStore changes the store of the watch, as when the store got its ID
// at its first open.
func (s *Scanner) SetStore(store StoreRef) { s.store = store }

// Scan lists the kits in dir once, as Scanner.Scan does for the watch of
// store.
func Scan(ctx context.Context, dir string, store StoreRef) (Listing, error) {
	return NewScanner(dir, store).Scan(ctx)
}

// Scan lists the kits in the folder: files whose names end in .tar,
// .tar.gz, .tgz, .tar.zst or .tzst in any case, and folders holding an
// oci-layout file. Hidden entries are skipped, so a copy in progress under
// a dot name is not picked up. Every other entry is listed in Skipped with
// the reason, except rejection notes and their temporary files. A
// candidate is not read when a current rejection note keeps it rejected
// (see Candidate.NotPeeked), or when an earlier scan read it and its
// fingerprint has not changed since.
func (s *Scanner) Scan(ctx context.Context) (Listing, error) {
	dir := s.dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Listing{}, fmt.Errorf("reading drop folder: %w", err)
	}
	var l Listing
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, NoteSuffix):
			if isOrphanNote(path) {
				l.OrphanNotes = append(l.OrphanNotes, path)
			}
			continue
		case strings.HasSuffix(name, NoteSuffix+noteTempSuffix):
			// A temporary note outlives a failed write. Once its kit is
			// gone, no later write replaces it, so it is removed too.
			kit := strings.TrimSuffix(path, NoteSuffix+noteTempSuffix)
			if _, err := os.Lstat(kit); errors.Is(err, fs.ErrNotExist) {
				l.OrphanNotes = append(l.OrphanNotes, path)
			}
			continue
		case strings.HasPrefix(name, "."):
			l.Skipped = append(l.Skipped, Skipped{Path: path,
				Reason: "hidden name (starts with a dot), as used for a copy in progress; " +
					"rename the entry when its copy is complete"})
			continue
		}
		c, skip := inspect(path)
		if skip.Reason != "" {
			l.Skipped = append(l.Skipped, skip)
			continue
		}
		c.StatTime = s.now()
		s.peekCandidate(ctx, &c)
		l.Candidates = append(l.Candidates, c)
	}
	s.forgetMissing(l.Candidates)
	slices.SortFunc(l.Candidates, compare)
	return l, nil
}

// peekCandidate sets the summary or peek error of c, from the cache when
// c has not changed since an earlier peek. It leaves c unread when a
// current rejection note keeps it rejected. A failed peek of a racy
// candidate is not cached, because the write that completes the kit may
// have left its fingerprint unchanged.
func (s *Scanner) peekCandidate(ctx context.Context, c *Candidate) {
	if keptRejected(*c, s.store) {
		c.NotPeeked = true
		return
	}
	if r, ok := s.peeked[c.Path]; ok && r.fingerprint.Equal(c.Fingerprint()) {
		c.Summary, c.PeekErr = r.summary, r.err
		return
	}
	c.Summary, c.PeekErr = s.peek(ctx, c.Path)
	if !retryablePeekError(c.PeekErr) && (c.PeekErr == nil || !c.Racy()) {
		s.peeked[c.Path] = peekResult{fingerprint: c.Fingerprint(), summary: c.Summary, err: c.PeekErr}
	} else {
		delete(s.peeked, c.Path)
	}
}

// keptRejected reports whether c has a rejection note that keeps it
// rejected without a look at its contents. The watch of store wrote such
// a note, and it matches c's fingerprint. It is not a conflict note,
// because every round checks a conflict again, and it does not end when
// the active kit or the trusted keys change.
func keptRejected(c Candidate, store StoreRef) bool {
	n, ok := ReadNote(c.Path)
	if !ok || !n.WrittenBy(store) || n.Conflict || n.RetryOnActiveChange || n.Keys != "" {
		return false
	}
	return n.Fingerprint().Equal(c.Fingerprint())
}

// retryablePeekError reports whether a peek that failed with err may
// succeed later without a change of the kit's fingerprint. Those are an
// error of the operating system, such as a denied permission that an
// operator fixes, and a cancellation.
func retryablePeekError(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// forgetMissing drops the cached peeks of entries that are no longer
// candidates, so the cache does not grow with every kit ever dropped.
func (s *Scanner) forgetMissing(cands []Candidate) {
	present := make(map[string]bool, len(cands))
	for _, c := range cands {
		present[c.Path] = true
	}
	PruneAbsent(s.peeked, present)
}

// inspect returns the candidate at path with its fingerprint or, when the
// entry is not a kit, the Skipped entry with the reason.
func inspect(path string) (Candidate, Skipped) {
	skip := func(reason string) (Candidate, Skipped) {
		return Candidate{}, Skipped{Path: path, Reason: reason}
	}
	info, err := os.Stat(path)
	if err != nil {
		// A dangling symbolic link or a link loop ends up here.
		return skip(fmt.Sprintf("cannot be read: %v", err))
	}
	switch {
	case info.IsDir():
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err != nil {
			if hasKitSuffix(info.Name()) {
				return Candidate{}, Skipped{Path: path, NamedLikeKit: true,
					Reason: "folder named like a kit file but without an oci-layout file, so neither a kit file " +
						"nor a kit layout folder; copy the kit file itself, or the complete layout folder, " +
						"and remove or rename this folder"}
			}
			return skip("folder without an oci-layout file, so not a kit layout folder")
		}
		return folderCandidate(path, info), Skipped{}
	case !info.Mode().IsRegular():
		return skip(fmt.Sprintf("not a regular file or folder but a %s", regfile.TypeName(info.Mode())))
	case !hasKitSuffix(info.Name()):
		return skip("name does not end in .tar, .tar.gz, .tgz, .tar.zst or .tzst")
	}
	inode, changed := inodeAndChangeTime(info)
	c := Candidate{Path: path, Size: info.Size(), ModTime: info.ModTime(), Inode: inode, ChangeTime: changed}
	return c, Skipped{}
}

// folderCandidate returns a layout folder with a fingerprint of its
// contents. Entries that cannot be read are left out of it, and import
// reports them.
func folderCandidate(path string, info fs.FileInfo) Candidate {
	c := Candidate{Path: path, IsDir: true, ModTime: info.ModTime()}
	c.Inode, c.ChangeTime = inodeAndChangeTime(info)
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.ModTime().After(c.ModTime) {
			c.ModTime = fi.ModTime()
		}
		if _, changed := inodeAndChangeTime(fi); changed.After(c.ChangeTime) {
			c.ChangeTime = changed
		}
		if fi.Mode().IsRegular() {
			c.Files++
			c.Size += fi.Size()
		}
		return nil
	})
	return c
}

// IsKitFileName reports whether name ends in .tar, .tar.gz, .tgz, .tar.zst
// or .tzst in any case, as the names of the kit files that Scan lists do.
func IsKitFileName(name string) bool { return hasKitSuffix(name) }

func hasKitSuffix(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range kitSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

func compare(a, b Candidate) int {
	if (a.Summary == nil) != (b.Summary == nil) {
		if a.Summary == nil {
			return 1
		}
		return -1
	}
	if a.Summary != nil {
		if c := cmp.Compare(a.Summary.Sequence, b.Summary.Sequence); c != 0 {
			return c
		}
		if c := cmp.Compare(kindRank(a.Summary.Kind), kindRank(b.Summary.Kind)); c != 0 {
			return c
		}
	}
	return strings.Compare(a.Path, b.Path)
}

func kindRank(kind string) int {
	if kind == oci.KindFull {
		return 0
	}
	return 1
}
