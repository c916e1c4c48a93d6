package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// TestWatchUntrustedKitsDoNotConflict checks that kits of the sequence of
// a signed kit, one signed by an untrusted key and one unsigned, do not
// keep the signed kit from import. Each is rejected for its signature.
func TestWatchUntrustedKitsDoNotConflict(t *testing.T) {
	e := newEnv(t)
	otherKey, _ := e.keygen("other-keys")
	trusted := e.buildKit("night-02.tar.zst", "--version", "night-02", "--sequence", "2")
	trustedDigest := e.inspectDigest(trusted)
	// The untrusted kits sort before the trusted one, so the watch meets
	// them first.
	forged := e.buildKit("a-forged-02.tar.zst", "--version", "forged-02", "--sequence", "2", "--key", otherKey)
	unsigned := filepath.Join(e.dir, "b-unsigned-02.tar")
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	e.must("ouk", "build", "-o", unsigned, "--version", "unsigned-02", "--sequence", "2",
		"--feed", "osv="+filepath.Join(feeds, "osv"))
	drop := e.newDrop("drop", trusted, forged, unsigned)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once with untrusted kits beside a signed kit: exit %d, want %d\n%s",
			r.code, exitRejected, r.stderr)
	}
	if got := e.activeDigest(); got != trustedDigest {
		t.Errorf("active %q, want the signed kit %s: an untrusted kit blocked it\n%s", got, trustedDigest, r.stderr)
	}
	if _, ok := watch.ReadNote(filepath.Join(drop, filepath.Base(trusted))); ok {
		t.Errorf("the signed kit has a rejection note")
	}
	for _, c := range []struct{ file, reason string }{
		{forged, "another key signed it"},
		{unsigned, "carries no signature"},
	} {
		path := filepath.Join(drop, filepath.Base(c.file))
		note, ok := watch.ReadNote(path)
		if !ok {
			t.Errorf("no rejection note beside %s", path)
			continue
		}
		if note.Conflict {
			t.Errorf("%s is rejected for a conflict: %s", path, note.Reason)
		}
		if !strings.Contains(note.Reason, c.reason) {
			t.Errorf("note of %s %q does not contain %q", path, note.Reason, c.reason)
		}
		if !strings.Contains(r.stderr, `msg="kit rejected; left in place" path=`+path) {
			t.Errorf("no rejection log line for %s:\n%s", path, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "same sequence") {
		t.Errorf("watch reports a conflict:\n%s", r.stderr)
	}

	// Another run finds the untrusted kits rejected still, with no conflict
	// against the active kit.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("second watch --once: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if note, _ := watch.ReadNote(filepath.Join(drop, filepath.Base(forged))); note.Conflict {
		t.Errorf("second run rejects the forged kit for a conflict: %s", note.Reason)
	}
	if got := e.activeDigest(); got != trustedDigest {
		t.Errorf("after the second run, active %q, want %s", got, trustedDigest)
	}
}

// TestWatchExpiredKitDoesNotConflict checks that an expired kit of a
// trusted key does not keep a valid kit of its sequence from import: the
// watch would never import the expired one.
func TestWatchExpiredKitDoesNotConflict(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	expired := e.buildKit("a-expired-02.tar", "--version", "expired-02", "--sequence", "2", "--expires", "1h")
	os.Unsetenv("SOURCE_DATE_EPOCH")
	valid := e.buildKit("night-02.tar", "--version", "night-02", "--sequence", "2")
	validDigest := e.inspectDigest(valid)
	drop := e.newDrop("drop", expired, valid)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if got := e.activeDigest(); got != validDigest {
		t.Errorf("active %q, want the valid kit %s: the expired kit blocked it\n%s", got, validDigest, r.stderr)
	}
	note, ok := watch.ReadNote(filepath.Join(drop, filepath.Base(expired)))
	if !ok || note.Conflict || !strings.Contains(note.Reason, "expired") {
		t.Errorf("note of the expired kit: %+v (found %v), want a rejection for its expiry", note, ok)
	}
}
