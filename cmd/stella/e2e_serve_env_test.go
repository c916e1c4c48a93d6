package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A delta in the service takes "active" and a digest prefix for --from
// as a delta on its own does, instead of paths in the client's folder.
func TestServiceDeltaFromStoredKit(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	prefix := strings.TrimPrefix(e.activeDigest(), "sha256:")[:12]
	e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	svc := e.startService()

	for _, from := range []string{"active", prefix} {
		out := "delta-" + from + ".tar"
		r := e.run("ouk", "delta", "--from", from, "--to", "kit2.tar", "-o", out, "--key", e.key)
		if r.code != 0 {
			t.Errorf("delta --from %s in the service: exit %d\n%s%s", from, r.code, r.stdout, r.stderr)
			continue
		}
		if _, err := os.Stat(filepath.Join(e.dir, out)); err != nil {
			t.Errorf("delta --from %s in the service wrote no delta in the client's folder: %v", from, err)
		}
	}
	svc.stopService(t, e.store)
}

// A second service on the same store fails at once and names the running
// service, instead of waiting for the store that the first one holds.
func TestServiceSecondServeFails(t *testing.T) {
	e := newEnv(t)
	svc := e.startService()
	start := time.Now()
	r := e.run("serve")
	if r.code != exitStoreBusy {
		t.Errorf("second serve: exit %d, want %d\n%s", r.code, exitStoreBusy, r.stderr)
	}
	if !strings.Contains(r.stderr, "another store service listens") {
		t.Errorf("second serve did not name the running service:\n%s", r.stderr)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("second serve took %s to fail", waited.Round(time.Second))
	}
	svc.stopService(t, e.store)
}
