package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The service's log line of a command that its client stopped says how:
// a client killed in the middle of an import disconnected, and one
// interrupted with Ctrl-C cancelled the command.
func TestServiceLogsClientEnd(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	svc := e.startService()

	for i, c := range []struct {
		signal os.Signal
		want   string
	}{{syscall.SIGKILL, "client=disconnected"}, {os.Interrupt, "client=cancelled"}} {
		// The import reads its kit from a pipe that stays open and
		// empty, so it runs until its client ends it.
		read, write, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"ouk", "import", "--key", e.pub, "-"}
		cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
		cmd.Stdin = read
		client := e.startBackground(cmd, args)
		read.Close()
		waitForCount(t, &svc.stderr, svc.exited, "command=\"ouk import\"", i+1)
		signalProcess(t, client, c.signal)
		_ = client.result(t, c.signal.String())
		write.Close()

		waitForCount(t, &svc.stderr, svc.exited, "command ended", i+1)
		var ended string
		for _, line := range strings.Split(svc.stderr.String(), "\n") {
			if strings.Contains(line, "command ended") {
				ended = line
			}
		}
		if !strings.Contains(ended, c.want) {
			t.Errorf("client ended by %s: log line %q lacks %s", c.signal, ended, c.want)
		}
	}
	svc.stopService(t, e.store)
}

// waitForCount waits until out holds want n times, and fails the test
// when the process ends first or a minute passes.
func waitForCount(t *testing.T, out *syncBuffer, exited <-chan struct{}, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for strings.Count(out.String(), want) < n {
		select {
		case <-exited:
			t.Fatalf("the process exited before it logged %q %d times:\n%s", want, n, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q is in the log fewer than %d times after a minute:\n%s", want, n, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
