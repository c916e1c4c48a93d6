package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"stella-ops.org/ouk/bench/gen/feedgen"
	"stella-ops.org/ouk/internal/build"
)

// TestThirtyNightSeries builds thirty nights of generated feeds as a full
// kit and nightly deltas and imports them in order. The store must end on
// the same bundle digest as the night-30 full kit, and its lookups must
// return what a store holding a fresh roll-up of the night-30 feeds returns.
func TestThirtyNightSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 31 kits; skipped with -short")
	}
	e := newEnv(t)
	g := feedgen.New(feedgen.Config{Seed: 7, Records: 1500, AddPerNight: 10, ModifyPerNight: 40, WithdrawPerNight: 2})
	const nights = 30

	feedArgs := func(n int) []string {
		dir := filepath.Join(e.dir, fmt.Sprintf("feeds-%02d", n))
		if _, err := g.Write(dir, feedgen.FormatZip); err != nil {
			t.Fatal(err)
		}
		return []string{"--feed", "osv=" + filepath.Join(dir, "osv"), "--feed", "ghsa=" + filepath.Join(dir, "ghsa"),
			"--feed", "nvd=" + filepath.Join(dir, "nvd")}
	}
	buildJSON := func(args ...string) build.Result {
		var res build.Result
		out := e.must(append([]string{"ouk", "build", "--key", e.key, "--format", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("decoding build result: %v\n%s", err, out)
		}
		return res
	}

	full := filepath.Join(e.dir, "night-00.tar.zst")
	buildJSON(append([]string{"-o", full, "--version", "night-00", "--sequence", "100"}, feedArgs(0)...)...)
	deltas := make([]string, 0, nights)
	var last build.Result
	for n := 1; n <= nights; n++ {
		g.Advance()
		delta := filepath.Join(e.dir, fmt.Sprintf("night-%02d.delta.tar.zst", n))
		last = buildJSON(append([]string{"--base", full, "--delta", "-o", delta,
			"--version", fmt.Sprintf("night-%02d", n), "--sequence", fmt.Sprint(100 + n)}, feedArgs(n)...)...)
		full = filepath.Join(e.dir, fmt.Sprintf("night-%02d.tar.zst", n))
		deltas = append(deltas, delta)
	}

	e.must("ouk", "import", "--key", e.pub, filepath.Join(e.dir, "night-00.tar.zst"))
	for _, d := range deltas {
		e.must("ouk", "import", "--key", e.pub, d)
	}
	if got := e.activeDigest(); got != last.Digest {
		t.Fatalf("after 30 deltas the active kit is %s, want the night-30 full kit %s", got, last.Digest)
	}

	// The night-30 full kit in a fresh store activates the same digest.
	fullStore := newEnvWithKeys(t, e)
	fullStore.must("ouk", "import", "--key", e.pub, full)
	if got := fullStore.activeDigest(); got != last.Digest {
		t.Fatalf("night-30 full kit activates %s, want %s", got, last.Digest)
	}

	// A roll-up built fresh from the night-30 feeds returns the same records.
	rollup := filepath.Join(e.dir, "rollup.tar.zst")
	buildJSON(append([]string{"-o", rollup, "--version", "rollup-30", "--sequence", "200"}, feedArgs(nights)...)...)
	rolled := newEnvWithKeys(t, e)
	rolled.must("ouk", "import", "--key", e.pub, rollup)

	found := 0
	for _, id := range g.IDs(40, 3) {
		a, b := lookupIDs(t, e, id), lookupIDs(t, rolled, id)
		if !slices.Equal(a, b) {
			t.Errorf("lookup %s: series store %v, roll-up store %v", id, a, b)
		}
		if len(a) == 1 && a[0] != "exit 1" {
			found++
		}
	}
	if found < 30 {
		t.Errorf("only %d of 40 IDs of the night-30 feeds were found", found)
	}
	affected := 0
	for _, p := range g.Packages(40, 4) {
		a, b := lookupIDs(t, e, "--purl", p.PURL), lookupIDs(t, rolled, "--purl", p.PURL)
		if !slices.Equal(a, b) {
			t.Errorf("lookup %s: series store %v, roll-up store %v", p.PURL, a, b)
		}
		if len(a) > 0 {
			affected++
		}
	}
	if affected == 0 {
		t.Errorf("no package of the night-30 feeds is affected by any record")
	}
}

// lookupIDs runs `stella db lookup` with args and returns the sorted IDs
// and modified times of the records it finds.
func lookupIDs(t *testing.T, e *env, args ...string) []string {
	t.Helper()
	r := e.run(append([]string{"db", "lookup", "-o", "json"}, args...)...)
	if r.code != 0 {
		return []string{fmt.Sprintf("exit %d", r.code)}
	}
	var recs []struct {
		ID       string `json:"id"`
		Modified string `json:"modified"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil {
		t.Fatalf("decoding lookup output: %v\n%s", err, r.stdout)
	}
	out := []string{}
	for _, rec := range recs {
		out = append(out, rec.ID+"@"+rec.Modified)
	}
	slices.Sort(out)
	return out
}
