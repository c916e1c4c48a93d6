package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"stella-ops.org/ouk/oci/delta"
)

// testStore is the store of the watch that the tests scan for.
var testStore = StoreRef{Path: "/srv/stella/store"}

// countingScanner returns a Scanner of dir whose peeks count their calls
// by path and return the result of peek. Its clock runs an hour ahead, so
// that the files a test has just written are not racy.
func countingScanner(dir string, peek func(path string) (*delta.Summary, error)) (*Scanner, map[string]int) {
	calls := map[string]int{}
	s := NewScanner(dir, testStore)
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	s.peek = func(_ context.Context, path string) (*delta.Summary, error) {
		calls[path]++
		return peek(path)
	}
	return s, calls
}

func scanWith(t *testing.T, s *Scanner) Listing {
	t.Helper()
	l, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeKitFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScannerPeeksUnchangedKitOnce(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	writeKitFile(t, kit, "kit")
	summary := &delta.Summary{Version: "night-01", Sequence: 1}
	s, calls := countingScanner(dir, func(string) (*delta.Summary, error) { return summary, nil })

	for round := 1; round <= 3; round++ {
		l := scanWith(t, s)
		if len(l.Candidates) != 1 || l.Candidates[0].Summary != summary {
			t.Fatalf("round %d: candidates %+v, want kit.tar with its summary", round, l.Candidates)
		}
	}
	if calls[kit] != 1 {
		t.Errorf("3 scans of an unchanged kit peeked it %d times, want 1", calls[kit])
	}

	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(kit, later, later); err != nil {
		t.Fatal(err)
	}
	scanWith(t, s)
	if calls[kit] != 2 {
		t.Errorf("a scan after the kit changed peeked it %d times in all, want 2", calls[kit])
	}
}

func TestScannerCachesPeekError(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "image.tar")
	writeKitFile(t, image, "not a kit")
	notKit := errors.New("image.tar ends before its bundle index")
	s, calls := countingScanner(dir, func(string) (*delta.Summary, error) { return nil, notKit })

	for range 2 {
		l := scanWith(t, s)
		if len(l.Candidates) != 1 || !errors.Is(l.Candidates[0].PeekErr, notKit) {
			t.Fatalf("candidates %+v, want image.tar with its peek error", l.Candidates)
		}
	}
	if calls[image] != 1 {
		t.Errorf("2 scans of an unchanged file that is not a kit peeked it %d times, want 1", calls[image])
	}
}

// TestScannerRereadsRacyPeekError checks that a failed peek of a kit
// changed within RacyWindow of its stat is not kept, because a write in
// the same clock tick may have left its fingerprint unchanged. Once the
// kit is older, the failure is kept.
func TestScannerRereadsRacyPeekError(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	writeKitFile(t, kit, "half a kit")
	cut := errors.New("kit.tar ends before its bundle index")
	s, calls := countingScanner(dir, func(string) (*delta.Summary, error) { return nil, cut })
	info, err := os.Stat(kit)
	if err != nil {
		t.Fatal(err)
	}
	statTime := info.ModTime().Add(time.Second)
	s.now = func() time.Time { return statTime }

	for range 2 {
		l := scanWith(t, s)
		if len(l.Candidates) != 1 || !l.Candidates[0].Racy() {
			t.Fatalf("candidates %+v, want kit.tar as racy", l.Candidates)
		}
	}
	if calls[kit] != 2 {
		t.Errorf("2 scans of a kit changed within RacyWindow peeked it %d times, want 2", calls[kit])
	}

	statTime = statTime.Add(time.Hour)
	for range 2 {
		if l := scanWith(t, s); len(l.Candidates) != 1 || l.Candidates[0].Racy() {
			t.Fatalf("candidates %+v, want kit.tar as not racy an hour later", l.Candidates)
		}
	}
	if calls[kit] != 3 {
		t.Errorf("2 scans an hour later peeked the kit %d times in all, want 3", calls[kit])
	}
}

func TestScannerRetriesSystemError(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	writeKitFile(t, kit, "kit")
	denied := &fs.PathError{Op: "open", Path: kit, Err: syscall.EACCES}
	s, calls := countingScanner(dir, func(string) (*delta.Summary, error) { return nil, denied })

	scanWith(t, s)
	scanWith(t, s)
	if calls[kit] != 2 {
		t.Errorf("2 scans of a kit denied to this user peeked it %d times, want 2, "+
			"because fixing the permission does not change the fingerprint", calls[kit])
	}
}

