package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/watch"
)

// TestWatchIgnoresNoteOfOtherStore checks that a rejection note written by
// the watch of one store does not keep the watch of another store, which
// trusts the kit, from importing it. The other store's note stays, so
// that store's watch keeps its rejection.
func TestWatchIgnoresNoteOfOtherStore(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)
	dropped := filepath.Join(drop, filepath.Base(kit))
	untrusting := filepath.Join(e.dir, "untrusting")

	r := e.run("--store", untrusting, "ouk", "watch", "--once", drop)
	if r.code != exitRejected {
		t.Fatalf("watch of the store without a trusted key: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	before, err := os.ReadFile(watch.NotePath(dropped))
	if err != nil {
		t.Fatalf("no rejection note beside the kit: %v", err)
	}
	var note watch.Note
	if err := json.Unmarshal(before, &note); err != nil {
		t.Fatal(err)
	}
	if note.Store != watch.StoreIdentity(untrusting) {
		t.Errorf("note records store %q, want %q", note.Store, watch.StoreIdentity(untrusting))
	}

	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch of the trusting store: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if got, want := e.activeDigest(), e.inspectDigest(kit); got != want {
		t.Errorf("trusting store: active kit %q, want %q\n%s", got, want, r.stderr)
	}
	if strings.Contains(r.stderr, "remains rejected") {
		t.Errorf("the trusting store's watch honoured the other store's note:\n%s", r.stderr)
	}
	after, err := os.ReadFile(watch.NotePath(dropped))
	if err != nil {
		t.Fatalf("the other store's note was removed: %v", err)
	}
	if !bytes.Equal(after, before) {
		t.Errorf("the other store's note changed:\n%s\nwant:\n%s", after, before)
	}

	r = e.run("--store", untrusting, "ouk", "watch", "--once", drop)
	if r.code != exitRejected || !strings.Contains(r.stderr, msgRemainsRejected) {
		t.Errorf("watch of the store without a trusted key again: exit %d, want %d and its own note honoured\n%s",
			r.code, exitRejected, r.stderr)
	}
}

// TestWatchRejectionBesideOtherStoreNote checks that a watch that rejects a
// kit whose note another store's watch wrote leaves that note as it is and
// says that only this process remembers the rejection.
func TestWatchRejectionBesideOtherStoreNote(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)
	dropped := filepath.Join(drop, filepath.Base(kit))
	first := filepath.Join(e.dir, "first")
	if r := e.run("--store", first, "ouk", "watch", "--once", drop); r.code != exitRejected {
		t.Fatalf("first store's watch: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	before, err := os.ReadFile(watch.NotePath(dropped))
	if err != nil {
		t.Fatal(err)
	}

	second := filepath.Join(e.dir, "second")
	r := e.run("--store", second, "ouk", "watch", "--once", drop)
	if r.code != exitRejected {
		t.Fatalf("second store's watch: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	for _, want := range []string{"belongs to the watch of another store", "noteStore=" + watch.StoreIdentity(first),
		"no trusted key"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("log of the second store's watch does not contain %q:\n%s", want, r.stderr)
		}
	}
	if after, err := os.ReadFile(watch.NotePath(dropped)); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the first store's note was replaced or removed (%v):\n%s", err, after)
	}
}

// TestWatchEvaluatesNoteWithoutStore checks that a note that records no
// store, as older versions wrote it, does not keep a watch from importing
// its kit, and that the watch removes it.
func TestWatchEvaluatesNoteWithoutStore(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)
	dropped := filepath.Join(drop, filepath.Base(kit))
	listing, err := watch.Scan(context.Background(), drop, watch.StoreRef{})
	if err != nil || len(listing.Candidates) != 1 {
		t.Fatalf("scanning the drop folder: %v, %d candidates", err, len(listing.Candidates))
	}
	// The note matches the kit's whole fingerprint, so only its missing
	// store lets the watch try the kit.
	note := watch.NoteFor(listing.Candidates[0])
	note.Reason, note.At = "no trusted key is configured", time.Now().UTC()
	if err := watch.WriteNote(dropped, note); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if got, want := e.activeDigest(), e.inspectDigest(kit); got != want {
		t.Errorf("active kit %q, want %q\n%s", got, want, r.stderr)
	}
	if _, ok := watch.ReadNote(dropped); ok {
		t.Errorf("the note without a store stayed after the kit was imported")
	}
}

