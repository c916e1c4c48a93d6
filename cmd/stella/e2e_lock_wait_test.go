package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
)

// waitingCommand is a stella process that runs in the background of a
// test, such as one started while another process holds the store.
type waitingCommand struct {
	args   []string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{}
}

// startWaiting starts stella with args on the store of e and returns once
// it logs that it waits for the store.
func (e *env) startWaiting(args ...string) *waitingCommand {
	e.t.Helper()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store, "--lock-timeout", "10m"}, args...)...)
	w := e.startBackground(cmd, args)
	waitForLog(e.t, &w.stderr, w.exited, "store is in use by another stella process; waiting for it to finish")
	return w
}

// startBackground starts cmd, a stella command line with args, in the
// test's folder and store, with the variables extraEnv added to its
// environment. The command is killed at the end of the test if it still
// runs.
func (e *env) startBackground(cmd *exec.Cmd, args []string, extraEnv ...string) *waitingCommand {
	e.t.Helper()
	w := &waitingCommand{args: args, cmd: cmd, exited: make(chan struct{})}
	cmd.Env = append(append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_HOME="+e.store), extraEnv...)
	cmd.Dir = e.dir
	cmd.Stdout, cmd.Stderr = &w.stdout, &w.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.exited
	})
	return w
}

// result waits for the command to exit and returns its outcome. It fails
// the test when the command still runs a minute later, which only a
// command that keeps waiting for the store takes.
func (w *waitingCommand) result(t *testing.T, after string) result {
	t.Helper()
	select {
	case <-w.exited:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.exited
		t.Fatalf("stella %s still ran a minute after %s:\n%s", strings.Join(w.args, " "), after, w.stderr.String())
	}
	return result{stdout: w.stdout.String(), stderr: w.stderr.String(), code: w.cmd.ProcessState.ExitCode()}
}

// TestSignalEndsStoreWait checks that Ctrl-C or SIGTERM stops a command
// that waits for the store at once, with exit code 130 and a line
// stating that the command changed nothing.
func TestSignalEndsStoreWait(t *testing.T) {
	e := newEnv(t)
	holder, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	for _, tc := range []struct {
		args   []string
		signal os.Signal
	}{
		{[]string{"ouk", "status"}, os.Interrupt},
		{[]string{"db", "lookup", "CVE-2099-0001"}, syscall.SIGTERM},
		{[]string{"ouk", "gc", "--keep", "0"}, os.Interrupt},
		{[]string{"ouk", "import", "--key", e.pub, "-"}, syscall.SIGTERM},
	} {
		name := strings.Join(tc.args[:2], " ")
		w := e.startWaiting(tc.args...)
		if err := w.cmd.Process.Signal(tc.signal); err != nil {
			t.Fatal(err)
		}
		r := w.result(t, tc.signal.String())
		assertFailure(t, name+" stopped while waiting", r, exitInterrupted,
			"Interrupted while waiting for another stella process to release the store", "changed nothing")
		for _, wrong := range []string{"--lock-timeout", "may have removed"} {
			if strings.Contains(r.stderr, wrong) {
				t.Errorf("%s stopped while waiting: the message mentions %q:\n%s", name, wrong, r.stderr)
			}
		}
	}

	// The failure object of JSON output gives the reason, and the line
	// that stderr shows as its error.
	for _, args := range [][]string{
		{"ouk", "status", "-o", "json"},
		{"ouk", "import", "-o", "json", "--key", e.pub, "-"},
	} {
		name := strings.Join(args[:2], " ")
		w := e.startWaiting(args...)
		if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		r := w.result(t, "SIGINT")
		var failure importFailure
		if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
			t.Fatalf("%s -o json stopped while waiting: stdout is not a failure object: %v\n%s", name, err, r.stdout)
		}
		if failure.Reason != "interrupted" {
			t.Errorf("%s: failure reason %q, want interrupted", name, failure.Reason)
		}
		if failure.ExitCode != exitInterrupted {
			t.Errorf("%s: failure exit code %d, want %d", name, failure.ExitCode, exitInterrupted)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if last := lines[len(lines)-1]; failure.Error != last {
			t.Errorf("%s: failure error %q, want the last line of stderr, %q", name, failure.Error, last)
		}
		if args[1] == "import" && failure.Source != "-" {
			t.Errorf("import: failure source %q, want -", failure.Source)
		}
	}
}

// TestRejectedImportWaitersFindNoStore checks that commands that
// need an existing store, and waited for a first import that was then
// rejected and removed the store it created, report the store as absent
// rather than create it again.
func TestRejectedImportWaitersFindNoStore(t *testing.T) {
	e := newEnv(t)
	sbom := filepath.Join(e.dir, "app.spdx.json")
	if err := os.WriteFile(sbom, []byte(demoSBOM), 0o644); err != nil {
		t.Fatal(err)
	}

	// An import from stdin holds the new store while it waits for the
	// kit.
	importer := exec.Command(stellaBin, "--store", e.store, "ouk", "import", "--key", e.pub, "-")
	importer.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	importer.Dir = e.dir
	stdin, err := importer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var importLog syncBuffer
	importer.Stderr = &importLog
	if err := importer.Start(); err != nil {
		t.Fatal(err)
	}
	imported := make(chan struct{})
	go func() {
		_ = importer.Wait()
		close(imported)
	}()
	t.Cleanup(func() {
		_ = importer.Process.Kill()
		<-imported
	})
	holderFile := filepath.Join(e.store, storeDBDir, "stella-holder")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(holderFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import from stdin did not take the store within a minute:\n%s", importLog.String())
		}
	}

	waiting := []*waitingCommand{
		e.startWaiting("ouk", "status"),
		e.startWaiting("db", "lookup", "CVE-2099-0001"),
		e.startWaiting("scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env")),
		e.startWaiting("ouk", "history"),
		e.startWaiting("ouk", "gc", "--dry-run"),
		e.startWaiting("ouk", "gc"),
		e.startWaiting("quota", "status"),
	}

	// A stream that is not a kit rejects the import.
	if _, err := stdin.Write([]byte("not a kit")); err != nil {
		t.Fatal(err)
	}
	_ = stdin.Close()
	<-imported
	if importer.ProcessState.ExitCode() == 0 {
		t.Fatalf("import of a stream that is not a kit succeeded:\n%s", importLog.String())
	}

	for _, w := range waiting {
		name := strings.Join(w.args, " ")
		r := w.result(t, "the import ended")
		if name == "ouk status" {
			if r.code != exitError || !strings.Contains(r.stdout, "absent") {
				t.Errorf("%s after the rejected first import: exit %d, want %d and the store reported absent\n%s%s",
					name, r.code, exitError, r.stdout, r.stderr)
			}
			continue
		}
		assertFailure(t, name+" after the rejected first import", r, exitError, "no store at "+e.store)
	}
	if _, err := os.Stat(e.store); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command that waited for the rejected first import left the store folder %s behind (stat: %v)",
			e.store, err)
	}
}
