package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// holdAfterPinEnv makes the test binary run stella itself with afterPin
// set, so that a lookup or scan stops while the active kit is pinned. It
// prints pinnedLine on stderr there and waits for an interrupt to cancel
// the command. With the value "ignore", it then prints cancelledLine and
// blocks for good, as a command stuck in a system call does.
const holdAfterPinEnv = "STELLA_E2E_HOLD_AFTER_PIN"

const (
	pinnedLine    = "e2e: the active kit is pinned"
	cancelledLine = "e2e: the context is cancelled"
)

// runHeldStellaFromEnv runs stella with the arguments of the test binary
// and exits, when holdAfterPinEnv is set.
func runHeldStellaFromEnv() {
	mode, ok := os.LookupEnv(holdAfterPinEnv)
	if !ok {
		return
	}
	afterPin = func(ctx context.Context) {
		fmt.Fprintln(os.Stderr, pinnedLine)
		<-ctx.Done()
		if mode == "ignore" {
			fmt.Fprintln(os.Stderr, cancelledLine)
			select {}
		}
	}
	main()
	os.Exit(exitOK)
}

// startHeld starts stella with args in mode (see holdAfterPinEnv) and
// returns once the command has pinned the active kit.
func (e *env) startHeld(mode string, args ...string) *waitingCommand {
	e.t.Helper()
	return e.startHeldByHook(holdAfterPinEnv+"="+mode, pinnedLine, args...)
}

// startHeldByHook starts the test binary as stella with args and with
// hookEnv, a NAME=VALUE that sets one of its test hooks, and returns once
// the hook has printed readyLine on stderr.
func (e *env) startHeldByHook(hookEnv, readyLine string, args ...string) *waitingCommand {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--store", e.store}, args...)...)
	h := e.startBackground(cmd, args, hookEnv)
	waitForLog(e.t, &h.stderr, h.exited, readyLine)
	return h
}

