package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
)

// pinHelperEnv makes the test binary a pin holder: given "STORE|DIGEST",
// it pins DIGEST in the store, closes the store so that other processes can
// open it, and waits until it is killed.
const pinHelperEnv = "STELLA_E2E_PIN_HOLDER"

// pinHeld is the line the pin holder prints once the store is closed.
const pinHeld = "pinned"

func init() {
	arg, ok := os.LookupEnv(pinHelperEnv)
	if !ok {
		return
	}
	storeDir, kit, _ := strings.Cut(arg, "|")
	if err := holdPin(storeDir, digest.Digest(kit)); err != nil {
		fmt.Fprintln(os.Stderr, "pin holder:", err)
		os.Exit(1)
	}
	fmt.Println(pinHeld)
	_, _ = io.Copy(io.Discard, os.Stdin) // wait for SIGKILL or stdin to close
	os.Exit(0)
}

func holdPin(storeDir string, kit digest.Digest) error {
	store, err := cas.Open(filepath.Join(storeDir, storeDBDir), cas.Options{LockWait: time.Minute})
	if err != nil {
		return err
	}
	if _, err := store.PinProcess(context.Background(), kit, fmt.Sprintf("pid-%d", os.Getpid())); err != nil {
		store.Close()
		return err
	}
	return store.Close()
}

// waitForPin waits until the pin holder writing logPath reports that it
// has pinned the kit and closed the store.
func waitForPin(t *testing.T, logPath string) {
	t.Helper()
	var log []byte
	for range 1200 {
		log, _ = os.ReadFile(logPath)
		if strings.Contains(string(log), pinHeld) {
			return
		}
		if strings.Contains(string(log), "pin holder:") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the pin holder did not pin the kit; its output: %s", log)
}

// gcJSON runs `ouk gc` with args and returns the parsed report.
func (e *env) gcJSON(args ...string) cas.GCReport {
	e.t.Helper()
	out := e.must(append([]string{"ouk", "gc", "-o", "json"}, args...)...)
	var rep cas.GCReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("decoding gc output: %v\n%s", err, out)
	}
	return rep
}

// runToClosedPipe runs stella with stdout a pipe whose reader has already
// gone, so the first write fails as it does after `| head -1` has exited.
func (e *env) runToClosedPipe(args ...string) (code int, stderr string) {
	e.t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	cmd.Env = append(os.Environ(), "STELLA_HOME="+e.store)
	cmd.Dir = e.dir
	var errOut strings.Builder
	cmd.Stdout, cmd.Stderr = w, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		e.t.Fatalf("running stella %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), errOut.String()
}

func TestLookupBrokenPipeReleasesPin(t *testing.T) {
	e := newEnv(t)
	old := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))

	code, stderr := e.runToClosedPipe("db", "lookup", "STELLA-DEMO-2026-0001")
	if code != 141 {
		t.Errorf("lookup into a closed pipe exited %d, want 141 (128 + SIGPIPE); stderr: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("lookup into a closed pipe printed on stderr: %s", stderr)
	}

	newer := e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	rep := e.gcJSON("--keep", "0")
	if slices.Contains(rep.KeptKits, digest.Digest(old.Digest)) {
		t.Errorf("gc --keep 0 kept kit 1.0.0 after the lookup that pinned it ended: %+v", rep.KeptReasons)
	}
	if len(rep.KeptKits) != 1 || rep.KeptKits[0] != digest.Digest(newer.Digest) {
		t.Errorf("keptKits = %v, want only the active kit %s", rep.KeptKits, newer.Digest)
	}
}

func TestGCIgnoresPinOfExitedLookup(t *testing.T) {
	e := newEnv(t)
	old := e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	// A pin holder killed with SIGKILL has no chance to release its pin.
	holder := exec.Command(os.Args[0])
	holder.Env = append(os.Environ(), pinHelperEnv+"="+e.store+"|"+old.Digest)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.dir, "pin-holder.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	holder.Stdout, holder.Stderr = logFile, logFile
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	waitForPin(t, logPath)
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()

	rep := e.gcJSON("--keep", "0", "--dry-run")
	if slices.Contains(rep.KeptKits, digest.Digest(old.Digest)) {
		t.Errorf("gc --keep 0 --dry-run keeps kit 1.0.0 for a pin whose process has exited: %+v", rep.KeptReasons)
	}
	if rep.StaleLeases != 1 {
		t.Errorf("gc --dry-run counts %d stale pins, want 1", rep.StaleLeases)
	}
	out := e.must("ouk", "gc", "--keep", "0")
	if strings.Contains(out, "kit 1.0.0") {
		t.Errorf("gc --keep 0 kept kit 1.0.0 for a pin whose process has exited:\n%s", out)
	}
	if !strings.Contains(out, "Removed 1 stale pin:") {
		t.Errorf("gc output does not report the stale pin:\n%s", out)
	}
	if !strings.Contains(out, " of 1 kit\n") {
		t.Errorf("gc output does not count the one kit it keeps in the singular:\n%s", out)
	}
}

