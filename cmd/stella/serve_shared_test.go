package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A request of another user may name no file, however its flags are
// spelled: pflag takes the argument after "--NAME" as its value even when
// that argument is "--", so a check that stops at the first "--" must not
// see such a value as the end of the flags.
func TestSharedCallRejectsHiddenPaths(t *testing.T) {
	const owner = 65534
	rejected := map[string][]string{
		"value --":           {"scan", "--store", "--", "--sbom=/srv/secret.json"},
		"label --":           {"scan", "--sbom-label", "--", "--quota-key=/tmp/issuer.pub", "--sbom=-"},
		"lookup value --":    {"db", "lookup", "--purl", "--", "--env-file=/srv/.env", "--", "CVE-1"},
		"bare sbom":          {"scan", "--sbom", "/srv/secret.json"},
		"bare sbom dash":     {"scan", "--sbom", "-", "--", "--sbom=/srv/secret.json"},
		"short flag":         {"scan", "-o", "--", "--sbom=/srv/secret.json"},
		"positional":         {"db", "lookup", "CVE-1"},
		"sbom file":          {"scan", "--sbom=/srv/secret.json"},
		"quota key":          {"scan", "--sbom=-", "--quota-key=/tmp/issuer.pub"},
		"env file":           {"scan", "--sbom=-", "--env-file=/srv/.env"},
		"gc":                 {"ouk", "gc", "--"},
		"import after flags": {"ouk", "--verbose=true", "import", "--", "/srv/kit.tar"},
	}
	for name, args := range rejected {
		if err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: args}, owner); err == nil {
			t.Errorf("%s: %q was accepted", name, args)
		}
	}
	accepted := map[string][]string{
		"lookup": {"db", "lookup", "--lock-timeout=2s", "--output=json", "--", "CVE-1"},
		"scan":   {"scan", "--sbom=-", "--sbom-label=app.cdx.json", "--output=json", "--verbose=true", "--"},
		"status": {"ouk", "status", "--"},
	}
	for name, args := range accepted {
		if err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: args}, owner); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	err := checkSharedCall(serviceCall{Protocol: serviceProtocol, Args: []string{"scan", "--sbom=-", "--"},
		Env: map[string]string{"STELLA_AIRGAP": "1"}}, owner)
	if err == nil || !strings.Contains(err.Error(), "STELLA_AIRGAP") {
		t.Errorf("a variable other than STELLA_JWT: error %v", err)
	}
}

// The service of another user reads no file that a request of this user
// hides behind a flag that takes "--" as its value.
func TestServiceSharedHiddenPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)
	// A file that the service's user may read.
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sbom", "demo-app.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(e.store, "secret.cdx.json")
	if err := os.WriteFile(secret, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"scan", "--store", "--", "--sbom=" + secret, "--output=json"},
		{"scan", "--sbom-label", "--", "--sbom=" + secret},
	} {
		conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		call := serviceCall{Protocol: serviceProtocol, Args: args}
		_, err = runRemote(context.Background(), conn, call, 10*time.Second, eofReader{}, &stdout, &stderr)
		if !errors.As(err, new(*serviceRejectedError)) || exitCode(err) != exitUsage {
			t.Errorf("%q: error %v with exit code %d, want a rejection with exit code %d", args, err,
				exitCode(err), exitUsage)
		}
		if strings.Contains(stdout.String(), "CVE-2099-0001") {
			t.Errorf("%q: the service scanned %s:\n%s", args, secret, stdout.String())
		}
		if err == nil || !strings.Contains(err.Error(), "--NAME=VALUE") {
			t.Errorf("%q: error %v does not name the flag form", args, err)
		}
	}
}

// The socket lets in the users who may read the db folder: its group is
// that of the db folder, or it grants the group nothing when the service
// cannot take that group.
func TestServiceSocketMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	const readers = 54321 // a group that user ID 65534 is not a member of
	cases := []struct {
		name     string
		dbGroup  int
		dbMode   os.FileMode
		wantMode os.FileMode
		wantGid  int
	}{
		{"private db", nobody, 0o700, 0o600, nobody},
		{"group of the service", nobody, 0o750, 0o660, nobody},
		{"other group", readers, 0o750, 0o600, nobody},
		{"other group and all", readers, 0o755, 0o606, nobody},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
			giveStoreToNobody(t, e)
			db := filepath.Join(e.store, storeDBDir)
			if err := os.Chown(db, nobody, c.dbGroup); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(db, c.dbMode); err != nil {
				t.Fatal(err)
			}
			svc := startNobodyService(t, e)
			defer svc.stopService(t, e.store)
			info, err := os.Lstat(filepath.Join(e.store, serviceSocketName))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != c.wantMode {
				t.Errorf("socket mode %#o, want %#o", got, c.wantMode)
			}
			if gid := int(info.Sys().(*syscall.Stat_t).Gid); gid != c.wantGid {
				t.Errorf("socket group %d, want %d", gid, c.wantGid)
			}
		})
	}
}

