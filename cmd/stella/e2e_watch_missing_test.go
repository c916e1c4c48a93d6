package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitForLog polls the output of a running process until it contains
// want. It fails the test when the process exits, which closes exited,
// or when want does not appear within a minute.
func waitForLog(t *testing.T, out *syncBuffer, exited <-chan struct{}, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), want) {
		select {
		case <-exited:
			t.Fatalf("the process exited before it logged %q:\n%s", want, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after a minute:\n%s", want, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A drop folder on removable media may be mounted after the watch
// service starts, so a running watch waits for a missing folder.
func TestWatchWaitsForMissingFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := filepath.Join(e.dir, "drop")

	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "watch", "--interval", "200ms", "--key", e.pub, drop)
	cmd.Env = append(os.Environ(), "STELLA_HOME="+e.store)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	const missing = `msg="drop folder does not exist; retrying each round until it is created or mounted"`
	waitForLog(t, &stderr, exited, missing)
	// Let several rounds fail, which log the missing folder only once.
	time.Sleep(time.Second)
	select {
	case <-exited:
		t.Fatalf("watch exited with %d while its folder was missing:\n%s", cmd.ProcessState.ExitCode(), stderr.String())
	default:
	}

	// The folder appears at once, with the kit in it, as a mount would.
	staging := e.newDrop("staging", kit)
	if err := os.Rename(staging, drop); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, &stderr, exited, `msg="kit imported"`)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-exited
	out := stderr.String()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("watch stopped between rounds: exit %d, want 0\n%s", code, out)
	}
	if n := strings.Count(out, missing); n != 1 {
		t.Errorf("the missing folder was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "level=ERROR "+missing) {
		t.Errorf("the missing folder is not logged as an error:\n%s", out)
	}
	if !strings.Contains(out, `msg="drop folder scanned again after failed rounds"`) {
		t.Errorf("the end of the failed rounds is not logged:\n%s", out)
	}
	if got, want := e.activeDigest(), e.inspectDigest(kit); got != want {
		t.Errorf("active kit %s, want the dropped kit %s", got, want)
	}
}

func TestWatchOnceMissingFolderFails(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitError {
		t.Errorf("watch --once of a missing folder: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, "does not exist; create it, or check the path") {
		t.Errorf("watch --once of a missing folder does not say that it is missing:\n%s", r.stderr)
	}
}
