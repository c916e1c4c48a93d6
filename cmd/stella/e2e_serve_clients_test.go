package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command that the service does not run fails at once with a message
// that names the service, instead of waiting out its --lock-timeout for a
// holder that runs until it is stopped.
func TestServiceOtherCommandFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	digest := e.activeDigest()
	svc := e.startService()
	args := []string{"--lock-timeout", "10m", "ouk", "push", digest, "127.0.0.1:9/stella/ouk:1"}
	push := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args)
	r := push.result(t, "it started")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "which does not run `stella ouk push`") {
		t.Fatalf("push of a stored kit while the service runs: exit %d\n%s", r.code, r.stderr)
	}
	svc.stopService(t, e.store)
}

// A lookup on a store whose service lost its socket reports the missing
// socket, instead of claiming that the service does not run lookups.
func TestServiceWithoutSocket(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	if err := os.Remove(filepath.Join(e.store, serviceSocketName)); err != nil {
		t.Fatal(err)
	}
	r := e.run("--lock-timeout", "0", "db", "lookup", "CVE-2099-0001")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "does not accept connections") {
		t.Fatalf("lookup after the socket was removed: exit %d\n%s", r.code, r.stderr)
	}
	_ = svc.cmd.Process.Signal(syscall.SIGTERM)
	svc.result(t, "SIGTERM")
}

// A watch that runs in the service and ends because the service stops
// exits 1, so a service manager that runs the watch starts it again.
func TestServiceStopEndsClientWatch(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	args := []string{"ouk", "watch", "--interval", "200ms", "--key", e.pub, drop}
	watch := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args)
	waitForLog(t, &svc.stderr, svc.exited, `command="ouk watch"`)
	svc.stopService(t, e.store)
	r := watch.result(t, "the service stopped")
	if r.code != exitError || !strings.Contains(r.stderr, "the store service stopped") {
		t.Fatalf("watch in a stopped service: exit %d\n%s", r.code, r.stderr)
	}
}

