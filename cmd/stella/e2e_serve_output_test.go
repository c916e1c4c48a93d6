package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// runToFullVolume runs stella with args and its stdout on /dev/full, a
// device whose every write fails with ENOSPC, and returns the exit code
// and stderr.
func (e *env) runToFullVolume(args ...string) result {
	e.t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		e.t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	cmd.Stdout = full
	return e.runCommand(cmd, args)
}

// A client whose stdout fails, as on a full volume, reports the write
// error on stderr as the command on its own does, instead of exiting 1
// with no message.
func TestServiceReportsStdoutWriteFailure(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	own := e.runToFullVolume("ouk", "history")
	if own.code == 0 || !strings.Contains(own.stderr, "no space left on device") {
		t.Fatalf("history to a full volume on its own: exit %d\n%s", own.code, own.stderr)
	}
	svc := e.startService()
	served := e.runToFullVolume("ouk", "history")
	if served.code != own.code {
		t.Errorf("history to a full volume in the service: exit %d, want %d\n%s", served.code, own.code, served.stderr)
	}
	if !strings.Contains(served.stderr, "no space left on device") {
		t.Errorf("history to a full volume in the service named no write failure:\n%s", served.stderr)
	}
	svc.stopService(t, e.store)
}

// openTerminal returns the two ends of a new pseudo-terminal: the side
// that a test reads, and the side that a command writes to as its
// terminal.
func openTerminal(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Skipf("no pseudo-terminal number: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	return master, slave
}

// importOnTerminal imports kit with stderr on a pseudo-terminal and
// returns the exit code and what the import wrote there.
func (e *env) importOnTerminal(kit string) (int, string) {
	e.t.Helper()
	master, slave := openTerminal(e.t)
	defer master.Close()
	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "--key", e.pub, kit)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_HOME="+e.store)
	cmd.Dir = e.dir
	cmd.Stdout = io.Discard
	cmd.Stderr = slave
	var terminal bytes.Buffer
	copied := make(chan struct{})
	go func() {
		// The read ends with EIO once no process has the terminal open.
		_, _ = io.Copy(&terminal, master)
		close(copied)
	}()
	err := cmd.Run()
	slave.Close()
	<-copied
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		e.t.Fatalf("running stella ouk import: %v", err)
	}
	return cmd.ProcessState.ExitCode(), terminal.String()
}

// An import in the service draws its progress bar on the client's
// terminal, as an import on its own does.
func TestServiceShowsProgressOnTerminal(t *testing.T) {
	e := newEnv(t)
	code, own := e.importOnTerminal(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	if code != 0 || !strings.Contains(own, "importing") {
		t.Fatalf("import on a terminal on its own: exit %d, no progress bar:\n%q", code, own)
	}
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	svc := e.startService()
	code, served := e.importOnTerminal(kit2)
	if code != 0 {
		t.Errorf("import on a terminal in the service: exit %d\n%q", code, served)
	}
	if !strings.Contains(served, "importing") {
		t.Errorf("import on a terminal in the service drew no progress bar:\n%q", served)
	}
	svc.stopService(t, e.store)
}
