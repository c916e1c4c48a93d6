package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeltaCommandRejectsNewerBase(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	out := filepath.Join(e.dir, "reverse.delta.tar.zst")

	r := e.run("ouk", "delta", "--from", series[1].full, "--to", series[0].full, "-o", out, "--key", e.key)
	if r.code != exitUsage {
		t.Errorf("delta from a newer base: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	for _, want := range []string{"night-01", "night-02", "sequence 2", "sequence 1) of --to"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not name %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a rejected delta was written to %s", out)
	}
}
