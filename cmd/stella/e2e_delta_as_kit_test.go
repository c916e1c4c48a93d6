package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDeltaGivenAsFullKit checks the messages when a delta is given where
// a command needs a full kit: as the base of a build, and as the new kit of
// a delta whose base it does not apply to.
func TestDeltaGivenAsFullKit(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	r := e.run("ouk", "build", "--base", series[1].delta, "-o", filepath.Join(e.dir, "next.tar"),
		"--feed", "osv="+e.nightFeed(3))
	if r.code != exitUsage || !strings.Contains(r.stderr, "is a delta of kit night-01") {
		t.Errorf("build on a delta base: exit %d, stderr %q; want exit %d naming the delta's base", r.code, r.stderr, exitUsage)
	}
	r = e.run("ouk", "delta", "--from", series[0].full, "--to", series[2].delta, "-o", filepath.Join(e.dir, "d.tar"), "--key", e.key)
	if r.code == 0 || !strings.Contains(r.stderr, "is itself a delta of kit night-02") || strings.Contains(r.stderr, "Include") {
		t.Errorf("delta to a delta of another base: exit %d, stderr %q", r.code, r.stderr)
	}
}
