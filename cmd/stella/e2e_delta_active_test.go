package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
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

// TestInspectActiveDeltaWithoutBase checks that inspect agrees with import
// on a delta of the active kit whose base gc removed: import reports the
// kit as already active, so inspect must not call the delta rejected.
func TestInspectActiveDeltaWithoutBase(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	e.must("ouk", "gc", "--keep", "0")

	inspect := func(site *env, kit string) (inspectReport, string) {
		t.Helper()
		var rep inspectReport
		if err := json.Unmarshal([]byte(site.must("ouk", "inspect", "-o", "json", kit)), &rep); err != nil {
			t.Fatal(err)
		}
		return rep, site.must("ouk", "inspect", kit)
	}
	rep, text := inspect(e, series[1].delta)
	if rep.BaseInStore == nil || *rep.BaseInStore {
		t.Fatalf("baseInStore %v after gc --keep 0; this test needs the base kit removed", rep.BaseInStore)
	}
	if rep.Active == nil || !*rep.Active {
		t.Errorf("inspect: active %v, want true", rep.Active)
	}
	if strings.Contains(text, "rejected") {
		t.Errorf("inspect calls the delta of the active kit rejected:\n%s", text)
	}
	if !strings.Contains(text, "already active") {
		t.Errorf("inspect does not say that the kit is already active:\n%s", text)
	}
	if res := e.importJSON(series[1].delta); !res.AlreadyActive {
		t.Errorf("import of the delta: alreadyActive false, want true")
	}

	// A delta of a kit that is not active still needs its base.
	other := newEnvWithKeys(t, e)
	other.importJSON(other.buildKit("other.tar.zst", "--version", "other", "--sequence", "1"))
	rep, text = inspect(other, series[1].delta)
	if rep.Active == nil || *rep.Active {
		t.Errorf("inspect on a store with kit other active: active %v, want false", rep.Active)
	}
	if !strings.Contains(text, "import of this delta is rejected until kit night-01") {
		t.Errorf("inspect does not say that import rejects the delta:\n%s", text)
	}
	if !strings.Contains(text, "or import the full kit night-02") {
		t.Errorf("inspect does not offer the full kit night-02:\n%s", text)
	}

	// import rejects a delta older than the active kit as a downgrade,
	// whether its base is stored or not, and inspect agrees.
	other.importJSON(series[2].full)
	_, text = inspect(other, series[1].delta)
	if !strings.Contains(text, "import rejects this delta as a downgrade anyway: its sequence 2 is lower than 3") {
		t.Errorf("inspect does not say that import rejects the delta as a downgrade:\n%s", text)
	}
}
