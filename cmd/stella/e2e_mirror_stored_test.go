package main

import (
	"strings"
	"testing"
)

// mirrorDryRun runs a dry run of mirror, which checks the kit and contacts
// no registry.
func (e *env) mirrorDryRun(args ...string) result {
	e.t.Helper()
	return e.run(append([]string{"ouk", "mirror", "--dry-run", "--to", "127.0.0.1:9/site"}, args...)...)
}

// assertNoActivateWording fails the test when the output of a mirror
// speaks of activating the kit, which mirror never does. "was last
// activated with" names a past import and may appear.
func assertNoActivateWording(t *testing.T, label, stderr string) {
	t.Helper()
	for _, phrase := range []string{"activate it", "activate the kit", "activating", "activates", "activated again"} {
		if strings.Contains(stderr, phrase) {
			t.Errorf("%s: mirror output says %q, but mirror activates nothing:\n%s", label, phrase, stderr)
		}
	}
}

func TestMirrorStoredKitRevokedKeyWording(t *testing.T) {
	e, first, second := revokedKeyEnv(t)

	r := e.mirrorDryRun(first.digest)
	assertFailure(t, "revoked key", r, exitRejected, "kit 1.0.0", "is no longer trusted",
		"rather than mirroring this one", "--insecure-skip-signature to mirror the kit anyway")
	assertNoActivateWording(t, "revoked key", r.stderr)

	r = e.mirrorDryRun("--insecure-skip-signature", first.digest)
	if r.code != 0 {
		t.Fatalf("mirror --insecure-skip-signature: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "mirroring kit 1.0.0 without a valid signature (--insecure-skip-signature)") {
		t.Errorf("mirror --insecure-skip-signature does not warn about mirroring without a signature:\n%s", r.stderr)
	}
	assertNoActivateWording(t, "revoked key skipped", r.stderr)
	if got := e.activeDigest(); got != second.digest {
		t.Errorf("active kit %s after mirror, want kit 2.0.0 %s", got, second.digest)
	}
}

func TestMirrorStoredKitKeyOnlyWording(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))

	r := e.mirrorDryRun()
	assertFailure(t, "key given only to import", r, exitRejected, "was last activated with the key "+e.pub,
		"pass that key with --key", "--insecure-skip-signature to mirror the kit without a check")
	assertNoActivateWording(t, "key given only to import", r.stderr)

	if r := e.mirrorDryRun("--key", e.pub); r.code != 0 {
		t.Errorf("mirror --key: exit %d\n%s", r.code, r.stderr)
	}
}

func TestMirrorStoredKitUnsignedWording(t *testing.T) {
	e := newEnv(t)
	e.importJSONArgs(e.buildKitNoKey("unsigned.tar"), "--insecure-skip-signature")

	r := e.mirrorDryRun("--key", e.pub)
	assertFailure(t, "unsigned kit", r, exitRejected, "contains no signature",
		"--insecure-skip-signature to mirror it anyway")
	assertNoActivateWording(t, "unsigned kit", r.stderr)
}

func TestMirrorStoredKitExpiredWording(t *testing.T) {
	e, expired := expiredPreviousEnv(t)

	r := e.mirrorDryRun("--key", e.pub, expired)
	assertFailure(t, "expired kit", r, exitRejected, "kit 1.0.0 expired at 2001-09-09T02:46:40Z",
		"--allow-expired to mirror it anyway")
	assertNoActivateWording(t, "expired kit", r.stderr)

	r = e.mirrorDryRun("--key", e.pub, "--allow-expired", expired)
	if r.code != 0 {
		t.Fatalf("mirror --allow-expired: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "mirroring it because --allow-expired is set") {
		t.Errorf("mirror --allow-expired does not warn about mirroring an expired kit:\n%s", r.stderr)
	}
	assertNoActivateWording(t, "expired kit allowed", r.stderr)
}
