package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScanIgnoresHiddenAndNotes(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".copying.tar.zst", "kit.tar.zst" + NoteSuffix, "readme.txt", "bad.tar"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a kit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listing, err := Scan(context.Background(), dir, testStore)
	if err != nil {
		t.Fatal(err)
	}
	got := listing.Candidates
	if len(got) != 1 || filepath.Base(got[0].Path) != "bad.tar" {
		t.Fatalf("Scan = %+v, want only bad.tar", got)
	}
	if got[0].PeekErr == nil {
		t.Errorf("bad.tar was peeked without error")
	}
	if len(listing.OrphanNotes) != 0 {
		t.Errorf("a note that is not the watch's listed as orphan: %v", listing.OrphanNotes)
	}
}

func TestScanListsSkippedEntries(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a kit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("readme.txt")
	write("kit3")
	write(".copying.tar")
	write("KIT3.DELTA.TAR.ZST")
	write("kit.tar" + NoteSuffix + noteTempSuffix)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop.tar", filepath.Join(dir, "loop.tar")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}

	listing, err := Scan(context.Background(), dir, testStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(listing.Candidates) != 1 || filepath.Base(listing.Candidates[0].Path) != "KIT3.DELTA.TAR.ZST" {
		t.Errorf("candidates %+v, want only KIT3.DELTA.TAR.ZST", listing.Candidates)
	}
	reasons := map[string]string{}
	for _, s := range listing.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	want := map[string]string{
		"readme.txt":   "does not end in .tar",
		"kit3":         "does not end in .tar",
		".copying.tar": "hidden name",
		"pipe.tar":     "named pipe",
		"loop.tar":     "cannot be read",
		"photos":       "without an oci-layout file",
	}
	for name, part := range want {
		if !strings.Contains(reasons[name], part) {
			t.Errorf("reason for %s is %q, want it to contain %q", name, reasons[name], part)
		}
	}
	if len(reasons) != len(want) {
		t.Errorf("skipped %v, want exactly %v", reasons, want)
	}
}

func TestScanFolderFingerprintFollowsContents(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit")
	blobs := filepath.Join(kit, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kit, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blobs, "a"), []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range []string{filepath.Join(kit, "oci-layout"), filepath.Join(blobs, "a"), blobs, filepath.Dir(blobs), kit} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	before := scanOne(t, dir)
	if !before.IsDir || before.Files != 2 || before.Size != 30+5 || !before.ModTime.Equal(old) {
		t.Fatalf("fingerprint %+v, want a folder of 2 files, 35 bytes, modified at %s", before, old)
	}
	note := NoteFor(before)

	// A copy that keeps modification times adds a file without changing
	// the folder's own size or modification time.
	if err := os.WriteFile(filepath.Join(blobs, "b"), []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(blobs, "b"), blobs} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	after := scanOne(t, dir)
	if after.Files != 3 || after.Size != 41 {
		t.Errorf("fingerprint after adding a blob %+v, want 3 files of 41 bytes", after)
	}
	if !note.Stale(after, "") {
		t.Errorf("note not stale after a file was added to the folder")
	}

	// A file that grows in place moves the latest modification time.
	if err := os.WriteFile(filepath.Join(blobs, "b"), []byte("second!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if grown := scanOne(t, dir); !grown.ModTime.After(old) {
		t.Errorf("latest modification time %s did not move after a write", grown.ModTime)
	}
}

// scanOne scans dir and returns its only candidate.
func scanOne(t *testing.T, dir string) Candidate {
	t.Helper()
	listing, err := Scan(context.Background(), dir, testStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(listing.Candidates) != 1 {
		t.Fatalf("Scan found %d candidates, want 1: %+v", len(listing.Candidates), listing)
	}
	return listing.Candidates[0]
}

func TestScanFindsOrphanNotes(t *testing.T) {
	dir := t.TempDir()
	removedKit := filepath.Join(dir, "removed.tar")
	presentKit := filepath.Join(dir, "present.tar")
	for _, kit := range []string{removedKit, presentKit} {
		if err := WriteNote(kit, Note{Reason: "invalid kit", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(presentKit, []byte("not a kit"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.tar"+NoteSuffix)
	if err := os.WriteFile(foreign, []byte("an operator's own file"), 0o644); err != nil {
		t.Fatal(err)
	}

	listing, err := Scan(context.Background(), dir, testStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(listing.OrphanNotes) != 1 || listing.OrphanNotes[0] != NotePath(removedKit) {
		t.Errorf("orphan notes %v, want only %s", listing.OrphanNotes, NotePath(removedKit))
	}
}

func TestNoteStaleWhenFileOrActiveChanges(t *testing.T) {
	mtime := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	c := Candidate{Size: 10, ModTime: mtime}
	n := Note{Size: 10, ModTime: mtime, Active: "sha256:a"}
	if !n.Stale(Candidate{Size: 10, ModTime: mtime, Files: 3}, "sha256:a") {
		t.Errorf("note not stale after the file count changed")
	}
	if n.Stale(c, "sha256:b") {
		t.Errorf("note stale after an active change without RetryOnActiveChange")
	}
	if !n.Stale(Candidate{Size: 11, ModTime: mtime}, "sha256:a") {
		t.Errorf("note not stale after the file grew")
	}
	n.RetryOnActiveChange = true
	if !n.Stale(c, "sha256:b") {
		t.Errorf("note not stale after an active change with RetryOnActiveChange")
	}
	if n.Stale(c, "sha256:a") {
		t.Errorf("note stale with nothing changed")
	}
}

// A note of a signature rejection no longer applies once the trusted keys
// differ, in whatever order they are listed.
func TestNoteKeysChanged(t *testing.T) {
	n := Note{Keys: KeySetID([]string{"a1", "b2"})}
	if n.KeysChanged(KeySetID([]string{"b2", "a1"})) {
		t.Errorf("keys changed with the same keys in another order")
	}
	if !n.KeysChanged(KeySetID([]string{"a1", "b2", "c3"})) {
		t.Errorf("keys not changed after a key was added")
	}
	if (Note{}).KeysChanged(KeySetID(nil)) {
		t.Errorf("a note of another rejection reports changed keys")
	}
}

func TestNoteRoundTrip(t *testing.T) {
	kit := filepath.Join(t.TempDir(), "kit.tar")
	want := Note{Size: 3, Reason: "base missing", Digest: "sha256:x"}
	if err := WriteNote(kit, want); err != nil {
		t.Fatal(err)
	}
	got, ok := ReadNote(kit)
	if !ok || got.Reason != want.Reason || got.Digest != want.Digest {
		t.Errorf("ReadNote = %+v, %v", got, ok)
	}
	if err := RemoveNote(kit); err != nil {
		t.Fatal(err)
	}
	if _, ok := ReadNote(kit); ok {
		t.Errorf("note still readable after RemoveNote")
	}
}

func TestNoteSizeBounds(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	if err := WriteNote(kit, Note{Reason: strings.Repeat("x", 100<<10)}); err != nil {
		t.Fatal(err)
	}
	n, ok := ReadNote(kit)
	if !ok || len(n.Reason) > 20<<10 || !strings.HasSuffix(n.Reason, "(cut)") {
		t.Errorf("a note with a 100 KiB reason: read %v, reason of %d bytes", ok, len(n.Reason))
	}
	big := `{"reason":"` + strings.Repeat("y", 1<<20) + `"}`
	if err := os.WriteFile(NotePath(kit), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := ReadNote(kit); ok {
		t.Error("a 1 MiB file named as a note was read as a note")
	}
}

func TestScanFindsOrphanTempNotes(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present.tar")
	if err := os.WriteFile(present, []byte("not a kit"), 0o644); err != nil {
		t.Fatal(err)
	}
	removedTemp := filepath.Join(dir, "removed.tar"+NoteSuffix+noteTempSuffix)
	for _, p := range []string{removedTemp, NotePath(present) + noteTempSuffix} {
		if err := os.WriteFile(p, []byte(`{"reason":`), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	listing, err := Scan(context.Background(), dir, testStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(listing.OrphanNotes) != 1 || listing.OrphanNotes[0] != removedTemp {
		t.Errorf("orphan notes %v, want only %s", listing.OrphanNotes, removedTemp)
	}
}

func TestWriteNoteFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	// A folder in the note's place makes the rename fail.
	if err := os.MkdirAll(filepath.Join(NotePath(kit), "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteNote(kit, Note{Reason: "invalid kit", At: time.Now()}); err == nil {
		t.Fatal("WriteNote over a folder succeeded")
	}
	if _, err := os.Lstat(NotePath(kit) + noteTempSuffix); !os.IsNotExist(err) {
		t.Errorf("the temporary note remains after a failed write (stat: %v)", err)
	}
}

func TestNoteReasonCutMatchesStored(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	// A two-byte character straddles the cut.
	reason := strings.Repeat("x", maxReason-1) + "é" + strings.Repeat("y", 100)
	if err := WriteNote(kit, Note{Reason: reason, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n, ok := ReadNote(kit)
	if !ok {
		t.Fatal("the note was not read back")
	}
	if n.Reason != NoteReason(reason) {
		t.Errorf("stored reason of %d bytes differs from NoteReason of %d bytes", len(n.Reason), len(NoteReason(reason)))
	}
	if strings.ContainsRune(n.Reason, '\uFFFD') {
		t.Error("the cut split a character")
	}
}

func TestStoreIdentityResolvesLinks(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	resolvedRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	// The store folder does not exist yet, so only its parent resolves.
	want := filepath.Join(resolvedRoot, "real", "store")
	if got := StoreIdentity(filepath.Join(link, "store")); got != want {
		t.Errorf("identity of a store folder not created yet = %q, want %q", got, want)
	}
	if err := os.Mkdir(filepath.Join(real, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := StoreIdentity(filepath.Join(link, "store")); got != want {
		t.Errorf("identity after the store folder was created = %q, want %q", got, want)
	}
}
