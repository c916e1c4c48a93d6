package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// startService starts `stella serve` with extra flags on the store of e
// and returns once it listens on its socket.
func (e *env) startService(extra ...string) *waitingCommand {
	e.t.Helper()
	args := append([]string{"serve"}, extra...)
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	w := e.startBackground(cmd, args)
	waitForLog(e.t, &w.stderr, w.exited, "store service started")
	return w
}

// stop sends SIGTERM to the service and checks that it exits 0 and
// removes its socket.
func (w *waitingCommand) stopService(t *testing.T, store string) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := w.result(t, "SIGTERM")
	if r.code != 0 {
		t.Fatalf("stella serve exited %d after SIGTERM:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="stopping the store service" signal=terminated`) {
		t.Errorf("the service did not log the signal that stopped it:\n%s", r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(store, serviceSocketName)); !os.IsNotExist(err) {
		t.Fatalf("the service left its socket behind (%v)", err)
	}
}

// While the store service runs, lookups and status return at once during
// an import, which a store held by the import would keep waiting. The
// import's output is that of an import of its own, and a relative kit
// path and key path are read in the client's working folder.
func TestServiceAnswersLookupsDuringImport(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, kit1)
	first := e.activeDigest()
	e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	svc := e.startService()

	// The import reads its kit from a pipe that stalls after the first
	// bytes, so it holds its place in the service until the test lets
	// it go on.
	data, err := os.ReadFile(filepath.Join(e.dir, "kit2.tar"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	imp := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "--key", "keys/cosign.pub", "-")
	imp.Stdin = pr
	importing := e.startBackground(imp, []string{"ouk", "import", "-"})
	// The writes run apart from the test, so that an import that never
	// reads fails the test in waitForLog instead of blocking it.
	t.Cleanup(func() { pr.Close() })
	go pw.Write(data[:4096])
	waitForLog(t, &svc.stderr, svc.exited, `command="ouk import"`)

	r := e.run("--lock-timeout", "0", "db", "lookup", "CVE-2099-0001")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Fatalf("lookup during the import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := e.activeDigest(); got != first {
		t.Fatalf("status during the import shows %s active, want the first kit %s", got, first)
	}
	if rep := e.status(); rep.Service == nil || rep.Service.PID != svc.cmd.Process.Pid {
		t.Fatalf("status names no store service, or another one: %+v", rep.Service)
	}

	go func() {
		pw.Write(data[4096:])
		pw.Close()
	}()
	res := importing.result(t, "the kit was complete")
	if res.code != 0 || !strings.Contains(res.stdout, "Activated kit") {
		t.Fatalf("import through the service: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := e.activeDigest(); got == first {
		t.Fatal("the import through the service left the first kit active")
	}
	svc.stopService(t, e.store)

	// With the service stopped, commands open the store themselves.
	r = e.run("--lock-timeout", "0", "ouk", "history", "-o", "json")
	if r.code != 0 || strings.Count(r.stdout, `"digest"`) != 2 {
		t.Fatalf("history after the service stopped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A command run in the service fails as it would on its own: the same
// exit code, message and JSON failure object.
func TestServiceKeepsFailures(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	own := e.run("db", "lookup", "NO-SUCH-ID")
	ownImport := e.run("ouk", "import", "-o", "json", "/nonexistent/kit.tar")
	svc := e.startService()
	served := e.run("db", "lookup", "NO-SUCH-ID")
	servedImport := e.run("ouk", "import", "-o", "json", "/nonexistent/kit.tar")
	for _, c := range []struct{ own, served result }{{own, served}, {ownImport, servedImport}} {
		if c.own.code == 0 || c.served.code != c.own.code || c.served.stdout != c.own.stdout ||
			c.served.stderr != c.own.stderr {
			t.Errorf("on its own: exit %d\n%s%s\nin the service: exit %d\n%s%s", c.own.code, c.own.stdout,
				c.own.stderr, c.served.code, c.served.stdout, c.served.stderr)
		}
	}
	var failure commandFailure
	if err := json.Unmarshal([]byte(servedImport.stdout), &failure); err != nil || failure.ExitCode != servedImport.code {
		t.Errorf("JSON failure of an import in the service: %v\n%s", err, servedImport.stdout)
	}
	if !strings.Contains(svc.stderr.String(), `command="db lookup"`) {
		t.Errorf("the service logged no lookup:\n%s", svc.stderr.String())
	}
	svc.stopService(t, e.store)
}

// With --watch, the service imports the kits dropped into the folder
// while it serves lookups.
func TestServiceWatchesDropFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	drop := filepath.Join(e.dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	svc := e.startService("--watch", "drop", "--interval", "200ms", "--key", "keys/cosign.pub")
	if err := os.Rename(kit, filepath.Join(drop, "kit.tar")); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, &svc.stderr, svc.exited, "kit imported")
	r := e.run("--lock-timeout", "0", "db", "lookup", "CVE-2099-0001")
	if r.code != 0 {
		t.Fatalf("lookup while the service watches: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	svc.stopService(t, e.store)
}

// A command that the service does not run waits for the store as for any
// holder, and its message names the service and how to go on.
func TestServiceNamesItselfToOtherCommands(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	digest := e.activeDigest()
	svc := e.startService()
	r := e.run("--lock-timeout", "0", "ouk", "push", digest, "127.0.0.1:9/stella/ouk:1")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "held by the store service") {
		t.Fatalf("push of a stored kit while the service runs: exit %d\n%s", r.code, r.stderr)
	}
	svc.stopService(t, e.store)
}
