package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// holdBeforePinEnv makes the test binary run stella itself with beforePin
// set, so that the first lookup or scan stops after it reads the active
// kit and before it pins it. It prints beforePinLine on stderr there and
// goes on once the file that the variable names exists.
const holdBeforePinEnv = "STELLA_E2E_HOLD_BEFORE_PIN"

const beforePinLine = "e2e: the active kit is read and not pinned yet"

// runBeforePinStellaFromEnv runs stella with the arguments of the test
// binary and exits, when holdBeforePinEnv is set.
func runBeforePinStellaFromEnv() {
	release, ok := os.LookupEnv(holdBeforePinEnv)
	if !ok {
		return
	}
	var paused atomic.Bool
	beforePin = func(ctx context.Context) {
		if paused.Swap(true) {
			return
		}
		fmt.Fprintln(os.Stderr, beforePinLine)
		waitForFile(ctx, release)
	}
	main()
	os.Exit(exitOK)
}

// waitForFile returns once the file at path exists or ctx ends, for a test
// hook that holds a command until the test creates that file.
func waitForFile(ctx context.Context, path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A lookup in the service that read the active kit just before an import
// and gc --keep 0 removed that kit pins the kit that is active then and
// returns its records, instead of failing on the removed kit.
func TestServiceLookupPinsKitAfterGC(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	release := filepath.Join(e.dir, "release-pin")
	serve := exec.Command(os.Args[0], "--store", e.store, "serve")
	svc := e.startBackground(serve, []string{"serve"}, holdBeforePinEnv+"="+release)
	waitForLog(t, &svc.stderr, svc.exited, "store service started")

	lookup := exec.Command(stellaBin, "--store", e.store, "db", "lookup", "CVE-2099-0001")
	looking := e.startBackground(lookup, []string{"db", "lookup"})
	waitForLog(t, &svc.stderr, svc.exited, beforePinLine)
	e.must("ouk", "import", "--key", e.pub, kit2)
	gc := e.run("ouk", "gc", "--keep", "0", "-o", "json")
	if gc.code != 0 || strings.Contains(gc.stdout, `"removed": 0,`) {
		t.Fatalf("gc --keep 0 after the import removed nothing: exit %d\n%s%s", gc.code, gc.stdout, gc.stderr)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	r := looking.result(t, "the pin was released")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Errorf("lookup whose kit gc removed before the pin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	svc.stopService(t, e.store)
}
