package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Commands that take a kit of the store accept its version as well as its
// digest, as `stella ouk history` lists both.
func TestRollbackAndExportByVersion(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	first := e.importJSON(kit1)
	second := e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	out := filepath.Join(e.dir, "by-version.tar")
	if res := e.exportJSON("1.0.0", "-o", out); res.Digest != first.Digest || res.Version != "1.0.0" {
		t.Errorf("export 1.0.0 wrote kit %s %s, want 1.0.0 %s", res.Version, res.Digest, first.Digest)
	}
	assertSameFile(t, out, kit1)
	// Spaces around the name, as copied from the history, name the same
	// kit, as they do in rollback and check.
	padded := filepath.Join(e.dir, "padded.tar")
	if res := e.exportJSON(" 1.0.0 ", "-o", padded); res.Digest != first.Digest {
		t.Errorf("export \" 1.0.0 \" wrote kit %s %s, want 1.0.0 %s", res.Version, res.Digest, first.Digest)
	}
	if res := e.exportJSON("active ", "-o", filepath.Join(e.dir, "active.tar")); res.Digest != second.Digest {
		t.Errorf("export \"active \" wrote kit %s %s, want the active kit %s", res.Version, res.Digest, second.Digest)
	}

	e.must("ouk", "rollback", "--key", e.pub, "1.0.0")
	if got := e.activeDigest(); got != first.Digest {
		t.Errorf("after rollback 1.0.0 the active kit is %s, want %s", got, first.Digest)
	}
	e.must("ouk", "rollback", "--key", e.pub, "2.0.0")
	if got := e.activeDigest(); got != second.Digest {
		t.Errorf("after rollback 2.0.0 the active kit is %s, want %s", got, second.Digest)
	}

	r := e.run("ouk", "rollback", "--key", e.pub, "3.0.0")
	if r.code != exitError || !strings.Contains(r.stderr, `"3.0.0"`) || !strings.Contains(r.stderr, "ouk history") {
		t.Errorf("rollback to an unknown version: exit %d, want %d with the version and the history command:\n%s",
			r.code, exitError, r.stderr)
	}
	if got := e.activeDigest(); got != second.Digest {
		t.Errorf("a failed rollback changed the active kit to %s", got)
	}
	failure, r := e.exportFailure("3.0.0", "-o", filepath.Join(e.dir, "missing.tar"))
	if r.code != exitError || failure.Reason != "not-found" {
		t.Errorf("export of an unknown version: exit %d, reason %q; want exit %d, not-found", r.code, failure.Reason, exitError)
	}
}

// A name that matches more than one kit, as a short digest prefix may,
// lists the kits it matches.
func TestKitArgumentMatchingTwoKitsListsThem(t *testing.T) {
	e := newEnv(t)
	second := e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	// A version made of hex digits may name one kit while the same digits
	// start the digest of another: give a third kit a prefix of the second
	// kit's digest as its version.
	prefix := strings.TrimPrefix(second.Digest, "sha256:")[:6]
	third := e.importJSON(e.buildKit("kit3.tar", "--version", prefix, "--sequence", "3"))

	r := e.run("ouk", "check", prefix)
	if r.code != exitUsage || !strings.Contains(r.stderr, "names 2 kits") ||
		!strings.Contains(r.stderr, second.Digest) || !strings.Contains(r.stderr, third.Digest) {
		t.Errorf("check %s: exit %d, want %d naming both kits:\n%s", prefix, r.code, exitUsage, r.stderr)
	}
	// More digits of the second kit's digest cannot name the third kit,
	// which only its own digest names.
	if !strings.Contains(r.stderr, "give the digest of the kit you mean") {
		t.Errorf("check %s does not advise the digest of the intended kit:\n%s", prefix, r.stderr)
	}
	r = e.run("ouk", "export", prefix, "-o", filepath.Join(e.dir, "x.tar"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "names 2 kits") {
		t.Errorf("export %s: exit %d, want %d naming both kits:\n%s", prefix, r.code, exitUsage, r.stderr)
	}
}

// The keyword active names the active kit in check and rollback, as it
// does in export.
func TestCheckAndRollbackActiveKeyword(t *testing.T) {
	e := newEnv(t)
	first := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	e.must("ouk", "rollback", "--key", e.pub, "1.0.0")

	r := e.run("ouk", "check", "--key", e.pub, "active", "-o", "json")
	if r.code != 0 {
		t.Fatalf("check active: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, first.Digest) || strings.Count(r.stdout, `"digest": "sha256:`) != 1 {
		t.Errorf("check active did not check the active kit %s alone:\n%s", first.Digest, r.stdout)
	}
	r = e.run("ouk", "rollback", "--key", e.pub, "active")
	if r.code != 0 || !strings.Contains(r.stdout, "is already active; nothing changed") {
		t.Errorf("rollback active: exit %d, want 0 and nothing changed\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := e.activeDigest(); got != first.Digest {
		t.Errorf("rollback active changed the active kit to %s", got)
	}
}
