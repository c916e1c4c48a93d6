package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// TestWatchOnceOnFullVolume checks that watch --once succeeds on a store
// volume too full to open the store for writing while the drop folder
// holds no work: only the active kit and an older one, or nothing. A new
// kit still fails the run with the disk error, and gets no note.
func TestWatchOnceOnFullVolume(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 64<<20)
	e.store = filepath.Join(volume, "store")
	older := e.buildKit("night-01.tar", "--sequence", "1")
	active := e.buildKit("night-02.tar", "--sequence", "2")
	newer := e.buildKit("night-03.tar", "--sequence", "3")
	e.must("ouk", "import", "--key", e.pub, active)
	fillVolume(t, volume, 4<<10)
	drop := filepath.Join(e.dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || strings.Contains(r.stderr, "level=ERROR") {
		t.Errorf("watch --once over an empty folder: exit %d, want 0 without an error\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "level=WARN msg=\""+msgStoreReadOnlyRound) {
		t.Errorf("watch --once does not warn that it read the store read-only:\n%s", r.stderr)
	}

	for _, kit := range []string{older, active} {
		copyFile(t, kit, filepath.Join(drop, filepath.Base(kit)))
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || strings.Contains(r.stderr, "level=ERROR") {
		t.Errorf("watch --once over the active and an older kit: exit %d, want 0 without an error\n%s", r.code, r.stderr)
	}
	for _, want := range []string{msgAlreadyActive, "kit is older than the active kit; skipped"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("watch --once does not log %q:\n%s", want, r.stderr)
		}
	}

	dropped := filepath.Join(drop, filepath.Base(newer))
	copyFile(t, newer, dropped)
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitError || !strings.Contains(r.stderr, "disk full") {
		t.Errorf("watch --once with a new kit: exit %d, want %d with the disk error\n%s", r.code, exitError, r.stderr)
	}
	if _, noted := watch.ReadNote(dropped); noted {
		t.Errorf("new kit was rejected on a full volume")
	}
}
