package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
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
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_HOME="+e.store)
	cmd.Dir = e.dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &stderr
	err = cmd.Run()
	res := result{stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		e.t.Fatalf("running stella %s: %v", strings.Join(args, " "), err)
	}
	return res
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
