package watch

import (
	"context"
	"os"
	"path/filepath"
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
	got, err := Scan(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || filepath.Base(got[0].Path) != "bad.tar" {
		t.Fatalf("Scan = %+v, want only bad.tar", got)
	}
	if got[0].PeekErr == nil {
		t.Errorf("bad.tar was peeked without error")
	}
}

func TestNoteStaleWhenFileOrActiveChanges(t *testing.T) {
	mtime := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	c := Candidate{Size: 10, ModTime: mtime}
	n := Note{Size: 10, ModTime: mtime, Active: "sha256:a"}
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
