// Package watch finds kits and deltas in a drop folder, orders them by
// sequence and remembers the ones import rejected. A rejection is kept in a
// note file beside the kit, so the kit is not retried every round unless the
// file changes.
package watch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// NoteSuffix is appended to a kit's name to form its rejection note.
const NoteSuffix = ".stella-rejected"

// kitSuffixes are the file names a drop folder scan considers kits.
var kitSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"}

// Candidate is one kit file or layout folder found in the drop folder.
type Candidate struct {
	Path    string
	IsDir   bool
	Size    int64
	ModTime time.Time
	// Summary is nil when PeekErr is set.
	Summary *delta.Summary
	// PeekErr is the error that kept the kit's sequence from being read.
	PeekErr error
}

// Scan lists the kits in dir: files named *.tar, *.tar.gz, *.tgz,
// *.tar.zst or *.tzst and folders holding an oci-layout file. Hidden
// entries are ignored, so a copy in progress under a dot name is not
// picked up. The result is ordered by sequence, full kits before deltas
// of the same sequence, then by name. Kits whose sequence could not be
// read come last.
func Scan(ctx context.Context, dir string) ([]Candidate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading drop folder: %w", err)
	}
	var out []Candidate
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, NoteSuffix) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		if info.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "oci-layout")); err != nil {
				continue
			}
		} else if !info.Mode().IsRegular() || !hasKitSuffix(name) {
			continue
		}
		c := Candidate{Path: path, IsDir: info.IsDir(), Size: info.Size(), ModTime: info.ModTime()}
		c.Summary, c.PeekErr = delta.Peek(ctx, path)
		out = append(out, c)
	}
	slices.SortFunc(out, compare)
	return out, nil
}

func hasKitSuffix(name string) bool {
	for _, s := range kitSuffixes {
		if strings.HasSuffix(name, s) {
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

// Note records why import rejected a kit, and the file state it saw.
type Note struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	Digest  string    `json:"digest,omitempty"`
	Version string    `json:"version,omitempty"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	// Active is the active kit digest at the time; a delta rejected for a
	// missing base is retried once the active kit changes.
	Active string `json:"active,omitempty"`
	// RetryOnActiveChange marks a rejection that a new active kit may cure.
	RetryOnActiveChange bool `json:"retryOnActiveChange,omitempty"`
}

// NotePath returns the note file of a kit: its path with NoteSuffix.
func NotePath(kit string) string { return kit + NoteSuffix }

// ReadNote returns the rejection note of a kit, or false when there is
// none or it cannot be read.
func ReadNote(kit string) (Note, bool) {
	raw, err := os.ReadFile(NotePath(kit))
	if err != nil {
		return Note{}, false
	}
	var n Note
	if json.Unmarshal(raw, &n) != nil {
		return Note{}, false
	}
	return n, true
}

// Stale reports whether a note no longer applies: the kit file changed
// since, or the note requests a retry once the active kit changes and it
// has changed.
func (n Note) Stale(c Candidate, active string) bool {
	if n.Size != c.Size || !n.ModTime.Equal(c.ModTime) {
		return true
	}
	return n.RetryOnActiveChange && n.Active != active
}

// WriteNote writes the rejection note of a kit beside it.
func WriteNote(kit string, n Note) error {
	raw, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	tmp := NotePath(kit) + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing rejection note of %s: %w", kit, err)
	}
	if err := os.Rename(tmp, NotePath(kit)); err != nil {
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