// A path that names a file of the client process, such as a shell's
// process substitution, is rejected with advice that fits the flag, since
// the service would open a file of its own under that name.
func TestServiceRejectsClientOnlyPaths(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	r := e.run("scan", "--sbom", "/dev/fd/3")
	if r.code != exitUsage || !strings.Contains(r.stderr, "names a file of this process") {
		t.Fatalf("scan --sbom /dev/fd/3: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "give --sbom - to read the data from standard input") {
		t.Errorf("scan --sbom /dev/fd/3: the error does not offer --sbom -:\n%s", r.stderr)
	}

	r = e.run("ouk", "export", "-o", "/dev/fd/3")
	if r.code != exitUsage || !strings.Contains(r.stderr, "names a file of this process") {
		t.Fatalf("ouk export -o /dev/fd/3: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "give the path of a file to write, or -o - to write to standard output") {
		t.Errorf("ouk export -o /dev/fd/3: the error does not offer a file or -o -:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "write it to a file first") {
		t.Errorf("ouk export -o /dev/fd/3: the error gives the advice for an input:\n%s", r.stderr)
	}
	svc.stopService(t, e.store)
}

// A client of another user than the service's gets lookups and scans
// from the service, as it could read the store without it, with the SBOM
// read by the client. Commands that change the store or name files fail
// at once, with their JSON failure object.
func TestServiceOtherUserClient(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	// Only this user, not the service's, may read the SBOM.
	sbomPath := filepath.Join(e.dir, "app.cdx.json")
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sbomPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	svc := startServiceAsNobody(t, e)

	r := e.run("--lock-timeout", "0", "db", "lookup", "CVE-2099-0001")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Fatalf("lookup of another user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("--lock-timeout", "0", "scan", "-o", "json", "--sbom", "app.cdx.json")
	if r.code != 0 || !strings.Contains(r.stdout, `"sbom": "app.cdx.json"`) || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Fatalf("scan of another user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(svc.stderr.String(), `command=scan`) {
		t.Fatalf("the scan did not run in the service:\n%s", svc.stderr.String())
	}

	args := []string{"--lock-timeout", "10m", "ouk", "gc", "-o", "json"}
	gc := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args)
	r = gc.result(t, "it started")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "for that user only") {
		t.Fatalf("gc of another user: exit %d\n%s", r.code, r.stderr)
	}
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil || failure.Reason != "store-in-use" {
		t.Fatalf("JSON failure of a gc of another user: %v\n%s", err, r.stdout)
	}
	r = e.run("scan", "--quota-key", e.pub, "--sbom", "app.cdx.json")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--quota-key cannot be given") {
		t.Fatalf("scan of another user with --quota-key: exit %d\n%s", r.code, r.stderr)
	}
	svc.stopService(t, e.store)
}

// scan --sbom - reads the SBOM from standard input.
func TestScanReadsStandardInput(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.runIn(raw, "scan", "-o", "json", "--sbom", "-")
	if r.code != 0 || !strings.Contains(r.stdout, `"sbom": "-"`) || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Fatalf("scan of standard input: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.runIn([]byte("{"), "scan", "--sbom", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "reading standard input") {
		t.Fatalf("scan of a cut SBOM on standard input: exit %d\n%s", r.code, r.stderr)
	}
}

// startServiceAsNobody starts the store service of e's store as user ID
// 65534, which then owns the store, with a db folder that other users may
// read.
func startServiceAsNobody(t *testing.T, e *env) *waitingCommand {
	t.Helper()
	giveStoreToNobody(t, e)
	return startNobodyService(t, e)
}

const nobody = 65534

// giveStoreToNobody makes user ID 65534 the owner of e's store, with a db
// folder that other users may read, and lets that user reach the store.
func giveStoreToNobody(t *testing.T, e *env) {
	t.Helper()
	for dir := e.dir; dir != "/"; dir = filepath.Dir(dir) {
		if strings.HasPrefix(dir, os.TempDir()) && dir != os.TempDir() {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := filepath.Walk(e.store, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.store, storeDBDir), 0o755); err != nil {
		t.Fatal(err)
	}
}

// startNobodyService starts the store service of e's store as user ID
// 65534.
func startNobodyService(t *testing.T, e *env) *waitingCommand {
	t.Helper()
	cmd := exec.Command(stellaBin, "--store", e.store, "serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	svc := e.startBackground(cmd, []string{"serve"})
	waitForLog(t, &svc.stderr, svc.exited, "store service started")
	return svc
}

// Past its limit of clients at once, the service turns a new client away
// with exit 4 and the reason, also as a JSON failure object, and serves
// again once the others are gone.
func TestServiceClientLimit(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	svc := e.startService()
	var idle []net.Conn
	for range maxClients {
		conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}

	r := e.run("--lock-timeout", "5s", "db", "lookup", "CVE-2099-0001")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "clients at once already, so this command did not run") {
		t.Fatalf("lookup past the client limit: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"db", "lookup", "-o", "json", "CVE-2099-0001"},
		{"ouk", "status", "-o", "json"},
		{"ouk", "import", "-o", "json", "--key", e.pub, kit2},
	} {
		checkTurnedAwayJSON(t, strings.Join(args, " "), e.run(append([]string{"--lock-timeout", "5s"}, args...)...))
	}

	for _, c := range idle {
		c.Close()
	}
	waitForLog(t, &svc.stderr, svc.exited, "too many clients at once")
	r = e.run("--lock-timeout", "5s", "db", "lookup", "CVE-2099-0001")
	for i := 0; r.code != 0 && i < 50; i++ {
		// The service frees the slots of the closed connections as it
		// notices them.
		time.Sleep(100 * time.Millisecond)
		r = e.run("--lock-timeout", "5s", "db", "lookup", "CVE-2099-0001")
	}
	if r.code != 0 {
		t.Fatalf("lookup after the idle clients left: exit %d\n%s", r.code, r.stderr)
	}
	svc.stopService(t, e.store)
}

// checkTurnedAwayJSON fails the test unless r, a run of the command label
// with -o json, is one that the service turned away at its client limit,
// with the JSON failure object on stdout and the reason once on stderr.
func checkTurnedAwayJSON(t *testing.T, label string, r result) {
	t.Helper()
	if r.code != exitStoreBusy {
		t.Errorf("%s past the client limit: exit %d, want %d\n%s", label, r.code, exitStoreBusy, r.stderr)
	}
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Errorf("%s past the client limit: stdout is no JSON failure object: %v\n%s", label, err, r.stdout)
		return
	}
	if failure.Status != "failed" || failure.Reason != "store-in-use" || failure.ExitCode != exitStoreBusy {
		t.Errorf("%s past the client limit: failure object %+v, want status failed, reason store-in-use "+
			"and exit code %d", label, failure, exitStoreBusy)
	}
	if !strings.Contains(failure.Error, "clients at once already, so this command did not run") {
		t.Errorf("%s past the client limit: error %q lacks the reason", label, failure.Error)
	}
	if n := strings.Count(r.stderr, "clients at once already"); n != 1 {
		t.Errorf("%s past the client limit: stderr has the reason %d times, want 1:\n%s", label, n, r.stderr)
	}
}
