package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// holdScanEnv makes the test binary run stella itself with a hook that
// holds a scan until an interrupt cancels it. With the value "sbom" the
// hook runs in the first read of the SBOM (whileReadingSBOM). With
// "report" it runs once the report is rendered, before it is written
// (beforeScanReport). The hook prints heldScanLine on stderr and returns
// when the command's context is cancelled.
const holdScanEnv = "STELLA_E2E_HOLD_SCAN"

const heldScanLine = "e2e: the scan is held"

// runHeldScanFromEnv runs stella with the arguments of the test binary and
// exits, when holdScanEnv is set.
func runHeldScanFromEnv() {
	stage, ok := os.LookupEnv(holdScanEnv)
	if !ok {
		return
	}
	hold := func(ctx context.Context) {
		fmt.Fprintln(os.Stderr, heldScanLine)
		<-ctx.Done()
	}
	switch stage {
	case "sbom":
		whileReadingSBOM = hold
	case "report":
		beforeScanReport = hold
	default:
		panic(holdScanEnv + " is " + stage + "; use sbom or report")
	}
	main()
	os.Exit(exitOK)
}

// startHeldScan starts stella with args, held at stage (see holdScanEnv),
// and returns once the scan is held.
func (e *env) startHeldScan(stage string, args ...string) *waitingCommand {
	e.t.Helper()
	return e.startHeldByHook(holdScanEnv+"="+stage, heldScanLine, args...)
}

// quotaCount returns the number of scans counted today in the store of e.
func quotaCount(t *testing.T, e *env) int64 {
	t.Helper()
	var st struct{ Count int64 }
	out := e.must("quota", "status", "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("quota status: %v\n%s", err, out)
	}
	return st.Count
}

// TestSBOMHookReadsFileInPlace checks that the hook of whileReadingSBOM
// runs in a ReadAt of the SBOM file, which only the path that reads a file
// in place calls. A hook that hid the *os.File would make the parser read
// the SBOM into memory, and TestInterruptWhileParsingSBOM would then not
// interrupt the path that the stella binary runs.
func TestSBOMHookReadsFileInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sbom.spdx.json")
	if err := os.WriteFile(path, []byte(`{"spdxVersion":"SPDX-2.3","packages":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { whileReadingSBOM = nil }()
	var stack string
	whileReadingSBOM = func(context.Context) { stack = string(debug.Stack()) }

	if _, _, err := parseSBOM(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if stack == "" {
		t.Fatal("the hook did not run")
	}
	if !strings.Contains(stack, ".ReadAt(") {
		t.Errorf("the hook ran outside a ReadAt call:\n%s", stack)
	}
}

// TestInterruptWhileParsingSBOM checks that SIGINT or SIGTERM stops a scan
// while it reads its SBOM, before the scan is counted, with exit code 130,
// the line of a command that changes nothing, and with -o json the
// failure object. The SBOM is cut short, so a scan that went on parsing
// after the interrupt would fail on it with exit code 1 instead.
func TestInterruptWhileParsingSBOM(t *testing.T) {
	e, full := newScanEnv(t)
	raw, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	sbom := e.writeTestFile("cut.spdx.json", string(raw[:len(raw)/2]))
	noEnvFile := filepath.Join(e.dir, "none.env")

	for _, tc := range []struct {
		signal os.Signal
		json   bool
	}{
		{os.Interrupt, true},
		{syscall.SIGTERM, false},
	} {
		args := []string{"scan", "--sbom", sbom, "--env-file", noEnvFile}
		if tc.json {
			args = append(args, "-o", "json")
		}
		name := fmt.Sprintf("%s (JSON %v)", tc.signal, tc.json)
		h := e.startHeldScan("sbom", args...)
		signalProcess(t, h, tc.signal)
		r := h.result(t, tc.signal.String())
		checkInterrupted(t, name, r, tc.json, readOnlyInterruptedMessage)
	}
	if n := quotaCount(t, e); n != 0 {
		t.Errorf("quota count %d after scans interrupted while parsing, want 0", n)
	}
}

// TestInterruptWhileWritingReport checks that SIGINT or SIGTERM stops a
// scan once its report is rendered, before it is written, with exit code
// 130 and with -o json the failure object instead of the report. The
// error message reports that the scan was counted against the quota when
// it was, and that the command changed nothing when it was not, as for an
// SBOM without packages.
func TestInterruptWhileWritingReport(t *testing.T) {
	e, sbom := newScanEnv(t)
	empty := e.writeTestFile("empty.spdx.json", `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[]}`)
	noEnvFile := filepath.Join(e.dir, "none.env")
	counted := "Interrupted while the scan wrote its report: the scan counted against today's quota already, " +
		"and running it again counts again; the store is unchanged otherwise."

	for _, tc := range []struct {
		sbom   string
		signal os.Signal
		json   bool
		want   string
		count  int64
	}{
		{sbom, syscall.SIGTERM, true, counted, 1},
		{sbom, os.Interrupt, false, counted, 2},
		{empty, os.Interrupt, true, readOnlyInterruptedMessage, 2},
	} {
		args := []string{"scan", "--sbom", tc.sbom, "--env-file", noEnvFile}
		if tc.json {
			args = append(args, "-o", "json")
		}
		name := fmt.Sprintf("%s %s (JSON %v)", filepath.Base(tc.sbom), tc.signal, tc.json)
		h := e.startHeldScan("report", args...)
		signalProcess(t, h, tc.signal)
		r := h.result(t, tc.signal.String())
		checkInterrupted(t, name, r, tc.json, tc.want)
		if n := quotaCount(t, e); n != tc.count {
			t.Errorf("%s: quota count %d after the scan, want %d", name, n, tc.count)
		}
	}
	assertNoPinLeft(t, e)
}
