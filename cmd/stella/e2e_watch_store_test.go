package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// TestWatchKeepsRollbackWhenHistoryFails checks that a watch whose store
// cannot read the kit history imports no kit, because a kit rolled back
// from would look new, and that it ends the round without rejecting any
// kit for the store's failure.
func TestWatchKeepsRollbackWhenHistoryFails(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	e.must("ouk", "rollback", "--key", e.pub)
	// A history entry that does not decode, sorted before the real ones.
	setRawKey(t, filepath.Join(e.store, storeDBDir), "h/0000000000000000", "{")

	drop := e.newDrop("drop", series[1].full)
	// Not a kit, so a round that went on after the store failed would
	// reject it.
	junk := filepath.Join(drop, "zz-junk.tar")
	if err := os.WriteFile(junk, []byte(strings.Repeat("junk", 1024)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitError {
		t.Errorf("watch --once with an unreadable history: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("watch undid the rollback: active %s, want night 1 %s", got, series[0].digest)
	}
	if strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("watch imported a kit without reading the history:\n%s", r.stderr)
	}
	kit := filepath.Join(drop, filepath.Base(series[1].full))
	if _, ok := watch.ReadNote(kit); ok {
		t.Errorf("the store's failure rejected the kit %s", kit)
	}
	if _, ok := watch.ReadNote(junk); ok {
		t.Errorf("the round went on after the store failed and rejected %s", junk)
	}
	if !strings.Contains(r.stderr, "the store failed, not the kit") || !strings.Contains(r.stderr, "store="+e.store) {
		t.Errorf("log does not point at the store folder %s:\n%s", e.store, r.stderr)
	}
}
