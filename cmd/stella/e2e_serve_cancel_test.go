package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A client interrupted while its command runs in a service that does not
// confirm the stop reports that the command may still run and finish there,
// instead of the line of a command that stopped.
func TestServiceStopUnconfirmed(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(e.store, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for a service whose command is slow to wind down: it
	// starts the command, reads the cancel and then sends nothing more.
	listener, err := net.Listen("unix", filepath.Join(e.store, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	started := make(chan struct{})
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, _, err := readFrame(conn); err != nil {
			return
		}
		if writeFrame(conn, frameStarted, nil) != nil {
			return
		}
		close(started)
		for {
			if _, _, err := readFrame(conn); err != nil {
				return
			}
		}
	}()

	kit := filepath.Join(e.dir, "kit.tar")
	args := []string{"ouk", "import", kit}
	w := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args)
	select {
	case <-started:
	case <-w.exited:
		t.Fatalf("the client exited before the command started:\n%s", w.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("the client sent no command within a minute:\n%s", w.stderr.String())
	}
	signalProcess(t, w, os.Interrupt)
	r := w.result(t, "Ctrl-C")

	if r.code != exitInterrupted {
		t.Errorf("exit code %d, want %d:\n%s", r.code, exitInterrupted, r.stderr)
	}
	for _, want := range []string{"has not confirmed within 5s", "may still be running in the service",
		"may still change the active kit", "stella ouk status", "stella ouk history", "service's log"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "the active kit is unchanged") {
		t.Errorf("stderr claims that the active kit is unchanged:\n%s", r.stderr)
	}
}