// TestWatchLeavesNoNewStore checks that a watch given a store path that
// holds no store leaves none behind when it imports nothing, so that
// `stella ouk status` still reports the store absent.
func TestWatchLeavesNoNewStore(t *testing.T) {
	e := newEnv(t)
	empty := e.newDrop("empty")
	rejected := e.newDrop("rejected")
	if err := os.WriteFile(filepath.Join(rejected, "text.tar.zst"), []byte("not a kit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		drop string
		code int
	}{
		{"empty folder", empty, 0},
		{"rejected kit", rejected, exitRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typo := filepath.Join(e.dir, "typo-"+filepath.Base(tc.drop))
			r := e.run("--store", typo, "ouk", "watch", "--once", tc.drop)
			if r.code != tc.code {
				t.Fatalf("watch --once: exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if _, err := os.Stat(typo); !os.IsNotExist(err) {
				t.Errorf("watch left the new store folder %s behind (stat error %v)", typo, err)
			}
			if !strings.Contains(r.stderr, "the store does not exist yet") {
				t.Errorf("log does not say that the store does not exist yet:\n%s", r.stderr)
			}
			st := e.run("--store", typo, "ouk", "status")
			if st.code != exitError {
				t.Errorf("status of the store path: exit %d, want %d\n%s%s", st.code, exitError, st.stdout, st.stderr)
			}
		})
	}

	t.Run("kit imported", func(t *testing.T) {
		kit := e.buildKit("kit.tar.zst")
		drop := e.newDrop("kits", kit)
		fresh := filepath.Join(e.dir, "fresh")
		if r := e.run("--store", fresh, "ouk", "watch", "--once", "--key", e.pub, drop); r.code != 0 {
			t.Fatalf("watch --once: exit %d, want 0\n%s", r.code, r.stderr)
		}
		if st := e.run("--store", fresh, "ouk", "status"); st.code != 0 {
			t.Errorf("status of the store the watch imported into: exit %d, want 0\n%s", st.code, st.stderr)
		}
	})
}

// TestWatchRunningLeavesNoNewStore checks that a running watch leaves no
// store behind at a path that held none, over an empty drop folder and
// over one whose only kit it rejected, whose later rounds are idle.
func TestWatchRunningLeavesNoNewStore(t *testing.T) {
	for _, kit := range []string{"", "text.tar.zst"} {
		name := "empty folder"
		if kit != "" {
			name = "rejected kit"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			drop := e.newDrop("drop")
			if kit != "" {
				if err := os.WriteFile(filepath.Join(drop, kit), []byte("not a kit\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			typo := filepath.Join(e.dir, "typo")
			out := runWatchRounds(t, 4, "--store", typo, "ouk", "watch", "-v", "--interval", "200ms",
				"--settle", "1ms", drop)
			if _, err := os.Stat(typo); !os.IsNotExist(err) {
				t.Errorf("running watch left the new store folder %s behind (stat error %v)\n%s", typo, err, out)
			}
			if n := strings.Count(out, "the store does not exist yet"); n != 1 {
				t.Errorf("the missing store was logged %d times, want once:\n%s", n, out)
			}
			if kit != "" && !strings.Contains(out, "kit rejected") {
				t.Errorf("the kit was not rejected:\n%s", out)
			}
		})
	}
}

// runWatchRounds runs stella with args until it has logged rounds scans of
// the drop folder, stops it between rounds, and returns its stderr.
func runWatchRounds(t *testing.T, rounds int, args ...string) string {
	t.Helper()
	cmd := exec.Command(stellaBin, args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stderr.String(), `msg="drop folder scanned"`) < rounds && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	out := stderr.String()
	if n := strings.Count(out, `msg="drop folder scanned"`); n < rounds {
		t.Fatalf("the watch ran %d rounds, want at least %d:\n%s", n, rounds, out)
	}
	return out
}

// TestWatchRollbackAdviceForHeldKit checks the skip of a kit rolled back
// from: while the store holds the kit, the skip advises the rollback
// command, which works without the file, and that command activates the
// kit. Once gc removed the kit, the skip advises importing the file.
func TestWatchRollbackAdviceForHeldKit(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].full)
	e.must("ouk", "rollback", "--key", e.pub)
	drop := e.newDrop("drop", series[1].full)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	advice := regexp.MustCompile("run `(stella [^`]* ouk rollback [^`]*)` to activate it again").FindStringSubmatch(r.stderr)
	if advice == nil {
		t.Fatalf("skip does not advise the rollback command:\n%s", r.stderr)
	}
	if !strings.HasSuffix(advice[1], " "+series[1].digest) {
		t.Errorf("advised command %q does not name the kit's digest %s", advice[1], series[1].digest)
	}
	if strings.Contains(r.stderr, " ouk import ") {
		t.Errorf("skip advises an import although the store holds the kit:\n%s", r.stderr)
	}
	args := strings.Fields(advice[1])[1:]
	if res := e.runCommand(exec.Command(stellaBin, args...), args); res.code != 0 {
		t.Fatalf("advised command %q: exit %d\n%s", advice[1], res.code, res.stderr)
	}
	if got := e.activeDigest(); got != series[1].digest {
		t.Errorf("after the advised command, active %s, want %s", got, series[1].digest)
	}

	e.must("ouk", "rollback", "--key", e.pub, series[0].digest)
	e.must("ouk", "gc", "--keep", "0")
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once after gc: exit %d\n%s", r.code, r.stderr)
	}
	importAdvice := "Run `" + strings.Join([]string{"stella", "--store", e.store, "ouk", "import", "--key", e.pub,
		filepath.Join(drop, filepath.Base(series[1].full))}, " ") + "` to activate it again"
	if !strings.Contains(r.stderr, importAdvice) {
		t.Errorf("skip of a kit that gc removed does not advise %q:\n%s", importAdvice, r.stderr)
	}
	if strings.Contains(r.stderr, "ouk rollback") {
		t.Errorf("skip advises a rollback to a kit that gc removed:\n%s", r.stderr)
	}
}

