package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
)

// createEmptyStore creates the store of e with no kit in it, as the first
// open of a store does, so that stella serve without --watch can serve it.
func (e *env) createEmptyStore() {
	e.t.Helper()
	if err := os.MkdirAll(e.store, storeFolderPerm); err != nil {
		e.t.Fatal(err)
	}
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// runFailingService runs `stella serve` with extra flags on the store of e
// and returns its outcome. A service that starts instead of failing at
// once fails the test, without waiting for the service to end.
func (e *env) runFailingService(extra ...string) result {
	e.t.Helper()
	args := append([]string{"serve"}, extra...)
	w := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args)
	select {
	case <-w.exited:
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		e.t.Fatalf("stella %s still ran 20s after it started:\n%s", strings.Join(args, " "), w.stderr.String())
	}
	return result{stdout: w.stdout.String(), stderr: w.stderr.String(), code: w.cmd.ProcessState.ExitCode()}
}

// Without --watch, the service on a store folder that contains no store
// exits with 1 at once and creates nothing, so a mistyped --store does
// not serve an empty store that ouk status reports as healthy.
func TestServiceRejectsMissingStore(t *testing.T) {
	e := newEnv(t)
	r := e.runFailingService()
	if r.code != exitError {
		t.Errorf("serve without a store: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, "no store at "+e.store) {
		t.Errorf("serve without a store does not name the missing store:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "store service started") {
		t.Errorf("serve without a store started the service:\n%s", r.stderr)
	}
	if _, err := os.Lstat(e.store); !os.IsNotExist(err) {
		t.Errorf("serve without a store created %s (%v)", e.store, err)
	}
}

// With --watch, the service creates a missing store for the drop
// folder's first kit, and its log names the new store.
func TestServiceWatchWarnsOfNewStore(t *testing.T) {
	e := newEnv(t)
	svc := e.startService("--watch", "drop", "--interval", "200ms")
	log := svc.stderr.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "created a new store") {
		t.Errorf("the service logged no warning for the new store:\n%s", log)
	}
	if !strings.Contains(log, "store="+e.store) {
		t.Errorf("the warning does not name the store folder %s:\n%s", e.store, log)
	}
	svc.stopService(t, e.store)
}

// A --watch path that is a file is a usage error before the service
// starts, as for ouk watch, so a service manager does not restart a
// service whose watch fails at once. A missing folder is allowed, since
// the watch waits for it.
func TestServiceRejectsFileAsWatchFolder(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	r := e.runFailingService("--watch", "kit.tar")
	if r.code != exitUsage {
		t.Errorf("serve --watch FILE: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	if !strings.Contains(r.stderr, `"kit.tar" is a file, not a folder`) {
		t.Errorf("serve --watch FILE does not say that the path is a file:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "store service started") {
		t.Errorf("serve --watch FILE started the service:\n%s", r.stderr)
	}

	svc := e.startService("--watch", "drop", "--interval", "200ms")
	svc.stopService(t, e.store)
}

// SIGHUP, as when the terminal or SSH session of the service closes,
// stops the service as SIGTERM does: exit 0, with its socket and the
// store's holder file removed. A closing session may send more than one.
func TestServiceStopsOnHangup(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	for _, flags := range [][]string{nil, {"--watch", "drop", "--interval", "200ms"}} {
		svc := e.startService(flags...)
		for range 2 {
			if err := svc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		r := svc.result(t, "SIGHUP")
		if r.code != 0 {
			t.Errorf("stella serve %v exited %d after SIGHUP, want 0:\n%s", flags, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "store service stopped") {
			t.Errorf("stella serve %v did not log its stop:\n%s", flags, r.stderr)
		}
		if _, err := os.Lstat(filepath.Join(e.store, serviceSocketName)); !os.IsNotExist(err) {
			t.Errorf("stella serve %v left its socket behind (%v)", flags, err)
		}
		if _, err := os.Lstat(filepath.Join(e.store, storeDBDir, "stella-holder")); !os.IsNotExist(err) {
			t.Errorf("stella serve %v left the store's holder file behind (%v)", flags, err)
		}
		r = e.run("--lock-timeout", "0", "ouk", "status")
		if r.code != 0 {
			t.Errorf("ouk status after stella serve %v stopped: exit %d\n%s", flags, r.code, r.stderr)
		}
	}
}
