package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/watch"
)

// writeDamaged writes the kit at src to dst with the last byte flipped,
// the end of the zstd frame's checksum, so the kit's bundle index stays
// readable but its import fails.
func writeDamaged(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0xff
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchRetriesCopyKeepingTimes checks that a good copy of a rejected
// kit is imported when it keeps the damaged file's size and modification
// time, as cp -p does when it copies over the file.
func TestWatchRetriesCopyKeepingTimes(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop")
	dropped := filepath.Join(drop, "kit.tar.zst")
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeDamaged(t, kit, dropped)
	if err := os.Chtimes(dropped, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once with a damaged kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}

	// The kernel may advance change times only every few milliseconds.
	time.Sleep(50 * time.Millisecond)
	good, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dropped, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dropped, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once after a good copy: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("good copy not imported:\n%s", r.stderr)
	}
	if _, ok := watch.ReadNote(dropped); ok {
		t.Errorf("rejection note kept after the kit was imported")
	}
}

// TestWatchOnceSkipsRejectedKitOlderThanActive checks that a kit rejected
// while it was newer than the active kit is skipped as older, and stops
// counting as rejected, once a newer kit is active.
func TestWatchOnceSkipsRejectedKitOlderThanActive(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	// An uncompressed kit with one byte of its largest blob changed, so
	// the scan reads its sequence but the import rejects it.
	plain := filepath.Join(e.dir, "night-02.tar")
	e.must("ouk", "build", "--version", "night-02", "--sequence", "2", "--feed", "osv="+e.nightFeed(2),
		"--key", e.key, "-o", plain)
	entries := readTar(t, plain)
	largest := 0
	for i, entry := range entries {
		if strings.HasPrefix(entry.hdr.Name, "blobs/") && len(entry.data) > len(entries[largest].data) {
			largest = i
		}
	}
	entries[largest].data[0] ^= 0xff
	drop := e.newDrop("drop")
	damaged := filepath.Join(drop, "night-02.tar")
	writeTar(t, damaged, entries)
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once with a damaged kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}

	e.importJSON(series[2].full)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the site moved past the rejected kit: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit is older than the active kit; skipped"`) {
		t.Errorf("rejected kit not skipped as older:\n%s", r.stderr)
	}
	if _, ok := watch.ReadNote(damaged); ok {
		t.Errorf("rejection note of a kit older than the active kit was kept")
	}
}