// TestWatchTellsStoresAtOnePathApart checks that a rejection note written
// for one store does not bind another store at the same path, as on two
// hosts that share a drop folder: the store IDs differ.
func TestWatchTellsStoresAtOnePathApart(t *testing.T) {
	e := newEnv(t)
	base := e.buildKit("base.tar.zst", "--sequence", "1")
	otherKey, otherPub := e.keygen("other")
	next := e.buildKit("next.tar.zst", "--sequence", "2", "--key", otherKey)
	drop := e.newDrop("drop", next)
	dropped := filepath.Join(drop, filepath.Base(next))

	// The first store trusts only the base kit's key, so it rejects the
	// next kit.
	e.must("ouk", "import", "--key", e.pub, base)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch of the first store: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	raw, err := os.ReadFile(watch.NotePath(dropped))
	if err != nil {
		t.Fatalf("no rejection note beside the kit: %v", err)
	}
	var note watch.Note
	if err := json.Unmarshal(raw, &note); err != nil {
		t.Fatal(err)
	}
	if note.StoreID == "" {
		t.Errorf("the note records no store ID: %s", raw)
	}

	// Another store at the same path, which trusts the next kit's key.
	if err := os.Rename(e.store, e.store+".first"); err != nil {
		t.Fatal(err)
	}
	e.must("ouk", "import", "--key", e.pub, base)
	r = e.run("ouk", "watch", "--once", "--key", otherPub, drop)
	if r.code != 0 {
		t.Fatalf("watch of the second store at the same path: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if got, want := e.activeDigest(), e.inspectDigest(next); got != want {
		t.Errorf("second store: active kit %q, want %q\n%s", got, want, r.stderr)
	}
}
