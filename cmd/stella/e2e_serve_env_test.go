package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runWithEnv runs stella with args in the test's folder and store, with
// env added to the environment after the test's own settings, so that env
// wins over them.
func (e *env) runWithEnv(env []string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	return e.runCommand(cmd, args, env...)
}

// A delta in the service takes "active" and a digest prefix for --from
// as a delta on its own does, instead of paths in the client's folder.
func TestServiceDeltaFromStoredKit(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	prefix := strings.TrimPrefix(e.activeDigest(), "sha256:")[:12]
	e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	svc := e.startService()

	for _, from := range []string{"active", prefix} {
		out := "delta-" + from + ".tar"
		r := e.run("ouk", "delta", "--from", from, "--to", "kit2.tar", "-o", out, "--key", e.key)
		if r.code != 0 {
			t.Errorf("delta --from %s in the service: exit %d\n%s%s", from, r.code, r.stdout, r.stderr)
			continue
		}
		if _, err := os.Stat(filepath.Join(e.dir, out)); err != nil {
			t.Errorf("delta --from %s in the service wrote no delta in the client's folder: %v", from, err)
		}
	}
	svc.stopService(t, e.store)
}

// The service signs a delta with the client's $COSIGN_PASSWORD, not with
// its own.
func TestServiceUsesClientKeyPassword(t *testing.T) {
	e := newEnv(t)
	keygen := exec.Command(stellaBin, "ouk", "keygen", "--output-dir", filepath.Join(e.dir, "locked"))
	keygen.Env = append(os.Environ(), "COSIGN_PASSWORD=secret")
	if out, err := keygen.CombinedOutput(); err != nil {
		t.Fatalf("keygen with a password: %v\n%s", err, out)
	}
	key := filepath.Join("locked", "cosign.key")
	e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	e.createEmptyStore()
	svc := e.startService()

	r := e.runWithEnv([]string{"COSIGN_PASSWORD=secret"},
		"ouk", "delta", "--from", "kit1.tar", "--to", "kit2.tar", "-o", "delta.tar", "--key", key)
	if r.code != 0 {
		t.Errorf("delta signed with the client's password in the service: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	svc.stopService(t, e.store)
}

// Air-gap mode set in the client's environment blocks a redirect to
// another host in the service too, although the service runs without it.
func TestServiceKeepsClientAirGap(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(kit))))
	defer files.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, files.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirect.Close()
	source := redirect.URL + "/kit.tar"

	own := e.runWithEnv([]string{"STELLA_AIRGAP=1"}, "ouk", "import", "--key", e.pub, source)
	if own.code == 0 || !strings.Contains(own.stderr, "air-gap mode") {
		t.Fatalf("import through a redirect in air-gap mode on its own: exit %d\n%s", own.code, own.stderr)
	}
	e.createEmptyStore()
	svc := e.startService()
	served := e.runWithEnv([]string{"STELLA_AIRGAP=1"}, "ouk", "import", "--key", e.pub, source)
	if served.code != own.code {
		t.Errorf("import through a redirect in air-gap mode in the service: exit %d, want %d\n%s%s",
			served.code, own.code, served.stdout, served.stderr)
	}
	if !strings.Contains(served.stderr, "air-gap mode") {
		t.Errorf("import in the service did not name air-gap mode:\n%s", served.stderr)
	}
	if rep := e.status(); rep.Active != nil {
		t.Errorf("import in air-gap mode in the service activated kit %s", rep.Active.Digest)
	}
	svc.stopService(t, e.store)
}

// A second service on the same store fails at once and names the running
// service, instead of waiting for the store that the first one holds.
func TestServiceSecondServeFails(t *testing.T) {
	e := newEnv(t)
	e.createEmptyStore()
	svc := e.startService()
	start := time.Now()
	r := e.run("serve")
	if r.code != exitStoreBusy {
		t.Errorf("second serve: exit %d, want %d\n%s", r.code, exitStoreBusy, r.stderr)
	}
	if !strings.Contains(r.stderr, "another store service listens") {
		t.Errorf("second serve did not name the running service:\n%s", r.stderr)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("second serve took %s to fail", waited.Round(time.Second))
	}
	svc.stopService(t, e.store)
}
