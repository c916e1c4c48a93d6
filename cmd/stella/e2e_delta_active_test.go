package main

import (
	"path/filepath"
	"testing"
)

// TestDeltaOfActiveKitWithoutBase checks that a delta whose kit is already
// active is reported as such, even when its base was never imported: the
// store reached that kit by another delta.
func TestDeltaOfActiveKitWithoutBase(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	skip := filepath.Join(e.dir, "1-to-3.delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[2].full, "-o", skip, "--key", e.key)
	e.importJSON(skip)

	// Night 3's own delta has night 2 as its base, which the store lacks.
	res := e.importJSON(series[2].delta)
	if !res.AlreadyActive || res.Digest != series[2].digest {
		t.Errorf("import of the active kit's delta: alreadyActive %v, digest %s; want true, %s",
			res.AlreadyActive, res.Digest, series[2].digest)
	}
	// A delta of a kit that is not active still needs its base.
	if r := e.run("ouk", "import", "--key", e.pub, series[1].delta); r.code != exitRejected {
		t.Errorf("import of night 2's delta over night 3: exit %d, want %d", r.code, exitRejected)
	}
}
