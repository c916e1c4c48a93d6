package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestQuotaStatusQuietNoWarnings(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	missing := filepath.Join(e.dir, "none.env")

	// Without -q, a --env-file that cannot be read gives a warning.
	r := e.run("quota", "status", "--env-file", missing)
	if r.code != 0 {
		t.Fatalf("quota status: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: --env-file") {
		t.Errorf("quota status stderr lacks the --env-file warning:\n%s", r.stderr)
	}

	r = e.run("quota", "status", "-q", "--env-file", missing)
	if r.code != 0 {
		t.Fatalf("quota status -q: exit %d\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("quota status -q wrote to stderr:\n%s", r.stderr)
	}
	if r.stdout == "" {
		t.Error("quota status -q printed no status")
	}
}
