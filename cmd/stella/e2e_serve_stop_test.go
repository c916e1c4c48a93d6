package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stallService connects to the service of e as a client that sends a
// scan and then pushes one-byte chunks of its SBOM. The client never
// reads the service's requests for the next chunk, so they fill the
// socket's buffer and block the service's writes. It returns once the
// scan runs.
func stallService(t *testing.T, e *env, svc *waitingCommand) {
	t.Helper()
	conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	payload, err := json.Marshal(serviceCall{Protocol: serviceProtocol, Args: []string{"scan", "--sbom=-", "--"},
		Cwd: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(conn, frameRequest, payload); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 100000 {
			if writeFrame(conn, frameStdin, []byte(" ")) != nil {
				return
			}
		}
	}()
	waitForLog(t, &svc.stderr, svc.exited, `command=scan`)
	time.Sleep(time.Second)
}

// A client that sends its command and then reads nothing, such as a
// stopped process, fills the socket's buffer and blocks the service's
// writes to it. SIGTERM still stops the service soon after.
func TestServiceStopsDespiteStalledClient(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	stallService(t, e, svc)

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

// A second SIGINT or SIGTERM ends a service that is still stopping after
// the first, as it ends any other stella command.
func TestServiceSecondSignalEndsIt(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	// The stalled client keeps the service stopping for a few seconds.
	stallService(t, e, svc)

	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, &svc.stderr, svc.exited, "stopping the store service")
	if err := svc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-svc.exited:
	case <-time.After(2 * time.Second):
		t.Fatalf("the service still ran 2s after a second signal:\n%s", svc.stderr.String())
	}
	status, ok := svc.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !status.Signaled() || status.Signal() != syscall.SIGINT {
		t.Errorf("the service ended with %v, want killed by SIGINT:\n%s", svc.cmd.ProcessState, svc.stderr.String())
	}
}

// A client that connects and sends no command does not hold up the
// service's stop until its 10 s to send one have passed.
func TestServiceStopsDespiteIdleClient(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()
	conn, err := net.Dial("unix", filepath.Join(e.store, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Give the service time to accept the connection.
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	svc.stopService(t, e.store)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the service took %s to stop", waited.Round(time.Millisecond))
	}
	if strings.Contains(svc.stderr.String(), "sent no request") {
		t.Errorf("the service logged the client that its stop cut off:\n%s", svc.stderr.String())
	}
}
