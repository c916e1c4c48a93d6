package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A burst of clients that takes every file descriptor the service may
// open fails some accepts, and the service goes on serving once they are
// gone, instead of stopping.
func TestServiceSurvivesTooManyClients(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	limit := unix.Rlimit{Cur: 40, Max: 40}
	if err := unix.Prlimit(svc.cmd.Process.Pid, unix.RLIMIT_NOFILE, &limit, nil); err != nil {
		t.Skipf("lowering the service's open file limit: %v", err)
	}

	socket := filepath.Join(e.store, serviceSocketName)
	var clients []net.Conn
	for range 80 {
		conn, err := net.DialTimeout("unix", socket, 5*time.Second)
		if err != nil {
			break
		}
		clients = append(clients, conn)
	}
	waitForLog(t, &svc.stderr, svc.exited, "too many open files")
	for _, conn := range clients {
		conn.Close()
	}

	select {
	case <-svc.exited:
		t.Fatalf("the service stopped after a burst of clients:\n%s", svc.stderr.String())
	case <-time.After(2 * time.Second):
	}
	r := e.run("--lock-timeout", "0", "ouk", "status")
	if r.code != 0 {
		t.Errorf("status after a burst of clients: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(svc.stderr.String(), `command="ouk status"`) {
		t.Errorf("the service ran no status after a burst of clients:\n%s", svc.stderr.String())
	}
	svc.stopService(t, e.store)
}
