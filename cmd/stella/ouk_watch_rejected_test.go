package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
)

// errDigestMismatchForTest is an import error for a blob whose content
// does not match its digest, as a damaged copy gives it.
var errDigestMismatchForTest = fmt.Errorf("tar entry blobs/sha256/ab: %w; the file is corrupt or was altered, "+
	"so copy the kit again", errdef.ErrDigestMismatch)

// openStoreWithActive opens a store in dir whose active kit has the given
// sequence.
func openStoreWithActive(t *testing.T, dir string, sequence int64) *cas.Store {
	t.Helper()
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	data := []byte(`{"schemaVersion":2,"night":4}`)
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(context.Background(), cas.KitRecord{Digest: d, Version: "night-04", Sequence: sequence}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWatchRejectedKitOlderThanActive checks that a kit rejected while it
// was newer than the active kit is skipped as older once the site moves
// past it: its note is removed and it does not count as rejected. A kit
// still newer than the active kit stays rejected.
func TestWatchRejectedKitOlderThanActive(t *testing.T) {
	cases := []struct {
		name     string
		sequence int64
		// peeked is set when the scan read the kit, so the candidate
		// carries its summary; otherwise only the note has the sequence.
		peeked  bool
		skipped bool
	}{
		{"older kit, not read by the scan", 103, false, true},
		{"older kit, read by the scan", 103, true, true},
		{"newer kit", 105, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			store := openStoreWithActive(t, filepath.Join(root, "db"), 104)
			kit := filepath.Join(root, "tampered.tar")
			if err := os.WriteFile(kit, []byte("tampered kit"), 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(kit)
			if err != nil {
				t.Fatal(err)
			}
			c := watch.Candidate{Path: kit, Size: info.Size(), ModTime: info.ModTime()}
			s := &delta.Summary{Digest: digest.FromString("night-03"), Version: "night-03", Sequence: tc.sequence,
				Kind: "full"}
			if tc.peeked {
				c.Summary = s
			} else {
				c.NotPeeked = true
			}
			var logs bytes.Buffer
			w := testWatcher(&logs, true)
			w.reject(c, s, "sha256:night-02", errDigestMismatchForTest)
			logs.Reset()

			got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
			_, noted := watch.ReadNote(kit)
			if tc.skipped {
				if got != outcomeSkipped {
					t.Errorf("process returned %v, want the kit skipped", got)
				}
				if noted {
					t.Errorf("rejection note of a kit older than the active kit was not removed")
				}
				if !strings.Contains(logs.String(), "kit is older than the active kit; skipped") {
					t.Errorf("skip not logged as older than the active kit:\n%s", logs.String())
				}
				return
			}
			if got != outcomeRejected {
				t.Errorf("process returned %v, want the newer kit to stay rejected", got)
			}
			if !noted {
				t.Errorf("rejection note of a newer kit was removed")
			}
		})
	}
}

// TestWatchDamagedFileWithinSettle checks that a running watch treats a
// kit file with damaged content that changed within --settle like a copy
// in progress: no note and no warning. Once the file has settled, and
// always with --once, it is rejected for the damage.
func TestWatchDamagedFileWithinSettle(t *testing.T) {
	corrupt := fmt.Errorf("zstd data of the kit stream is corrupt (invalid block type); copy the kit file again: %w",
		errdef.ErrInvalidKit)
	cases := []struct {
		name     string
		once     bool
		age      time.Duration
		err      error
		rejected bool
	}{
		{"fresh digest mismatch retried", false, 10 * time.Second, errDigestMismatchForTest, false},
		{"fresh corrupt stream retried", false, 10 * time.Second, corrupt, false},
		{"settled digest mismatch rejected", false, 3 * time.Minute, errDigestMismatchForTest, true},
		{"fresh digest mismatch rejected with once", true, 10 * time.Second, errDigestMismatchForTest, true},
		{"fresh expired kit rejected", false, 10 * time.Second, fmt.Errorf("kit expired: %w", errdef.ErrExpired), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kit.tar.zst")
			if err := os.WriteFile(path, []byte("kit"), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			w := testWatcher(&logs, tc.once)
			c := watch.Candidate{Path: path, Size: 3, ModTime: time.Now().Add(-tc.age)}

			got := w.importFailed(context.Background(), c, nil, []any{"path", path}, "", tc.err)
			if (got == outcomeRejected) != tc.rejected {
				t.Errorf("importFailed returned %v, want rejected %v", got, tc.rejected)
			}
			note, noted := watch.ReadNote(path)
			if noted != tc.rejected {
				t.Errorf("note written %v, want %v", noted, tc.rejected)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tc.rejected {
				t.Errorf("warning logged %v, want %v:\n%s", warned, tc.rejected, logs.String())
			}
			if tc.rejected && !strings.Contains(note.Reason, tc.err.Error()) {
				t.Errorf("note reason %q lost the import error %q", note.Reason, tc.err)
			}
			if tc.rejected && strings.Contains(note.Reason, "truncated") {
				t.Errorf("note reason %q calls a damaged file truncated", note.Reason)
			}

			// The peek of the same file fails the same way.
			if err := watch.RemoveNote(path); err != nil {
				t.Fatal(err)
			}
			c.PeekErr = tc.err
			if got := w.contentFailed(context.Background(), c, nil, "", tc.err); (got == outcomeRejected) != tc.rejected {
				t.Errorf("contentFailed for a failed peek returned %v, want rejected %v", got, tc.rejected)
			}
		})
	}
}

// truncatedImportWatcher returns a running watcher that logs into logs,
// a store with an active kit, and the path of a kit file. Each import by
// the watcher fails as for a truncated file and counts itself in imports.
func truncatedImportWatcher(t *testing.T, logs *bytes.Buffer) (w *watcher, store *cas.Store, kit string, imports *int) {
	t.Helper()
	root := t.TempDir()
	store = openStoreWithActive(t, filepath.Join(root, "db"), 1)
	kit = filepath.Join(root, "kit.tar")
	if err := os.WriteFile(kit, []byte("first half"), 0o644); err != nil {
		t.Fatal(err)
	}
	w = testWatcher(logs, false)
	imports = new(int)
	w.importKit = func(context.Context, watch.Candidate, importer.Options) (*importer.Result, error) {
		*imports++
		w.log.Info("import interrupted; stored blobs kept for the next attempt", "blobs", 0)
		return nil, fmt.Errorf("kit tar stream ends without its end-of-archive marker: %w", io.ErrUnexpectedEOF)
	}
	return w, store, kit, imports
}

// TestWatchUnchangedCopyImportedOnce checks that a running watch does not
// import a truncated kit file again while it stays unchanged, so the
// importer's lines are not repeated every round, and that it logs the
// wait once. A change of the file makes the next round import it again.
func TestWatchUnchangedCopyImportedOnce(t *testing.T) {
	var logs bytes.Buffer
	w, store, kit, imports := truncatedImportWatcher(t, &logs)
	c := watch.Candidate{Path: kit, Size: 10, ModTime: time.Now(),
		Summary: &delta.Summary{Digest: digest.FromString("night-02"), Version: "night-02", Sequence: 2}}

	for round := 1; round <= 3; round++ {
		if got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil); got != outcomeWaiting {
			t.Fatalf("round %d: process returned %v, want the kit waiting for its copy", round, got)
		}
	}
	if *imports != 1 {
		t.Errorf("3 rounds of an unchanged truncated file imported it %d times, want 1", *imports)
	}
	if n := strings.Count(logs.String(), "import interrupted"); n != 1 {
		t.Errorf("importer line logged %d times, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "kit is incomplete"); n != 1 {
		t.Errorf("wait logged %d times, want 1:\n%s", n, logs.String())
	}

	c.Size = 20
	w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
	if *imports != 2 {
		t.Errorf("a round after the file grew imported it %d times in all, want 2", *imports)
	}
}

// TestWatchFolderNamedLikeKit checks that a folder named like a kit file
// but without an oci-layout file is logged as a warning, once while it
// stays, and ends a --once run with exit code 1. Another folder that is
// not a kit is only logged at debug level.
func TestWatchFolderNamedLikeKit(t *testing.T) {
	root := t.TempDir()
	drop := filepath.Join(root, "drop")
	for _, dir := range []string{filepath.Join(drop, "kit-06.tar.zst"), filepath.Join(drop, "docs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := &globalOptions{store: filepath.Join(root, "store")}

	var logs bytes.Buffer
	w := newWatcher(g, &watchOptions{once: true, interval: time.Second, settle: time.Minute}, drop, &logs)
	err := w.run(context.Background())
	if err == nil {
		t.Errorf("watch --once exits 0, want %d\n%s", exitError, logs.String())
	} else {
		if code := exitCode(err); code != exitError {
			t.Errorf("watch --once exits %d, want %d (error %v)", code, exitError, err)
		}
		if !strings.Contains(err.Error(), "kit-06.tar.zst") {
			t.Errorf("error %v does not name the folder", err)
		}
	}
	warnings := strings.Count(logs.String(), "level=WARN msg=\""+msgNamedLikeKit)
	if warnings != 1 {
		t.Errorf("--once run logged %d warnings for the folder, want 1:\n%s", warnings, logs.String())
	}
	if strings.Contains(logs.String(), "docs") {
		t.Errorf("a folder not named like a kit was logged without -v:\n%s", logs.String())
	}

	logs.Reset()
	w = newWatcher(g, &watchOptions{interval: time.Second, settle: time.Minute}, drop, &logs)
	for round := 1; round <= 2; round++ {
		if _, err := w.round(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if n := strings.Count(logs.String(), msgNamedLikeKit); n != 1 {
		t.Errorf("2 rounds of a running watch logged the folder %d times, want 1:\n%s", n, logs.String())
	}
}

// TestWatchNoteReasonAdvisesDelete checks that the reason of a rejection
// note advises deleting the note when a replaced file is not tried again,
// and that the note records the kit's sequence. A conflict note, which
// every round checks again, gives no such advice.
func TestWatchNoteReasonAdvisesDelete(t *testing.T) {
	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.tar")
	conflicting := filepath.Join(dir, "conflicting.tar")
	var logs bytes.Buffer
	w := testWatcher(&logs, true)
	s := &delta.Summary{Digest: digest.FromString("night-03"), Version: "night-03", Sequence: 103}
	w.reject(watch.Candidate{Path: damaged, Size: 3}, s, "", errDigestMismatchForTest)
	w.reject(watch.Candidate{Path: conflicting, Size: 3}, s, "", conflictError{reason: "another kit of sequence 103"})

	note, ok := watch.ReadNote(damaged)
	if !ok {
		t.Fatalf("no note beside the damaged kit:\n%s", logs.String())
	}
	if !strings.Contains(note.Reason, "If you replace the file and the watch still skips it, delete this note") {
		t.Errorf("note reason %q does not say to delete the note after a replacement", note.Reason)
	}
	if note.Sequence == nil || *note.Sequence != 103 {
		t.Errorf("note sequence %v, want 103", note.Sequence)
	}
	conflict, ok := watch.ReadNote(conflicting)
	if !ok {
		t.Fatalf("no note beside the conflicting kit")
	}
	if strings.Contains(conflict.Reason, "delete this note") {
		t.Errorf("conflict note reason %q advises deleting the note", conflict.Reason)
	}
}

// TestWatchRacyCopyImportedAgain checks that a running watch imports a
// truncated kit file again next round while its last change lies within
// watch.RacyWindow of its stat, because a write in the same clock tick may
// have left its fingerprint unchanged. An older file is imported once.
func TestWatchRacyCopyImportedAgain(t *testing.T) {
	var logs bytes.Buffer
	w, store, kit, imports := truncatedImportWatcher(t, &logs)
	modTime := time.Now()
	c := watch.Candidate{Path: kit, Size: 10, ModTime: modTime, StatTime: modTime.Add(time.Second),
		Summary: &delta.Summary{Digest: digest.FromString("night-02"), Version: "night-02", Sequence: 2}}

	for round := 1; round <= 2; round++ {
		if got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil); got != outcomeWaiting {
			t.Fatalf("round %d: process returned %v, want the kit waiting for its copy", round, got)
		}
	}
	if *imports != 2 {
		t.Errorf("2 rounds of a truncated file changed within RacyWindow imported it %d times, want 2", *imports)
	}

	c.StatTime = modTime.Add(time.Minute)
	for round := 1; round <= 2; round++ {
		w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
	}
	if *imports != 3 {
		t.Errorf("2 rounds a minute later imported the file %d times in all, want 3", *imports)
	}
}

// A --once run that ends with a failure outside the kits, such as a folder
// named like a kit file, still names the kits it rejected.
func TestWatchOnceNamesRejectionsBesideOtherFailure(t *testing.T) {
	root := t.TempDir()
	drop := filepath.Join(root, "drop")
	if err := os.MkdirAll(filepath.Join(drop, "kit-06.tar.zst"), 0o755); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(drop, "junk.tar.zst")
	if err := os.WriteFile(junk, []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(junk, old, old); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{store: filepath.Join(root, "store")}

	var logs bytes.Buffer
	w := newWatcher(g, &watchOptions{once: true, interval: time.Second, settle: time.Minute}, drop, &logs)
	err := w.run(context.Background())
	if err == nil {
		t.Fatalf("watch --once exits 0\n%s", logs.String())
	}
	if !strings.Contains(err.Error(), "kit-06.tar.zst") {
		t.Errorf("error %v does not name the folder", err)
	}
	if !strings.Contains(err.Error(), "1 kit was rejected") {
		t.Errorf("error %v does not name the rejected kit", err)
	}
}