// signalProcess sends sig to the process of w.
func signalProcess(t *testing.T, w *waitingCommand, sig os.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// newScanEnv returns an env whose store has an active kit, and the path
// of an SBOM to scan.
func newScanEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	sbom := filepath.Join(e.dir, "app.spdx.json")
	if err := os.WriteFile(sbom, []byte(demoSBOM), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, sbom
}

// assertNoPinLeft checks that no interrupted command left its pin behind
// for gc to remove.
func assertNoPinLeft(t *testing.T, e *env) {
	t.Helper()
	rep := e.gcJSON("--keep", "0", "--dry-run")
	if rep.StaleLeases != 0 {
		t.Errorf("gc found %d pins of exited processes, want 0: the interrupted commands left them", rep.StaleLeases)
	}
}

// checkInterrupted checks that r, the result of an interrupted command,
// has exit code 130 and want as the last line of stderr. With asJSON set,
// stdout must be the failure object with want as its error, else empty.
func checkInterrupted(t *testing.T, name string, r result, asJSON bool, want string) {
	t.Helper()
	if r.code != exitInterrupted {
		t.Errorf("%s: exit %d, want %d\n%s", name, r.code, exitInterrupted, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("%s: last line of stderr %q, want %q", name, last, want)
	}
	if !asJSON {
		if r.stdout != "" {
			t.Errorf("%s: interrupted command printed a result:\n%s", name, r.stdout)
		}
		return
	}
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Errorf("%s: stdout is not a failure object: %v\n%q", name, err, r.stdout)
		return
	}
	if failure.Reason != "interrupted" {
		t.Errorf("%s: failure reason %q, want interrupted", name, failure.Reason)
	}
	if failure.ExitCode != exitInterrupted {
		t.Errorf("%s: failure exit code %d, want %d", name, failure.ExitCode, exitInterrupted)
	}
	if failure.Error != want {
		t.Errorf("%s: failure error %q, want the line on stderr, %q", name, failure.Error, want)
	}
}

// TestInterruptAfterPin checks that a lookup or scan interrupted while it
// holds its pin on the active kit releases the pin and ends like any other
// interrupted command. It exits 130 for SIGINT and SIGTERM alike and prints
// its line on stderr, and with -o json the failure object on stdout.
func TestInterruptAfterPin(t *testing.T) {
	e, sbom := newScanEnv(t)
	noEnvFile := filepath.Join(e.dir, "none.env")

	for _, tc := range []struct {
		args   []string
		signal os.Signal
		json   bool
	}{
		{[]string{"scan", "--sbom", sbom, "--env-file", noEnvFile, "-o", "json"}, syscall.SIGTERM, true},
		{[]string{"scan", "--sbom", sbom, "--env-file", noEnvFile}, os.Interrupt, false},
		{[]string{"db", "lookup", "-o", "json", "STELLA-DEMO-2026-0001"}, os.Interrupt, true},
		{[]string{"db", "lookup", "STELLA-DEMO-2026-0001"}, syscall.SIGTERM, false},
	} {
		name := strings.Join(tc.args[:2], " ") + " " + tc.signal.String()
		h := e.startHeld("return", tc.args...)
		signalProcess(t, h, tc.signal)
		r := h.result(t, tc.signal.String())
		checkInterrupted(t, name, r, tc.json, readOnlyInterruptedMessage)
	}
	assertNoPinLeft(t, e)
}

// TestSecondInterruptReleasesPin checks that a second interrupt ends a
// lookup or scan that has not returned after the first, with its pin
// released and exit code 130.
func TestSecondInterruptReleasesPin(t *testing.T) {
	e, sbom := newScanEnv(t)

	for _, tc := range []struct {
		args    []string
		signals [2]os.Signal
	}{
		{[]string{"scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env")},
			[2]os.Signal{os.Interrupt, syscall.SIGTERM}},
		{[]string{"db", "lookup", "STELLA-DEMO-2026-0001"}, [2]os.Signal{syscall.SIGTERM, os.Interrupt}},
	} {
		name := strings.Join(tc.args[:2], " ")
		h := e.startHeld("ignore", tc.args...)
		signalProcess(t, h, tc.signals[0])
		waitForLog(t, &h.stderr, h.exited, cancelledLine)
		signalProcess(t, h, tc.signals[1])
		r := h.result(t, "a second "+tc.signals[1].String())
		if r.code != exitInterrupted {
			t.Errorf("%s: exit %d after a second interrupt, want %d\n%s", name, r.code, exitInterrupted, r.stderr)
		}
		if !strings.HasSuffix(r.stderr, readOnlyInterruptedMessage+"\n") {
			t.Errorf("%s: stderr does not end with %q:\n%s", name, readOnlyInterruptedMessage, r.stderr)
		}
	}
	assertNoPinLeft(t, e)
}

// TestInterruptBeforeStoreOpen checks that a command interrupted before it
// opens the store, such as a scan still reading its SBOM, gets its own
// line rather than one about a wait for another process, since nothing
// waited. It runs the commands in this process with a context cancelled
// from the start, as main's is after an early interrupt.
func TestInterruptBeforeStoreOpen(t *testing.T) {
	e, sbom := newScanEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	for _, args := range [][]string{
		{"scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env")},
		{"db", "lookup", "STELLA-DEMO-2026-0001"},
		{"ouk", "status"},
	} {
		name := strings.Join(args[:2], " ")
		root := newRootCommand()
		root.SetArgs(append([]string{"--store", e.store}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		cmd, err := root.ExecuteContextC(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v does not wrap context.Canceled", name, err)
			continue
		}
		if errors.As(err, new(*storeWaitInterruptedError)) {
			t.Errorf("%s: error %v is a store wait that did not happen", name, err)
		}
		if msg := interruptedMessage(cmd, err); msg != readOnlyInterruptedMessage {
			t.Errorf("%s: message %q, want %q", name, msg, readOnlyInterruptedMessage)
		}
	}
}
