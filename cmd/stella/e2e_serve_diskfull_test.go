package main

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A service whose store stops writing after a write-ahead log write
// fails, as on a full volume, exits with 1 for its service manager to
// start it again, so that later commands do not fail on the stopped store.
func TestServiceStopsWhenStoreStopsWriting(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "2.0.0", "--sequence", "2",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir))
	e.createEmptyStore()
	svc := e.startService()
	// 8 blocks of 512 bytes: the write-ahead log outgrows them during
	// the import (see TestImportUnderFileSizeLimit).
	limit := unix.Rlimit{Cur: 8 * 512, Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(svc.cmd.Process.Pid, unix.RLIMIT_FSIZE, &limit, nil); err != nil {
		t.Skipf("setting the service's file size limit: %v", err)
	}
	e.checkDiskFull("import in the service", e.run("ouk", "import", "--key", e.pub, kit))

	select {
	case <-svc.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the service still runs after its store stopped writing:\n%s", svc.stderr.String())
	}
	if code := svc.cmd.ProcessState.ExitCode(); code != exitError {
		t.Errorf("the service exited %d after its store stopped writing, want %d:\n%s", code, exitError,
			svc.stderr.String())
	}
	if !strings.Contains(svc.stderr.String(), "the store stopped writing") {
		t.Errorf("the service did not say why it stopped:\n%s", svc.stderr.String())
	}
	r := e.run("ouk", "import", "--key", e.pub, kit)
	if r.code != 0 {
		t.Errorf("import after the service stopped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
