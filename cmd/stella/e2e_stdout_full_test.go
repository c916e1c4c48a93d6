package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTextOutputToFullVolume checks that commands that print text fail
// when stdout cannot be written, as on a full volume under a redirected
// file, instead of passing as a success.
func TestTextOutputToFullVolume(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("/dev/full cannot be opened (%v); skipping", err)
	}
	defer full.Close()
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))
	for _, args := range [][]string{{"ouk", "status"}, {"db", "lookup", "CVE-2099-0001"}, {"ouk", "gc", "--dry-run"}} {
		cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
		cmd.Env = append(os.Environ(), "STELLA_HOME="+e.store)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitError {
			t.Errorf("stella %s > /dev/full: %v, want exit %d", strings.Join(args, " "), err, exitError)
		}
		if !strings.Contains(stderr.String(), "writing the output to stdout") {
			t.Errorf("stella %s > /dev/full: stderr %q does not name stdout", strings.Join(args, " "), stderr.String())
		}
	}
}
