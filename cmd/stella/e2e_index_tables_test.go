package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// lookupAll returns the JSON output of the lookups the series tests use.
func (e *env) lookupAll() []string {
	e.t.Helper()
	var out []string
	for _, q := range [][]string{
		{"STELLA-DEMO-2026-0001"}, {"CVE-2099-0001"}, {"STELLA-NIGHT-0002"}, {"STELLA-NIGHT-0003"},
		{"--purl", "pkg:npm/night-3@1.0.2"}, {"--purl", "pkg:npm/stella-demo-untar@1.0.0"},
	} {
		r := e.run(append([]string{"db", "lookup", "-o", "json"}, q...)...)
		out = append(out, r.stdout+r.stderr)
	}
	return out
}

func TestIndexTablesIngestedOnFullImport(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3, "--index-tables")

	for kit, wantInKit := range map[string]bool{series[2].full: true, series[2].delta: false} {
		var rep struct {
			IndexTables *struct {
				InKit  bool `json:"inKit"`
				Tables int  `json:"tables"`
			} `json:"indexTables"`
		}
		if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", kit)), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.IndexTables == nil || rep.IndexTables.InKit != wantInKit || (wantInKit && rep.IndexTables.Tables == 0) {
			t.Errorf("inspect %s reports index tables %+v, want in the kit: %v", filepath.Base(kit), rep.IndexTables, wantInKit)
		}
	}

	// The full kit of night 3 carries the tables of all its layers.
	full := newEnvWithKeys(t, e)
	res := full.importJSON(series[2].full)
	if res.LayersIndexed == 0 || res.LayersFromTables != res.LayersIndexed {
		t.Fatalf("full import indexed %d layers, %d from pre-built tables; want all from tables",
			res.LayersIndexed, res.LayersFromTables)
	}
	if got := full.activeDigest(); got != series[2].digest {
		t.Fatalf("full import activates %s, want %s", got, series[2].digest)
	}

	// Deltas leave the tables out: each new layer is indexed from its records.
	e.importJSON(series[0].full)
	for _, n := range series[1:] {
		res := e.importJSON(n.delta)
		if res.LayersIndexed != 1 || res.LayersFromTables != 0 {
			t.Fatalf("delta import indexed %d layers, %d from tables; want 1 from its records",
				res.LayersIndexed, res.LayersFromTables)
		}
	}
	if got := e.activeDigest(); got != series[2].digest {
		t.Fatalf("after the deltas, active kit is %s, want %s", got, series[2].digest)
	}

	// A kit built without tables returns the same lookup results.
	plain := newEnvWithKeys(t, e)
	plainSeries := plain.buildSeries(3)
	plain.importJSON(plainSeries[2].full)
	want := plain.lookupAll()
	for name, env := range map[string]*env{"tables": full, "deltas": e} {
		for i, got := range env.lookupAll() {
			if got != want[i] {
				t.Errorf("lookup %d after the %s import:\n%s\nwithout tables:\n%s", i, name, got, want[i])
			}
		}
	}
}

func TestIndexTablesFromLayoutFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--index-tables", "--version", "1.0.0", "--sequence", "1")
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, kit, dir)
	res := e.importJSON(dir)
	if res.LayersIndexed == 0 || res.LayersFromTables != res.LayersIndexed {
		t.Fatalf("layout folder import indexed %d layers, %d from pre-built tables; want all from tables",
			res.LayersIndexed, res.LayersFromTables)
	}
	if out := e.must("ouk", "verify", "--key", e.pub, kit); out == "" {
		t.Fatal("verify printed nothing")
	}
}