// A service that may take the db folder's group gives it to the socket.
func TestListenServiceSocketGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file any group")
	}
	const readers = 54321
	dir := t.TempDir()
	db := filepath.Join(dir, storeDBDir)
	if err := os.Mkdir(db, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(db, 0, readers); err != nil {
		t.Fatal(err)
	}
	ln, err := listenService(filepath.Join(dir, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	info, err := os.Lstat(filepath.Join(dir, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o660 {
		t.Errorf("socket mode %#o, want 0660", got)
	}
	if gid := int(info.Sys().(*syscall.Stat_t).Gid); gid != readers {
		t.Errorf("socket group %d, want %d", gid, readers)
	}
}

// listenTestService listens on the service socket in dir until the test
// ends. It returns the socket's path and a function that serves one
// connection with svc while client runs, and returns once both are done.
func listenTestService(t *testing.T, dir string) (string, func(svc *service, client func())) {
	t.Helper()
	socket := filepath.Join(dir, serviceSocketName)
	ln, err := listenService(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serveOne := func(svc *service, client func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			svc.serveClient(context.Background(), conn.(*net.UnixConn))
		}()
		client()
		<-done
	}
	return socket, serveOne
}

// A connection that only checks that the service runs leaves no warning
// in the service's log, and one that sends something else than a request
// does.
func TestServiceProbeNotLogged(t *testing.T) {
	dir := t.TempDir()
	socket, serve := listenTestService(t, dir)
	var log syncBuffer
	svc := &service{dir: dir, log: serviceLogger(&globalOptions{}, &log), writer: make(chan struct{}, 1),
		uid: os.Getuid()}
	serveOne := func(client func()) { serve(svc, client) }

	serveOne(func() {
		if !serviceListens(socket) {
			t.Error("serviceListens reports no service")
		}
	})
	if got := log.String(); got != "" {
		t.Errorf("a check that the service runs was logged:\n%s", got)
	}
	serveOne(func() {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = conn.(*net.UnixConn).CloseWrite()
		_, _ = io.Copy(io.Discard, conn)
	})
	if got := log.String(); !strings.Contains(got, "a client sent no request") {
		t.Errorf("a client that sent no request was not logged:\n%s", got)
	}
}

// A scan of an invalid SBOM by another user names the SBOM file, as a
// scan of its own does, though the service reads it as standard input.
func TestServiceSharedScanNamesSBOM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	if err := os.WriteFile(filepath.Join(e.dir, "cut.cdx.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	own := e.run("scan", "--sbom", "cut.cdx.json")
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)
	shared := e.run("scan", "--sbom", "cut.cdx.json")
	if shared.code != own.code {
		t.Errorf("exit %d, want %d as without the service", shared.code, own.code)
	}
	if !strings.Contains(shared.stderr, "reading cut.cdx.json: ") {
		t.Errorf("the message does not name the SBOM:\n%s", shared.stderr)
	}
	if shared.stderr != own.stderr {
		t.Errorf("message %q, want %q as without the service", shared.stderr, own.stderr)
	}
}

// A user who may read the db folder but not use the service's socket
// gets a command that names the service at once, instead of waiting out
// --lock-timeout for a store that the service holds until it stops. A
// socket that a killed service left lets the command open the store.
func TestServiceSocketDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv to run the client as another user")
	}
	const readers = 54321 // a group that user ID 65534 is not a member of
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	giveStoreToNobody(t, e)
	if err := os.Chmod(e.store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(filepath.Join(e.store, storeDBDir), func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Chown(p, nobody, readers); err != nil {
			return err
		}
		if info.IsDir() {
			return os.Chmod(p, 0o750)
		}
		return os.Chmod(p, 0o640)
	}); err != nil {
		t.Fatal(err)
	}
	lookup := func() (string, time.Duration, error) {
		cmd := exec.Command(setpriv, "--reuid=1000", "--regid="+fmt.Sprint(readers), "--clear-groups",
			stellaBin, "--store", e.store, "--lock-timeout", "10s", "db", "lookup", "CVE-2099-0001")
		cmd.Dir = "/"
		start := time.Now()
		out, err := cmd.CombinedOutput()
		return string(out), time.Since(start), err
	}

	svc := startNobodyService(t, e)
	out, took, err := lookup()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitStoreBusy {
		t.Errorf("lookup through a denied socket: %v, want exit %d\n%s", err, exitStoreBusy, out)
	}
	if !strings.Contains(out, "whose socket this user may not use") {
		t.Errorf("the message does not say that the socket is denied:\n%s", out)
	}
	if took > 5*time.Second {
		t.Errorf("the lookup took %s, want an exit at once", took)
	}
	// A read-only command that the service runs for its own user only
	// names the service at once too, instead of waiting for the store.
	quota := exec.Command(setpriv, "--reuid=1000", "--regid="+fmt.Sprint(readers), "--clear-groups",
		stellaBin, "--store", e.store, "--lock-timeout", "10s", "quota", "status")
	quota.Dir = "/"
	start := time.Now()
	qout, err := quota.CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() != exitStoreBusy || !strings.Contains(string(qout), "store service") {
		t.Errorf("quota status through a denied socket: %v, want exit %d naming the service\n%s", err,
			exitStoreBusy, qout)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("quota status took %s, want an exit at once", took)
	}

	// A killed service leaves its socket and holder record behind.
	if err := svc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-svc.exited
	out, _, err = lookup()
	if err != nil || !strings.Contains(out, "CVE-2099-0001 (") {
		t.Errorf("lookup beside the socket of a killed service: %v\n%s", err, out)
	}
}

// Paths of files that only the client process can open are rejected
// however they are spelled, and other paths are not.
func TestCheckServicePath(t *testing.T) {
	for _, p := range []string{"/dev/fd/63", "//dev/fd/63", "/dev/./fd/63", "/dev//fd/3", "/proc/self/fd/0",
		"/proc//self/fd/0", "/proc/thread-self/fd/1", "/dev/stdin", "//dev/stdin", "/dev/../dev/stdin",
		"/dev/stdout", "/dev/stderr"} {
		if err := checkServicePath(servicePath{name: "--sbom"}, p); err == nil {
			t.Errorf("%s was accepted", p)
		}
	}
	for _, p := range []string{"/srv/app.cdx.json", "/dev/fdx", "/proc/selfish/a", "-", "https://127.0.0.1/kit.tar"} {
		if err := checkServicePath(servicePath{name: "--sbom"}, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
