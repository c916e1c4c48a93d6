package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestVerifyMissingKitNamesPath(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(e.dir, "no-such-kit.tar")

	r := e.run("ouk", "verify", "--key", e.pub, missing)
	assertFailure(t, "verify of a missing kit", r, exitError, missing, "not found", "check the path")
	if strings.Contains(r.stderr, "damaged") {
		t.Errorf("a missing kit is called damaged:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("verify of a missing kit printed a report:\n%s", r.stdout)
	}
}

func TestVerifyPrivateKeyNamesPub(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")

	r := e.run("ouk", "verify", "--key", e.key, kit)
	assertFailure(t, "verify with the private key", r, exitError, e.key, "contains a private key",
		"give the matching public key", e.pub)
}

func TestDowngradeAdviceFollowsStore(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	first := e.importJSON(kit1)
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	r := e.run("ouk", "import", "--key", e.pub, kit1)
	assertFailure(t, "import of an older kit the store holds", r, exitRejected,
		"the store still holds this kit", "stella ouk rollback "+first.Digest)

	e.must("ouk", "gc", "--keep", "0")
	r = e.run("ouk", "import", "--key", e.pub, kit1)
	assertFailure(t, "import of an older kit gc removed", r, exitRejected,
		"the store does not hold this kit", "--allow-downgrade")
	if strings.Contains(r.stderr, "stella ouk rollback "+first.Digest) {
		t.Errorf("advice names a rollback to a kit gc removed:\n%s", r.stderr)
	}
	// The rejected import removed the blobs it stored, so the advice stays
	// the same on the next attempt.
	r = e.run("ouk", "import", "--key", e.pub, kit1)
	assertFailure(t, "second import of an older kit gc removed", r, exitRejected, "the store does not hold this kit")
}

func TestRollbackSingleKitHistory(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))

	r := e.run("ouk", "rollback", "--key", e.pub)
	assertFailure(t, "rollback with one kit", r, exitError, "no earlier kit to roll back to", "1.0.0")
	if strings.Contains(r.stderr, "name a kit digest") {
		t.Errorf("rollback asks for a digest though no other kit exists:\n%s", r.stderr)
	}
}

