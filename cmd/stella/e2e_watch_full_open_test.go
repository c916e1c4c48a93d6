package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWatchExitsAfterFullVolumeDuringOpen runs a watch under a file size
// limit of one block (512 bytes), which the MANIFEST that the store's open
// for writing rewrites exceeds, while statfs reports room. Such an open
// leaves the store locked by the watch's process, so the watch must exit 1
// with a line that gives the reason, instead of failing every later round
// on its own lock and blaming another process. Once it has exited, the store
// opens again.
func TestWatchExitsAfterFullVolumeDuringOpen(t *testing.T) {
	e := newEnv(t)
	first := e.buildKit("first.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, first)
	before := e.activeDigest()
	kit := e.buildKit("kit.tar", "--version", "2.0.0", "--sequence", "2")
	drop := e.newDrop("drop", kit)

	// The timeout only ends a watch that keeps running, which is the
	// failure this test looks for.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"--lock-timeout", "2s", "ouk", "watch", "--interval", "1s", "--key", e.pub, drop}
	shArgs := append([]string{"-c", `ulimit -f 1 && exec "$@"`, "sh", stellaBin, "--store", e.store}, args...)
	cmd := exec.CommandContext(ctx, "/bin/sh", shArgs...)
	cmd.WaitDelay = 5 * time.Second
	r := e.runCommand(cmd, args)
	if ctx.Err() != nil {
		t.Fatalf("watch still ran after its open of the store was abandoned; stderr:\n%s", r.stderr)
	}
	if r.code != exitError {
		t.Errorf("watch: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="watch exits, because its open of the store ran out of room partway`) {
		t.Errorf("watch does not log why it exits:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "restart this process") {
		t.Errorf("watch's error does not say to restart the process:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "another stella process") {
		t.Errorf("watch blames another process for its own lock:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "panic:") {
		t.Errorf("stella panicked:\n%s", r.stderr)
	}
	if got := e.activeDigest(); got != before {
		t.Errorf("after the failed watch, active kit %q, want %q", got, before)
	}

	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once without the limit: exit %d\n%s", r.code, r.stderr)
	}
	if st := e.status(); st.Active == nil || st.Active.Version != "2.0.0" {
		t.Errorf("after the watch without the limit, active kit %+v, want version 2.0.0", st.Active)
	}
}
