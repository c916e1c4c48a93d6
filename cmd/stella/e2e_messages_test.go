package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
)

func TestImportNoKeyNamesKeysFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")

	r := e.run("ouk", "import", kit)
	if r.code != exitRejected {
		t.Errorf("import without a trusted key: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if want := filepath.Join(e.store, "keys"); !strings.Contains(r.stderr, want) {
		t.Errorf("error does not name the keys folder %s:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "$STELLA_HOME") {
		t.Errorf("error names a variable in place of the folder:\n%s", r.stderr)
	}
}

func TestImportMissingKeyFile(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")

	missing := filepath.Join(e.dir, "nosuch.pub")
	r := e.run("ouk", "import", "--key", missing, kit)
	expectFailure(t, r, exitError, "trusted key "+missing+": no such file; check the path")
}

func TestImportOtherKeyNamesKeyFile(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	_, otherPub := e.keygen("other")

	r := e.run("ouk", "import", "--key", otherPub, kit)
	expectFailure(t, r, exitRejected, "its signature does not verify with the trusted key "+otherPub+" (ID ",
		"so another key signed it", "put the builder's public key into "+filepath.Join(e.store, "keys"))
}

func TestInspectDeltaBaseInStore(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	inspect := func() inspectReport {
		t.Helper()
		var rep inspectReport
		raw := e.must("ouk", "inspect", "--key", e.pub, "-o", "json", series[2].delta)
		if err := json.Unmarshal([]byte(raw), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// The store holds night 1, but night 3's delta needs night 2.
	e.importJSON(series[0].full)
	rep := inspect()
	if rep.BaseInStore == nil || *rep.BaseInStore {
		t.Errorf("with night 1 only: baseInStore = %v, want false", rep.BaseInStore)
	}
	text := e.must("ouk", "inspect", "--key", e.pub, series[2].delta)
	if !strings.Contains(text, "not in the store") || !strings.Contains(text, "rejected") {
		t.Errorf("text output does not say the base is missing and import is rejected:\n%s", text)
	}
	if strings.Contains(text, "  overlay  ") || strings.Contains(text, " 1 records") {
		t.Errorf("text output has a double space or a wrong plural:\n%s", text)
	}

	e.importJSON(series[1].delta)
	rep = inspect()
	if rep.BaseInStore == nil || !*rep.BaseInStore {
		t.Errorf("with night 2: baseInStore = %v, want true", rep.BaseInStore)
	}
	text = e.must("ouk", "inspect", "--key", e.pub, series[2].delta)
	if !strings.Contains(text, ", in the store\n") {
		t.Errorf("text output does not say the base is in the store:\n%s", text)
	}
}

func TestRollbackTwiceSaysDirection(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)

	out := e.must("ouk", "rollback", "--key", e.pub)
	if !strings.Contains(out, "Switched from kit night-02 to the older kit night-01") {
		t.Errorf("first rollback output: %q", out)
	}
	out = e.must("ouk", "rollback", "--key", e.pub)
	if !strings.Contains(out, "Switched from kit night-01 to the newer kit night-02") {
		t.Errorf("second rollback output: %q", out)
	}
	if strings.Contains(out, "Rolled back") {
		t.Errorf("a switch to a newer kit is called a rollback: %q", out)
	}
}

func TestRollbackAfterGCSaysImportAgain(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	first := e.importJSON(kit1)
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	e.must("ouk", "gc", "--keep", "0")

	// Named by digest, the removed kit gets the same advice, and following
	// it brings the kit back.
	named := e.run("ouk", "rollback", "--key", e.pub, first.Digest)
	if named.code != exitError {
		t.Errorf("rollback %s: exit %d, want %d:\n%s", first.Digest, named.code, exitError, named.stderr)
	}
	if !strings.Contains(named.stderr, "kit 1.0.0") || !strings.Contains(named.stderr, "--allow-downgrade") {
		t.Errorf("rollback of a named removed kit does not name it and --allow-downgrade:\n%s", named.stderr)
	}
	if r := e.run("ouk", "import", "--key", e.pub, "--allow-downgrade", kit1); r.code != 0 {
		t.Errorf("import as advised: exit %d:\n%s", r.code, r.stderr)
	}
	e.must("ouk", "rollback", "--key", e.pub)
	e.must("ouk", "gc", "--keep", "0")

	r := e.run("ouk", "rollback", "--key", e.pub)
	if r.code == 0 {
		t.Fatalf("rollback to a kit gc removed succeeded:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "gc removes kits beyond its --keep count") ||
		!strings.Contains(r.stderr, "previous kit 1.0.0") || !strings.Contains(r.stderr, "import that kit's file again") {
		t.Errorf("rollback error does not say what to do:\n%s", r.stderr)
	}
}

func TestBuildEncryptedKeyWithoutPassword(t *testing.T) {
	e := newEnv(t)
	keys := filepath.Join(e.dir, "locked")
	gen := exec.Command(stellaBin, "ouk", "keygen", "--output-dir", keys)
	gen.Env = append(os.Environ(), "COSIGN_PASSWORD=secret")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}

	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	build := exec.Command(stellaBin, "ouk", "build", "-o", filepath.Join(e.dir, "kit.tar"),
		"--feed", "osv="+filepath.Join(feeds, "osv"), "--key", filepath.Join(keys, "cosign.key"))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COSIGN_PASSWORD=") {
			build.Env = append(build.Env, kv)
		}
	}
	out, err := build.CombinedOutput()
	if err == nil {
		t.Fatalf("build with an encrypted key and no password succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "no password was given") {
		t.Errorf("error does not say that no password was given:\n%s", out)
	}
	if !strings.Contains(string(out), "COSIGN_PASSWORD") {
		t.Errorf("error does not name COSIGN_PASSWORD:\n%s", out)
	}
	if strings.Contains(string(out), "wrong password") {
		t.Errorf("error calls the missing password wrong:\n%s", out)
	}

	kit := e.buildKit("unlocked.tar", "--version", "1.0.0")
	sign := exec.Command(stellaBin, "ouk", "sign", "--key", filepath.Join(keys, "cosign.key"), kit)
	sign.Env = build.Env
	out, err = sign.CombinedOutput()
	if err == nil {
		t.Fatalf("sign with an encrypted key and no password succeeded:\n%s", out)
	}
	for _, want := range []string{"encrypted", "no password was given", "COSIGN_PASSWORD", "terminal"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sign error does not mention %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "wrong password") {
		t.Errorf("sign error calls the missing password wrong:\n%s", out)
	}
}

func TestStoreInUseNamesLockTimeout(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	r := e.run("--lock-timeout", "100ms", "ouk", "status")
	if r.code != exitStoreBusy {
		t.Fatalf("status of a store in use: exit %d, want %d\n%s", r.code, exitStoreBusy, r.stderr)
	}
	if !strings.Contains(r.stderr, "--lock-timeout") {
		t.Errorf("error does not name --lock-timeout:\n%s", r.stderr)
	}
	// The test process holds the store, so the message names its pid.
	if want := fmt.Sprintf("(pid %d, ", os.Getpid()); !strings.Contains(r.stderr, want) {
		t.Errorf("error does not name the process holding the store, %s:\n%s", want, r.stderr)
	}
	// While it waits, the command logs the wait once.
	if n := strings.Count(r.stderr, "store is in use by another stella process; waiting"); n != 1 {
		t.Errorf("the wait is announced %d times, want once:\n%s", n, r.stderr)
	}
	r = e.run("-q", "--lock-timeout", "100ms", "ouk", "status")
	if strings.Contains(r.stderr, "waiting") {
		t.Errorf("-q announces the wait:\n%s", r.stderr)
	}
}

// TestHistoryMarksRemovedKits checks that history marks the kits gc
// removed, and that a rollback returns to the previous kit still stored.
func TestHistoryMarksRemovedKits(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.importJSON(e.buildKit(fmt.Sprintf("kit%d.tar", i), "--version", fmt.Sprintf("%d.0.0", i), "--sequence", fmt.Sprint(i)))
	}
	e.must("ouk", "gc", "--keep", "1")
	var hist []historyEntry
	if err := json.Unmarshal([]byte(e.must("ouk", "history", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, h := range hist {
		stored[h.Version] = h.InStore
	}
	if !stored["3.0.0"] || !stored["2.0.0"] || stored["1.0.0"] {
		t.Errorf("history inStore = %v, want 3.0.0 and 2.0.0 stored and 1.0.0 removed", stored)
	}
	if text := e.must("ouk", "history"); !strings.Contains(text, "removed from the store by gc") {
		t.Errorf("history text does not mark the removed kit:\n%s", text)
	}
	e.must("ouk", "rollback", "--key", e.pub)
	e.must("ouk", "rollback", "--key", e.pub)
	if got := e.status().Active.Version; got != "3.0.0" {
		t.Errorf("after two rollbacks the active kit is %s, want 3.0.0", got)
	}
}

func TestDeltaFromActiveKit(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2", "--feed", "osv="+e.nightFeed(2))
	out := filepath.Join(e.dir, "kit2.delta.tar")
	e.must("ouk", "delta", "--from", "active", "--to", kit2, "-o", out, "--key", e.key)
	if res := e.importJSON(out); res.Version != "2.0.0" {
		t.Errorf("the delta from the active kit imported as %q, want 2.0.0", res.Version)
	}
	r := e.run("ouk", "delta", "--from", "active", "-o", filepath.Join(e.dir, "positional.tar"), kit2)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--from OLD --to NEW") {
		t.Errorf("delta with the new kit as an argument: exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.run("ouk", "delta", "--from", "active", "--to", "active", "-o", filepath.Join(e.dir, "same.tar"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "name the same kit") {
		t.Errorf("delta of the active kit to itself: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestFlagMessagesForOperators(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "gc", "--keep", "abc")
	if r.code != exitUsage || !strings.Contains(r.stderr, `invalid argument "abc" for "--keep" flag: give a whole number`) ||
		strings.Contains(r.stderr, "strconv") {
		t.Errorf("gc --keep abc: exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.run("--lock-timeout", "5x", "ouk", "status")
	if r.code != exitUsage || !strings.Contains(r.stderr, "give a duration such as 30s") {
		t.Errorf("--lock-timeout 5x: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, command := range [][]string{{"build", "-o", filepath.Join(e.dir, "k.tar")}, {"sign"}, {"delta", "-o", filepath.Join(e.dir, "d.tar")}} {
		args := append([]string{"ouk"}, command...)
		r = e.run(append(args, "--key", e.key, "--key", e.pub)...)
		expectFailure(t, r, exitUsage, `for "--key" flag: given twice`)
	}

	// An upper-case format is the same format. A store that does not
	// exist is reported, with exit code 1.
	r = e.run("ouk", "status", "-o", "JSON")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Errorf("status -o JSON is not one JSON object: %v\n%s", err, r.stdout)
	}
	if !rep.StoreAbsent || r.code != exitError || !strings.Contains(r.stderr, "no store at") {
		t.Errorf("status of a store that does not exist: exit %d, stderr %q, stdout %s", r.code, r.stderr, r.stdout)
	}
	r = e.run("ouk", "status")
	if !strings.Contains(r.stdout, "absent") || r.code != exitError {
		t.Errorf("status of a store that does not exist: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if _, err := os.Stat(e.store); err == nil {
		t.Errorf("status created the store folder it reported absent")
	}

	// Nothing listens on the discard port of the loopback address.
	r = e.run("ouk", "import", "--key", e.pub, "--plain-http", "https://127.0.0.1:9/kit.tar")
	if !strings.Contains(r.stderr, "--plain-http has no effect on an https:// address") {
		t.Errorf("import --plain-http of an https:// address does not warn: %q", r.stderr)
	}
	r = e.run("ouk", "import", "--key", e.pub, "oci://")
	if r.code != exitUsage || !strings.Contains(r.stderr, "names no address") {
		t.Errorf("import oci://: exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.run("ouk", "import", "--key", e.pub, filepath.Join(e.dir, "nosuch.tar.zst"))
	if r.code != exitError || !strings.Contains(r.stderr, "name a kit file, a layout folder") {
		t.Errorf("import of a missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "http:// address") {
		t.Errorf("import of a missing file does not name http:// among the sources: %q", r.stderr)
	}
}

// TestHolderNamesCommandPath checks that a command waiting for the
// store names the holder by its command path, without flag values that
// look like command words.
func TestHolderNamesCommandPath(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	// An import from stdin holds the store while it waits for the kit.
	holder := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "-o", "json", "--key", e.pub, "-")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		holder.Wait()
	})

	holderFile := filepath.Join(e.store, storeDBDir, "stella-holder")
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(holderFile); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := e.run("--lock-timeout", "100ms", "ouk", "status")
	if r.code != exitStoreBusy {
		t.Fatalf("status of a store in use: exit %d, want %d\n%s", r.code, exitStoreBusy, r.stderr)
	}
	if !strings.Contains(r.stderr, "stella ouk import,") {
		t.Errorf("message does not name the holder's command:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "import json") {
		t.Errorf("message names a flag value as part of the command:\n%s", r.stderr)
	}
}
