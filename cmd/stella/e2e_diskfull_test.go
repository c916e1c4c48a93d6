package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// runWithFileLimit runs stella like run, under a file size limit of blocks
// 512-byte blocks: POSIX sh's `ulimit -f` sets RLIMIT_FSIZE, so a write
// past the limit fails with EFBIG, as a write to a full volume fails with
// ENOSPC.
func (e *env) runWithFileLimit(blocks int, args ...string) result {
	e.t.Helper()
	shArgs := append([]string{"-c", `ulimit -f "$1" && shift && exec "$@"`, "sh", strconv.Itoa(blocks),
		stellaBin, "--store", e.store}, args...)
	return e.runCommand(exec.Command("/bin/sh", shArgs...), args)
}

// checkDiskFull fails the test unless r is a run that stopped with exit 1
// and the disk-full message, which names the store folder.
func (e *env) checkDiskFull(label string, r result) {
	e.t.Helper()
	if r.code != exitError {
		e.t.Errorf("%s: exit %d, want %d\n%s", label, r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, ": disk full") {
		e.t.Errorf("%s: message does not end in disk full:\n%s", label, r.stderr)
	}
	if !strings.Contains(r.stderr, "store "+filepath.Join(e.store, storeDBDir)) {
		e.t.Errorf("%s: message does not name the store %s:\n%s", label, e.store, r.stderr)
	}
	if !strings.Contains(r.stderr, "raise the file size limit") {
		e.t.Errorf("%s: message does not say what to do:\n%s", label, r.stderr)
	}
	if strings.Contains(r.stderr, "panic:") {
		e.t.Errorf("%s: stella panicked:\n%s", label, r.stderr)
	}
}

// TestImportUnderFileSizeLimit fills up the store's room during an import,
// through a file size limit: at 2048 blocks (1 MiB) the ingested table of
// a 3 MiB image layer fails, and at 8 blocks (4 KiB) the write-ahead log
// does. Both import and watch must blame the host, leave the kit
// unrejected and the active kit as it was, and import the kit once the
// limit is gone.
func TestImportUnderFileSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks int
		// withActive imports a first kit before the limited runs. The
		// 4 KiB case starts from an empty store, because opening a store
		// with a write-ahead log to replay would fail earlier, at the open.
		withActive bool
	}{
		{"ingested table", 2048, true},
		{"write-ahead log", 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			before := ""
			if tc.withActive {
				first := e.buildKit("first.tar", "--version", "1.0.0", "--sequence", "1")
				e.must("ouk", "import", "--key", e.pub, first)
				before = e.activeDigest()
			}
			kit := e.buildKit("kit.tar", "--version", "2.0.0", "--sequence", "2",
				"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir))
			drop := e.newDrop("drop", kit)
			dropped := filepath.Join(drop, "kit.tar")

			r := e.runWithFileLimit(tc.blocks, "ouk", "import", "--key", e.pub, kit)
			e.checkDiskFull("import", r)
			if got := e.activeDigest(); got != before {
				t.Errorf("after the failed import, active kit %q, want %q", got, before)
			}

			r = e.runWithFileLimit(tc.blocks, "ouk", "watch", "--once", "--key", e.pub, drop)
			e.checkDiskFull("watch --once", r)
			if !strings.Contains(r.stderr, "not rejected") {
				t.Errorf("watch does not say the kit stays unrejected:\n%s", r.stderr)
			}
			if _, err := os.Stat(watch.NotePath(dropped)); err == nil {
				t.Errorf("watch wrote a rejection note for a kit that failed for lack of room")
			}
			if got := e.activeDigest(); got != before {
				t.Errorf("after the failed watch, active kit %q, want %q", got, before)
			}

			r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
			if r.code != 0 {
				t.Fatalf("watch --once without the limit: exit %d\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, `msg="kit imported"`) {
				t.Errorf("watch without the limit did not import the kit:\n%s", r.stderr)
			}
			if st := e.status(); st.Active == nil || st.Active.Version != "2.0.0" {
				t.Errorf("after the watch without the limit, active kit %+v, want version 2.0.0", st.Active)
			}
		})
	}
}
