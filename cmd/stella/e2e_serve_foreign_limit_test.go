package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Clients of other users take at most maxForeignClients places of the
// service, so that they cannot turn away the commands of its own user.
func TestServiceKeepsPlacesForOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the service as another user")
	}
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxClients {
		conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}
	waitForLog(t, &svc.stderr, svc.exited, "too many clients of other users")
	// The service frees the general places of the connections that it
	// turned away as it closes them.
	time.Sleep(time.Second)

	r := e.run("--lock-timeout", "5s", "db", "lookup", "CVE-2099-0001")
	if r.code != exitStoreBusy || !strings.Contains(r.stderr, "clients of other users at once already") {
		t.Errorf("lookup of another user past the limit: exit %d\n%s", r.code, r.stderr)
	}

	args := []string{"--lock-timeout", "5s", "db", "lookup", "CVE-2099-0001"}
	owner := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	owner.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	r = e.runCommand(owner, args)
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Errorf("lookup of the service's user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
