package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// newDrop creates a drop folder holding hard links to the given kits.
func (e *env) newDrop(name string, kits ...string) string {
	e.t.Helper()
	drop := filepath.Join(e.dir, name)
	if err := os.MkdirAll(drop, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, k := range kits {
		if err := os.Link(k, filepath.Join(drop, filepath.Base(k))); err != nil {
			e.t.Fatal(err)
		}
	}
	return drop
}

func TestWatchKeepsRollback(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	e.must("ouk", "rollback")
	if got := e.activeDigest(); got != series[0].digest {
		t.Fatalf("after rollback, active %s; want night 1 %s", got, series[0].digest)
	}

	drop := e.newDrop("drop", series[0].full, series[1].full, series[1].delta)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("watch undid the rollback: active %s, want night 1 %s", got, series[0].digest)
	}
	if strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("watch imported a rolled-back kit:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "was active before"); n != 2 {
		t.Errorf("watch logged %d skips of the rolled-back kit, want 2 (full and delta):\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "version=night-02") || !strings.Contains(r.stderr, series[1].digest) {
		t.Errorf("skip not logged with version and digest:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit already active; skipped"`) {
		t.Errorf("no skip logged for the active kit's file:\n%s", r.stderr)
	}

	// An operator's own import still activates it.
	e.importJSON(series[1].delta)
	if got := e.activeDigest(); got != series[1].digest {
		t.Errorf("import by hand: active %s, want night 2 %s", got, series[1].digest)
	}
}

func TestWatchOnceRejectsTruncatedKit(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	drop := e.newDrop("drop")
	cut := filepath.Join(drop, "cut.tar.zst")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once with a truncated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit rejected; left in place"`) {
		t.Errorf("truncated kit not logged as rejected:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, `version=""`) || strings.Contains(r.stderr, `digest=""`) {
		t.Errorf("log has empty version or digest fields:\n%s", r.stderr)
	}
	note, ok := watch.ReadNote(cut)
	if !ok {
		t.Fatalf("no rejection note beside the truncated kit")
	}
	if !strings.Contains(note.Reason, "truncated") || !strings.Contains(note.Reason, "copy the kit file again") {
		t.Errorf("note reason %q does not say the file is truncated and what to do", note.Reason)
	}
	if n := strings.Count(note.Reason, "copy the kit file again"); n != 1 {
		t.Errorf("note reason %q gives the advice %d times, want once", note.Reason, n)
	}

	// A second run counts the kit again and names it.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("second run: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit remains rejected; skipped" path=`+cut) {
		t.Errorf("second run does not name the kit it counts as rejected:\n%s", r.stderr)
	}
}

func TestImportFlippedByteRejected(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	// The zstd frame ends with a checksum of its content: flipping a bit
	// of it makes the decoder fail however the data decodes.
	raw[len(raw)-1] ^= 0xff
	flipped := filepath.Join(e.dir, "flipped.tar.zst")
	if err := os.WriteFile(flipped, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "import", "--key", e.pub, flipped)
	if r.code != exitRejected {
		t.Errorf("import of a corrupt kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "copy the kit file again") {
		t.Errorf("error does not advise copying the file again:\n%s", r.stderr)
	}
}

func TestWatchOnceSkipsDamagedCopyOfActiveKit(t *testing.T) {
	e := newEnv(t)
	// An uncompressed kit, so the entries before the cut stay readable
	// and the rejection note can name the kit.
	kit := e.buildKit("kit.tar")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	drop := e.newDrop("drop")
	cut := filepath.Join(drop, "cut.tar")
	if err := os.WriteFile(cut, raw[:len(raw)*9/10], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once with a truncated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if note, ok := watch.ReadNote(cut); !ok || note.Digest == "" {
		t.Fatalf("the rejection note does not name the kit's digest: %+v", note)
	}

	// The intact kit arrives another way; the damaged copy is then no
	// reason to fail the run.
	e.importJSON(kit)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the kit became active: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "the kit it carries is active") {
		t.Errorf("watch does not say why it skips the damaged copy:\n%s", r.stderr)
	}
}

func TestWatchOnceLeavesEmptyFileForLater(t *testing.T) {
	e := newEnv(t)
	drop := e.newDrop("drop")
	if err := os.WriteFile(filepath.Join(drop, "copying.tar.zst"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--verbose", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once with an empty file: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "retrying next round") {
		t.Errorf("watch --once promises a next round it does not run:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped until a later run") {
		t.Errorf("watch --once does not say the empty file waits for a later run:\n%s", r.stderr)
	}
}

func TestWatchRejectionNamesImportOverride(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	kit := e.buildKitNoKey("unsigned.tar")
	dropped := filepath.Join(drop, "unsigned.tar")
	if err := os.Rename(kit, dropped); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch --once with an unsigned kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	want := "stella --store " + e.store + " ouk import --insecure-skip-signature --key " + e.pub + " " + dropped
	if !strings.Contains(r.stderr, want) {
		t.Errorf("rejection does not say to run %q:\n%s", want, r.stderr)
	}
}
