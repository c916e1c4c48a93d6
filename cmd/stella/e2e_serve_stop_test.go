package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A client that sends its command and then reads nothing, such as a
// stopped process, fills the socket's buffer and blocks the service's
// writes to it. SIGTERM still stops the service soon after.
func TestServiceStopsDespiteStalledClient(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()

	conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload, err := json.Marshal(serviceCall{Protocol: serviceProtocol, Args: []string{"scan", "--sbom=-", "--"},
		Cwd: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(conn, frameRequest, payload); err != nil {
		t.Fatal(err)
	}
	// Each one-byte chunk of the SBOM makes the scan request the next
	// one with a frame that this client never reads.
	go func() {
		for range 100000 {
			if writeFrame(conn, frameStdin, []byte(" ")) != nil {
				return
			}
		}
	}()
	waitForLog(t, &svc.stderr, svc.exited, `command=scan`)
	time.Sleep(time.Second)

	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-svc.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the service still ran 20s after SIGTERM:\n%s", svc.stderr.String())
	}
	if code := svc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the service exited %d after SIGTERM, want 0:\n%s", code, svc.stderr.String())
	}
	if !strings.Contains(svc.stderr.String(), "store service stopped") {
		t.Errorf("the service did not log its stop:\n%s", svc.stderr.String())
	}
}