func TestGCTextGivesReasons(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	e.importJSON(e.buildKit("kit3.tar", "--version", "3.0.0", "--sequence", "3"))
	kit4 := e.importJSON(e.buildKit("kit4.tar", "--version", "4.0.0", "--sequence", "4"))

	// This test process pins kit 4 and keeps running while gc checks it.
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PinProcess(context.Background(), digest.Digest(kit4.Digest), "e2e-test"); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	out := e.must("ouk", "gc", "--keep", "2")
	for _, want := range []string{
		"kept",
		"kit 4.0.0 (sha256:" + strings.TrimPrefix(kit4.Digest, "sha256:")[:12] + "): active; pinned by running PID " +
			fmt.Sprint(os.Getpid()) + " since ",
		"kit 3.0.0 (sha256:",
		"): previous kit, kept for rollback (within --keep 2)",
		"kit 2.0.0 (sha256:",
		"): history kit 2, within --keep 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gc output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kit 1.0.0") {
		t.Errorf("gc --keep 2 kept kit 1.0.0:\n%s", out)
	}

	rep := e.gcJSON("--keep", "2")
	if len(rep.KeptReasons) != len(rep.KeptKits) {
		t.Fatalf("gc JSON has %d reasons for %d kept kits", len(rep.KeptReasons), len(rep.KeptKits))
	}
	active := rep.KeptReasons[0]
	if active.Version != "4.0.0" || len(active.Reasons) != 2 {
		t.Fatalf("first kept kit = %+v, want 4.0.0, active and pinned", active)
	}
	if active.Reasons[0].Kind != cas.ReasonActive {
		t.Errorf("first reason of the active kit is %q, want %q", active.Reasons[0].Kind, cas.ReasonActive)
	}
	lease := active.Reasons[1]
	if lease.Kind != cas.ReasonLease || lease.PID != os.Getpid() || !lease.HolderRunning {
		t.Errorf("lease reason = %+v, want a running holder with PID %d", lease, os.Getpid())
	}
}

func TestImportSummaryAllBlobsPresent(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit1)
	e.importJSON(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))

	out := e.must("ouk", "import", "--key", e.pub, "--allow-downgrade", kit1)
	if !strings.Contains(out, "read          no blob data: all ") ||
		!strings.Contains(out, "blobs were already in the store") {
		t.Errorf("summary of an import that read no blob does not say why:\n%s", out)
	}
	if strings.Contains(out, "0 B\n") {
		t.Errorf("summary still reports a bare 0 B read:\n%s", out)
	}
	if !strings.Contains(out, "already present, skipped unread)") {
		t.Errorf("summary does not say present blobs were skipped unread:\n%s", out)
	}
}

func TestGCRemovesIndexKeysOfEarlierLayout(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	e.importJSON(kit)
	before := e.lookupAll()

	// The store as an earlier release left it: the layers marked with
	// format 3, and an alias key with the layer after the alias.
	store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	index := store.KV(importer.VulnDBNamespace)
	var markers [][]byte
	err = index.Scan([]byte("layer\x00"), func(k, _ []byte) error {
		markers = append(markers, bytes.Clone(k))
		return nil
	})
	if err != nil || len(markers) == 0 {
		t.Fatalf("found %d layer markers: %v", len(markers), err)
	}
	b := index.NewBatch()
	for _, k := range markers {
		if err := b.Set(k, []byte("3")); err != nil {
			t.Fatal(err)
		}
	}
	old := []byte("alias\x00CVE-2099-0001\x00sha256:" + strings.Repeat("ab", 32) + "\x00CVE-2099-0001\x00")
	if err := b.Set(old, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// gc keeps the old keys while layers are indexed in the old format.
	out := e.must("ouk", "gc")
	if want := fmt.Sprintf("Kept the lookup index of %d DB", len(markers)); !strings.Contains(out, want) {
		t.Errorf("gc output lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "Removed 1 lookup index key") {
		t.Errorf("gc removed keys of layers not yet indexed again:\n%s", out)
	}
	if out := e.must("ouk", "import", "--key", e.pub, kit); !strings.Contains(out, "already active; indexed") {
		t.Errorf("a second import of the active kit does not say it indexed layers again:\n%s", out)
	}

	if out := e.must("ouk", "gc", "--dry-run"); !strings.Contains(out, "Would remove 1 lookup index key written in the layout of an earlier release") {
		t.Errorf("gc --dry-run does not count the key of an earlier layout:\n%s", out)
	}
	var dry struct {
		DryRun bool `json:"dryRun"`
	}
	if out := e.must("ouk", "gc", "--dry-run", "-o", "json"); json.Unmarshal([]byte(out), &dry) != nil || !dry.DryRun {
		t.Errorf("gc --dry-run -o json does not mark its report as a dry run:\n%s", out)
	}
	out = e.must("ouk", "gc", "-o", "json")
	var rep struct {
		EarlierIndexKeys    int  `json:"earlierIndexKeysRemoved"`
		EarlierFormatLayers int  `json:"earlierFormatLayers"`
		DryRun              bool `json:"dryRun"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decoding gc output: %v\n%s", err, out)
	}
	if rep.DryRun {
		t.Errorf("gc -o json says it was a dry run:\n%s", out)
	}
	if rep.EarlierIndexKeys != 1 || rep.EarlierFormatLayers != 0 {
		t.Fatalf("gc removed %d keys of an earlier layout with %d layers in it, want 1 and 0:\n%s",
			rep.EarlierIndexKeys, rep.EarlierFormatLayers, out)
	}
	if after := e.lookupAll(); !slices.Equal(after, before) {
		t.Fatalf("lookups changed after gc:\n%q\nwant\n%q", after, before)
	}
	if out := e.must("ouk", "gc"); strings.Contains(out, "earlier release") {
		t.Errorf("a second gc still found keys of an earlier layout:\n%s", out)
	}
}
