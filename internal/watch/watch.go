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
	// Size, ModTime and Files fingerprint the kit, so a rejected kit is
	// retried once it changes. For a file they are its size, modification
	// time and 0. For a layout folder they are the total size of the files
	// under it, the latest modification time of the folder or any entry
	// under it, and the number of files. The folder's own size and
	// modification time would not do, because they stay the same while a
	// file inside it grows.
	Size    int64
	ModTime time.Time
	Files   int
	// Summary is nil when PeekErr is set.
	Summary *delta.Summary
	// PeekErr is the error that kept the kit's sequence from being read.
	PeekErr error
}

// Skipped is a drop folder entry that is not a kit, with the reason.
type Skipped struct {
	Path   string
	Reason string
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

// Scan lists the kits in dir: files whose names end in .tar, .tar.gz,
// .tgz, .tar.zst or .tzst in any case, and folders holding an oci-layout
// file. Hidden entries are skipped, so a copy in progress under a dot name
// is not picked up. Every other entry is listed in Skipped with the
// reason, except rejection notes and their temporary files.
func Scan(ctx context.Context, dir string) (Listing, error) {
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
		c, reason := inspect(path)
		if reason != "" {
			l.Skipped = append(l.Skipped, Skipped{Path: path, Reason: reason})
			continue
		}
		c.Summary, c.PeekErr = delta.Peek(ctx, path)
		l.Candidates = append(l.Candidates, c)
	}
	slices.SortFunc(l.Candidates, compare)
	return l, nil
}

// inspect returns the candidate at path with its fingerprint, or the
// reason the entry is not a kit.
func inspect(path string) (Candidate, string) {
	info, err := os.Stat(path)
	if err != nil {
		// A dangling symbolic link or a link loop ends up here.
		return Candidate{}, fmt.Sprintf("cannot be read: %v", err)
	}
	switch {
	case info.IsDir():
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err != nil {
			return Candidate{}, "folder without an oci-layout file, so not a kit layout folder"
		}
		return folderCandidate(path, info), ""
	case !info.Mode().IsRegular():
		return Candidate{}, fmt.Sprintf("not a regular file or folder but a %s", regfile.TypeName(info.Mode()))
	case !hasKitSuffix(info.Name()):
		return Candidate{}, "name does not end in .tar, .tar.gz, .tgz, .tar.zst or .tzst"
	}
	return Candidate{Path: path, Size: info.Size(), ModTime: info.ModTime()}, ""
}

// folderCandidate returns a layout folder with a fingerprint of its
// contents. Entries that cannot be read are left out of it, and import
// reports them.
func folderCandidate(path string, info fs.FileInfo) Candidate {
	c := Candidate{Path: path, IsDir: true, ModTime: info.ModTime()}
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
		if fi.Mode().IsRegular() {
			c.Files++
			c.Size += fi.Size()
		}
		return nil
	})
	return c
}

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