// A rollback killed right after its switch leaves its kit active, so the
// operator runs it again. That run must succeed and change nothing.
func TestRollbackToActiveKitSucceeds(t *testing.T) {
	e := newEnv(t)
	first := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	e.must("ouk", "rollback", "--key", e.pub, first.Digest)
	history := e.must("ouk", "history", "-o", "json")

	r := e.run("ouk", "rollback", first.Digest)
	if r.code != 0 {
		t.Fatalf("second rollback to %s: exit %d, want 0:\n%s", first.Digest, r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Kit 1.0.0 ("+first.Digest+") is already active; nothing changed") {
		t.Errorf("second rollback output does not say the kit is already active:\n%s", r.stdout)
	}
	var rep struct {
		Digest        string `json:"digest"`
		AlreadyActive bool   `json:"alreadyActive"`
		Previous      any    `json:"previous"`
		SignedBy      string `json:"signedBy"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "rollback", "-o", "json", first.Digest)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Digest != first.Digest {
		t.Errorf("JSON names kit %s, want %s", rep.Digest, first.Digest)
	}
	if !rep.AlreadyActive {
		t.Error("JSON lacks alreadyActive: true")
	}
	// The kit is reported as status reports the active kit.
	if want := e.status().Active.SignedBy; rep.SignedBy != want || want == "" {
		t.Errorf("JSON names signer %q, status %q", rep.SignedBy, want)
	}
	if rep.Previous != nil {
		t.Errorf("JSON names a previous kit %v, but nothing switched", rep.Previous)
	}
	if got := e.must("ouk", "history", "-o", "json"); got != history {
		t.Errorf("a rollback to the active kit changed the history:\nbefore %s\nafter  %s", history, got)
	}
	if got := e.activeDigest(); got != first.Digest {
		t.Errorf("active kit %s, want %s", got, first.Digest)
	}
}

func TestRollbackJSONNamesPrevious(t *testing.T) {
	e := newEnv(t)
	first := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	second := e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	type report struct {
		Digest   string `json:"digest"`
		Version  string `json:"version"`
		Sequence int64  `json:"sequence"`
		Previous *struct {
			Digest   string `json:"digest"`
			Version  string `json:"version"`
			Sequence int64  `json:"sequence"`
		} `json:"previous"`
		Direction string `json:"direction"`
	}
	rollback := func() report {
		t.Helper()
		var rep report
		if err := json.Unmarshal([]byte(e.must("ouk", "rollback", "--key", e.pub, "-o", "json")), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}

	back := rollback()
	if back.Digest != first.Digest || back.Version != "1.0.0" || back.Sequence != 1 {
		t.Errorf("first rollback: active %s %s (sequence %d), want kit 1.0.0 %s", back.Version, back.Digest, back.Sequence, first.Digest)
	}
	if back.Previous == nil {
		t.Fatal("first rollback: no previous kit in the JSON output")
	}
	if back.Previous.Digest != second.Digest || back.Previous.Version != "2.0.0" || back.Previous.Sequence != 2 {
		t.Errorf("first rollback: previous %+v, want kit 2.0.0 %s with sequence 2", *back.Previous, second.Digest)
	}
	if back.Direction != "older" {
		t.Errorf("first rollback: direction %q, want older", back.Direction)
	}

	forth := rollback()
	if forth.Direction != "newer" {
		t.Errorf("second rollback: direction %q, want newer", forth.Direction)
	}
	if forth.Previous == nil || forth.Previous.Version != "1.0.0" {
		t.Errorf("second rollback: previous %+v, want kit 1.0.0", forth.Previous)
	}
}

func TestLookupEmptyValueNamed(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--purl", ""}, "--purl is empty"},
		{[]string{"--cpe", ""}, "--cpe is empty"},
		{[]string{""}, "the record ID is empty"},
	} {
		r := e.run(append([]string{"db", "lookup"}, c.args...)...)
		assertFailure(t, fmt.Sprintf("db lookup %q", c.args), r, exitUsage, c.want)
		if strings.Contains(r.stderr, "exactly one of") {
			t.Errorf("db lookup %q: error says the value is missing:\n%s", c.args, r.stderr)
		}
	}
}

func TestDeltaFromBareWordExitUsage(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	out := filepath.Join(e.dir, "d.tar")

	r := e.run("ouk", "delta", "--from", "ACTIVE", "--to", series[1].full, "-o", out)
	assertFailure(t, "delta --from ACTIVE", r, exitUsage, "--from ACTIVE", "lower case", "--from active", "layout folder")
	r = e.run("ouk", "delta", "--from", series[0].full, "--to", "nightly", "-o", out)
	assertFailure(t, "delta --to nightly", r, exitUsage, "--to nightly", "no such path",
		"a kit file, a layout folder, the bundle digest")
	missing := filepath.Join(e.dir, "missing.tar")
	r = e.run("ouk", "delta", "--from", missing, "--to", series[1].full, "-o", out)
	assertFailure(t, "delta --from a missing file", r, exitError, missing, "not found", "check the path")
	assertNoFile(t, out)
}

func TestRegistryImportNextStep(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "push", "--plain-http", kit, reg.host+"/stella/kit:1")

	repo := reg.host + "/stella/kit"
	r := e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+repo+":nope")
	assertFailure(t, "import of a missing tag", r, exitError, "no tag nope in repository "+repo,
		"oras repo tags --plain-http "+repo, "crane ls --insecure "+repo)

	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r = e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+closed+"/stella/kit:1")
	assertFailure(t, "import from a closed port", r, exitError, "nothing accepts connections at "+closed,
		"check the address and port")
	r = e.run("ouk", "push", "--plain-http", kit, closed+"/stella/kit:1")
	assertFailure(t, "push to a closed port", r, exitError, "nothing accepts connections at "+closed)
}

func TestStoreFolderNotEnterable(t *testing.T) {
	e := newEnv(t)
	// The folders above the store must stay open to the user who runs
	// stella, and t.TempDir creates them with mode 0700.
	for _, dir := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(e.dir, "store1")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(e.dir, "stella")
	copyExecutable(t, stellaBin, bin)

	cmd := exec.Command(bin, "--store", store, "ouk", "status")
	if os.Geteuid() == 0 {
		// Root bypasses folder permissions, so stella runs as the
		// unprivileged user 65534 (the "nobody" account), which may not
		// enter the root-owned store folder of mode 0700.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else {
		if err := os.Chmod(store, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(store, 0o700) })
	}
	r := e.runCommand(cmd, []string{"ouk", "status"})
	assertFailure(t, "status of a store folder this user may not enter", r, exitError,
		"store folder "+store, "may not enter it", "--store", "give this user read and search (x) permission")
	if strings.Contains(r.stderr, "mkdir") {
		t.Errorf("error blames a mkdir for a folder that exists:\n%s", r.stderr)
	}
}

// copyExecutable copies the program at src to dst with mode 0755.
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPushShortDigestNamesMinimum checks that push names the digest prefix
// rule when its KIT argument is hex digits that no file has as its name
// and that are too short, or in the wrong case, for a digest prefix.
func TestPushShortDigestNamesMinimum(t *testing.T) {
	e := newEnv(t)
	// Nothing listens on port 9, and the kit argument fails first.
	target := "127.0.0.1:9/stella/kit:t"

	r := e.run("ouk", "push", "--plain-http", "865", target)
	assertFailure(t, "push of a three-digit prefix", r, exitError, "stat 865",
		"at least four hex digits", "sha256:865")

	r = e.run("ouk", "push", "--plain-http", "865AB", target)
	assertFailure(t, "push of an upper-case prefix", r, exitError, "lower-case hex digits", "865ab")

	r = e.run("ouk", "push", "--plain-http", "kit-30.tar.zst", target)
	if strings.Contains(r.stderr, "hex digits") {
		t.Errorf("push of a missing kit file names the digest prefix rule:\n%s", r.stderr)
	}
}