func TestScannerSkipsKitWithCurrentNote(t *testing.T) {
	cases := []struct {
		name   string
		note   func(c Candidate) Note
		peeked bool
	}{
		{"current note", func(c Candidate) Note { return noteFor(c) }, false},
		{"note of an older copy", func(c Candidate) Note {
			n := noteFor(c)
			n.Size++
			return n
		}, true},
		{"note of another store's watch", func(c Candidate) Note {
			n := noteFor(c)
			n.Store = "/srv/stella/other-store"
			return n
		}, true},
		{"note without a store", func(c Candidate) Note {
			n := noteFor(c)
			n.Store = ""
			return n
		}, true},
		{"conflict note", func(c Candidate) Note {
			n := noteFor(c)
			n.Conflict = true
			return n
		}, true},
		{"note of a delta without its base", func(c Candidate) Note {
			n := noteFor(c)
			n.RetryOnActiveChange = true
			return n
		}, true},
		{"note of a kit that other keys may verify", func(c Candidate) Note {
			n := noteFor(c)
			n.Keys = KeySetID([]string{"ab12"})
			return n
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kit := filepath.Join(dir, "image.tar")
			writeKitFile(t, kit, "large tar that is not a kit")
			c := scanOne(t, dir)
			if err := WriteNote(kit, tc.note(c)); err != nil {
				t.Fatal(err)
			}
			s, calls := countingScanner(dir, func(string) (*delta.Summary, error) {
				return nil, fmt.Errorf("ends before its bundle index")
			})

			l := scanWith(t, s)
			if len(l.Candidates) != 1 {
				t.Fatalf("candidates %+v, want image.tar", l.Candidates)
			}
			if got := calls[kit] == 1; got != tc.peeked {
				t.Errorf("kit peeked %v, want %v", got, tc.peeked)
			}
			if got := l.Candidates[0].NotPeeked; got == tc.peeked {
				t.Errorf("NotPeeked = %v, want %v", got, !tc.peeked)
			}
		})
	}
}

// noteFor returns a rejection note of testStore's watch that matches c's
// fingerprint.
func noteFor(c Candidate) Note {
	n := NoteFor(c)
	n.Reason, n.At, n.Store = "not a kit", time.Now().UTC(), testStore.Path
	return n
}

func TestScannerForgetsRemovedKit(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	writeKitFile(t, kit, "kit")
	s, _ := countingScanner(dir, func(string) (*delta.Summary, error) { return &delta.Summary{}, nil })
	scanWith(t, s)
	if err := os.Remove(kit); err != nil {
		t.Fatal(err)
	}
	scanWith(t, s)
	if len(s.peeked) != 0 {
		t.Errorf("cache keeps %d entries after the kit was removed, want 0", len(s.peeked))
	}
}

// recopyKeepingTimes overwrites the file at path with content and sets its
// modification time back to mtime, as cp -p does to an existing file. With
// replace set, it writes a new file and renames it over path, as rsync -t
// does, so the file gets a new inode.
func recopyKeepingTimes(t *testing.T, path, content string, mtime time.Time, replace bool) {
	t.Helper()
	// The kernel takes change times from a clock that may advance only
	// every few milliseconds, so a copy right after the first write could
	// get the same change time.
	time.Sleep(50 * time.Millisecond)
	target := path
	if replace {
		target = filepath.Join(filepath.Dir(path), ".copy-in-progress")
	}
	writeKitFile(t, target, content)
	if err := os.Chtimes(target, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if replace {
		if err := os.Rename(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopyKeepingTimesChangesFingerprint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace bool
	}{{"copy over the file", false}, {"copy that replaces the file", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kit := filepath.Join(dir, "kit.tar")
			mtime := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
			recopyKeepingTimes(t, kit, "damaged!", mtime, false)
			s, calls := countingScanner(dir, func(string) (*delta.Summary, error) {
				return nil, errors.New("digest mismatch")
			})
			before := scanWith(t, s).Candidates[0]
			if err := WriteNote(kit, noteFor(before)); err != nil {
				t.Fatal(err)
			}

			recopyKeepingTimes(t, kit, "good kit", mtime, tc.replace)
			after := scanWith(t, s).Candidates[0]
			if after.Size != before.Size || !after.ModTime.Equal(before.ModTime) {
				t.Fatalf("copy changed size or modification time: %+v, before %+v", after, before)
			}
			if after.Fingerprint().Equal(before.Fingerprint()) {
				t.Errorf("fingerprint %+v unchanged after a copy that keeps the modification time", after.Fingerprint())
			}
			n, _ := ReadNote(kit)
			if !n.Stale(after, "") {
				t.Errorf("rejection note still current after a new copy")
			}
			if after.NotPeeked || calls[kit] != 2 {
				t.Errorf("new copy not read: NotPeeked %v, %d peeks in all; want 2", after.NotPeeked, calls[kit])
			}
		})
	}
}
