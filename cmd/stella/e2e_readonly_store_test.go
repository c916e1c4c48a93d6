package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/bindmount"
)

// runOn runs stella on the store folder store, such as a read-only mount
// of the test's store, in place of e.store.
func (e *env) runOn(store string, args ...string) result {
	e.t.Helper()
	return e.runCommand(exec.Command(stellaBin, append([]string{"--store", store}, args...)...), args)
}

// checkReaders runs the commands that only read on the store folder store,
// which the user cannot write, and checks their output and the scan
// warning. Then it checks that commands that write fail with a message
// that contains problem. run runs stella on that store.
func checkReaders(t *testing.T, run func(args ...string) result, store, sbom, problem string) {
	t.Helper()
	r := run("db", "lookup", "STELLA-DEMO-2026-0001")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Errorf("db lookup: exit %d, want 0 and the record\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = run("ouk", "status", "-o", "json")
	var status statusReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &status) != nil {
		t.Fatalf("ouk status: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if status.Active == nil || status.Active.Version != "1.0.0" {
		t.Errorf("ouk status: active kit = %+v, want version 1.0.0", status.Active)
	}

	r = run("ouk", "history")
	if r.code != 0 || !strings.Contains(r.stdout, "1.0.0") {
		t.Errorf("ouk history: exit %d, want 0 and kit 1.0.0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = run("quota", "status", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"count": 0`) {
		t.Errorf("quota status: exit %d, want 0 and a count of 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = run("scan", "--sbom", sbom, "-o", "json", "--env-file", "none.env")
	var rep scanReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("scan: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if len(rep.Findings) == 0 {
		t.Error("scan found nothing; want the records of stella-demo-untar 2.3.0")
	}
	if n := strings.Count(r.stderr, "not counted"); n != 1 {
		t.Errorf("scan warned %d times that it was not counted, want once:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, store) {
		t.Errorf("scan warning does not name the store %s:\n%s", store, r.stderr)
	}
	if rep.Quota == nil || !strings.Contains(rep.Quota.NotCounted, "read-only") || rep.Quota.Count != 0 {
		t.Errorf("scan JSON quota = %+v, want count 0 and notCounted naming the read-only store", rep.Quota)
	}

	opening := "opening store " + filepath.Join(store, storeDBDir) + " for writing"
	r = run("ouk", "import", "--key", "keys/cosign.pub", "kit.tar")
	assertFailure(t, "import into a store this user cannot write", r, exitError,
		opening, problem, "this command writes to the store", "--store")
	r = run("ouk", "gc")
	assertFailure(t, "gc of a store this user cannot write", r, exitError, opening, problem)
	// A dry run removes nothing, so it reads the store as the readers do.
	if r = run("ouk", "gc", "--dry-run"); r.code != 0 {
		t.Errorf("gc --dry-run of a store this user cannot write: exit %d\n%s", r.code, r.stderr)
	}
}

func TestReadOnlyMountServesReaders(t *testing.T) {
	e, sbom := scanEnv(t)
	ro := bindmount.ReadOnly(t, e.store)
	run := func(args ...string) result { return e.runOn(ro, args...) }

	checkReaders(t, run, ro, sbom, "read-only mount")

	r := run("ouk", "inspect", "-o", "json", filepath.Join(e.dir, "kit.tar"))
	var inspect struct {
		Store inspectStoreInfo `json:"store"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &inspect) != nil {
		t.Fatalf("ouk inspect: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if inspect.Store.Status != "open" {
		t.Errorf("ouk inspect: store status %q, want open", inspect.Store.Status)
	}

	// The readers wrote nothing: the writable path counts no scan.
	if out := e.must("quota", "status", "-o", "json"); !strings.Contains(out, `"count": 0`) {
		t.Errorf("quota status through the writable path after scans of the read-only mount:\n%s", out)
	}
}

// letOthersReadStore lets other users enter the test folder and read the
// store. Both stay owned by root, so runUnprivileged can read the store
// but not write it.
func (e *env) letOthersReadStore() {
	e.t.Helper()
	for _, dir := range []string{filepath.Dir(e.dir), e.dir, e.store} {
		if err := os.Chmod(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestOtherUsersStoreServesReaders(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running stella as another user than the store's owner needs root")
	}
	e, sbom := scanEnv(t)
	e.letOthersReadStore()
	checkReaders(t, e.runUnprivileged, e.store, sbom, "may not write")
}

func TestImportWaitsForReadOnlyReader(t *testing.T) {
	e, _ := scanEnv(t)
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0")
	ro := bindmount.ReadOnly(t, e.store)

	// This process holds the shared lock of a reader through the mount.
	reader, err := cas.Open(filepath.Join(ro, storeDBDir), cas.Options{ReadOnlyIfUnwritable: true})
	if err != nil {
		t.Fatalf("opening the store through the read-only mount: %v", err)
	}
	defer reader.Close()
	if !reader.ReadOnly() {
		t.Fatal("the store opened through the read-only mount is not read-only")
	}

	// Readers share the store.
	if r := e.runOn(ro, "db", "lookup", "STELLA-DEMO-2026-0001"); r.code != 0 {
		t.Errorf("db lookup while another reader holds the store: exit %d\n%s", r.code, r.stderr)
	}

	// An import through the writable path waits for the reader.
	r := e.run("--lock-timeout", "1s", "ouk", "import", "--key", e.pub, kit2)
	assertFailure(t, "import while a reader holds the store", r, exitStoreBusy, "waiting", "--lock-timeout")

	cmd := exec.Command(stellaBin, "--store", e.store, "--lock-timeout", "5m", "ouk", "import", "--key", e.pub, kit2)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	cmd.Dir = e.dir
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for !strings.Contains(stderr.String(), "waiting") {
		select {
		case err := <-done:
			t.Fatalf("import ended (%v) while a reader held the store, want it to wait:\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("import after the reader closed the store: %v\n%s", err, stderr.String())
	}
	if r := e.runOn(ro, "ouk", "status"); !strings.Contains(r.stdout, "kit 2.0.0") {
		t.Errorf("status through the read-only mount after the import: exit %d, want kit 2.0.0 active\n%s%s",
			r.code, r.stdout, r.stderr)
	}

	// A reader waits for a writer in turn.
	writer, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	r = e.runOn(ro, "--lock-timeout", "1s", "db", "lookup", "STELLA-DEMO-2026-0001")
	assertFailure(t, "db lookup through the read-only mount while a writer holds the store", r, exitStoreBusy, "waiting")
}

// TestOtherUsersStorePrivateFile checks that a reader who may not read a
// file of the store, as after an import under umask 077, gets an error
// that names the cause.
func TestOtherUsersStorePrivateFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running stella as another user than the store's owner needs root")
	}
	e, _ := scanEnv(t)
	e.letOthersReadStore()
	manifests, err := filepath.Glob(filepath.Join(e.store, storeDBDir, "MANIFEST-*"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no MANIFEST in the store: %v", err)
	}
	for _, m := range manifests {
		if err := os.Chmod(m, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := e.runUnprivileged("ouk", "status")
	if r.code == 0 || !strings.Contains(r.stderr, "may not read a file of it") || !strings.Contains(r.stderr, "umask 022") {
		t.Errorf("status of a store with a private file: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
