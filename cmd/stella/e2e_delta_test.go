package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/watch"
)

// nightFeed writes the OSV feed of night n: the fixture records plus one
// new record per night so far, with record 0001 modified on every night.
func (e *env) nightFeed(n int) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, fmt.Sprintf("feed-%02d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	src := filepath.Join(repoRoot(e.t), "testdata", "feeds", "osv")
	for _, name := range []string{"STELLA-DEMO-2026-0001.json", "STELLA-DEMO-2026-0002.json"} {
		raw, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			e.t.Fatal(err)
		}
		if strings.Contains(name, "0001") {
			raw = []byte(strings.Replace(string(raw), "2026-11-02T09:30:00Z", fmt.Sprintf("2026-12-%02dT09:30:00Z", n), 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	for i := 2; i <= n; i++ {
		rec := fmt.Sprintf(`{"schema_version":"1.6.0","id":"STELLA-NIGHT-%04d","modified":"2026-12-%02dT00:00:00Z",`+
			`"summary":"Night %d finding","affected":[{"package":{"ecosystem":"npm","name":"night-%d"},`+
			`"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.%d"}]}]}]}`, i, i, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("STELLA-NIGHT-%04d.json", i)), []byte(rec), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

// nightly is one night of a series: its full kit and, after the first
// night, its delta from the night before.
type nightly struct {
	full, delta, digest string
}

// buildSeries builds nights 1..n: night 1 a full kit, each later night a
// full kit and its delta in one build. extra goes to every build.
func (e *env) buildSeries(n int, extra ...string) []nightly {
	e.t.Helper()
	var out []nightly
	for i := 1; i <= n; i++ {
		args := []string{"ouk", "build", "--version", fmt.Sprintf("night-%02d", i), "--sequence", fmt.Sprint(i),
			"--feed", "osv=" + e.nightFeed(i), "--key", e.key, "--format", "json"}
		args = append(args, extra...)
		night := nightly{full: filepath.Join(e.dir, fmt.Sprintf("night-%02d.tar.zst", i))}
		if i == 1 {
			args = append(args, "-o", night.full)
		} else {
			night.delta = filepath.Join(e.dir, fmt.Sprintf("night-%02d.delta.tar.zst", i))
			args = append(args, "--base", out[i-2].full, "--delta", "-o", night.delta)
		}
		var res struct {
			Digest string `json:"digest"`
			Output string `json:"output"`
			Delta  *struct {
				Digest string `json:"digest"`
				Output string `json:"output"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(e.must(args...)), &res); err != nil {
			e.t.Fatal(err)
		}
		if res.Output != night.full {
			e.t.Fatalf("night %d: full kit written to %s, want %s", i, res.Output, night.full)
		}
		if i > 1 && (res.Delta == nil || res.Delta.Digest != res.Digest || res.Delta.Output != night.delta) {
			e.t.Fatalf("night %d: delta %+v does not match full kit %s", i, res.Delta, res.Digest)
		}
		night.digest = res.Digest
		out = append(out, night)
	}
	return out
}

// importJSON imports a kit and returns the parsed result.
func (e *env) importJSON(kit string) importer.Result {
	e.t.Helper()
	var res importer.Result
	if err := json.Unmarshal([]byte(e.must("ouk", "import", "--key", e.pub, "-o", "json", kit)), &res); err != nil {
		e.t.Fatal(err)
	}
	return res
}

// storeBlobs lists the digests the store holds, opening it directly.
func (e *env) storeBlobs() []string {
	e.t.Helper()
	s, err := cas.Open(filepath.Join(e.store, "db"), cas.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	var out []string
	err = s.Blobs(context.Background(), func(b cas.BlobInfo) error {
		out = append(out, b.Digest.String())
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestDeltaActivatesFullBundleDigest(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)

	e.importJSON(series[0].full)
	res := e.importJSON(series[1].delta)
	if res.Kind != "delta" || res.BaseDigest != series[0].digest {
		t.Errorf("delta import reports kind %q base %q, want delta of %s", res.Kind, res.BaseDigest, series[0].digest)
	}
	st := e.status()
	if st.Active == nil || st.Active.Digest != series[1].digest || st.Active.Version != "night-02" {
		t.Fatalf("after the delta, active kit is %+v; want night-02 %s", st.Active, series[1].digest)
	}

	full := newEnvWithKeys(t, e)
	full.importJSON(series[1].full)
	if got := full.activeDigest(); got != series[1].digest {
		t.Fatalf("full import activates %s, delta import %s", got, series[1].digest)
	}
	for _, id := range []string{"STELLA-DEMO-2026-0001", "STELLA-NIGHT-0002"} {
		a := e.must("db", "lookup", "-o", "json", id)
		b := full.must("db", "lookup", "-o", "json", id)
		if a != b {
			t.Errorf("lookup %s differs between delta and full import:\n%s\n%s", id, a, b)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// newEnvWithKeys returns a fresh store that trusts the keys of e.
func newEnvWithKeys(t *testing.T, e *env) *env {
	dir := t.TempDir()
	return &env{t: t, dir: dir, store: filepath.Join(dir, "store"), key: e.key, pub: e.pub}
}

func TestDeltaCommandMatchesBuildDelta(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	out := filepath.Join(e.dir, "cmd.delta.tar")
	var res struct {
		Digest       string `json:"digest"`
		BaseDigest   string `json:"baseDigest"`
		BlobsOmitted int    `json:"blobsOmitted"`
	}
	raw := e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", out, "--key", e.key, "--format", "json")
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatal(err)
	}
	if res.Digest != series[1].digest || res.BaseDigest != series[0].digest {
		t.Errorf("delta names %s from %s; want %s from %s", res.Digest, res.BaseDigest, series[1].digest, series[0].digest)
	}
	if res.BlobsOmitted == 0 {
		t.Errorf("delta omits no blob, but the nights share DB layers")
	}

	e.importJSON(series[0].full)
	// The base may also be named by its digest in the store.
	fromStore := filepath.Join(e.dir, "store.delta.tar.gz")
	e.must("ouk", "delta", "--from", series[0].digest, "--to", series[1].full, "-o", fromStore, "--key", e.key)
	e.importJSON(fromStore)
	if got := e.activeDigest(); got != series[1].digest {
		t.Fatalf("active after delta from a stored base = %s, want %s", got, series[1].digest)
	}
}

func TestDeltaMissingBaseRejected(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)

	check := func(t *testing.T, delta string) {
		before := e.status()
		blobs := e.storeBlobs()
		r := e.run("ouk", "import", "--key", e.pub, delta)
		if r.code == 0 {
			t.Fatalf("delta import without its base succeeded:\n%s", r.stdout)
		}
		for _, want := range []string{"night-01", series[0].digest, "import kit night-01 or its delta first", "delta base missing"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.stderr)
			}
		}
		// The store's disk usage may change as Pebble compacts; the
		// active kit and the blobs may not.
		after := e.status()
		if b, a := mustJSON(t, before.Active), mustJSON(t, after.Active); a != b {
			t.Errorf("active kit changed:\nbefore %s\nafter %s", b, a)
		}
		if after := e.storeBlobs(); !slices.Equal(after, blobs) {
			t.Errorf("store blobs changed: %d before, %d after", len(blobs), len(after))
		}
	}
	t.Run("empty store", func(t *testing.T) { check(t, series[1].delta) })
	t.Run("other kit active", func(t *testing.T) {
		e.importJSON(e.buildKit("other.tar.zst", "--version", "other", "--sequence", "1"))
		check(t, series[1].delta)
	})
	t.Run("base blob removed", func(t *testing.T) {
		e.importJSON(series[0].full)
		// The other kit active again: night 1's layers are not protected.
		// Its sequence is below night 2's, because import reports a delta
		// older than the active kit as a downgrade.
		e.importJSON(filepath.Join(e.dir, "other.tar.zst"))
		e.must("ouk", "gc", "--keep", "0")
		check(t, series[1].delta)
	})
}

func TestFullKitStoresOnlyMissingBlobs(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)

	fresh := newEnvWithKeys(t, e)
	all := fresh.importJSON(series[1].full)

	e.importJSON(series[0].full)
	var rep inspectReport
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", series[1].full)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Blobs.InStore == 0 {
		t.Fatalf("inspect finds none of night 2's blobs in a store holding night 1")
	}
	res := e.importJSON(series[1].full)
	if res.BlobsStored != all.BlobsStored-rep.Blobs.InStore {
		t.Errorf("stored %d blobs; a fresh store took %d and %d were present", res.BlobsStored, all.BlobsStored, rep.Blobs.InStore)
	}
	if res.BytesStored != all.BytesStored-rep.Blobs.InStoreBytes {
		t.Errorf("stored %d bytes; a fresh store took %d and %d were present", res.BytesStored, all.BytesStored, rep.Blobs.InStoreBytes)
	}
	if res.BlobsSkipped < rep.Blobs.InStore {
		t.Errorf("skipped %d blobs, want at least %d", res.BlobsSkipped, rep.Blobs.InStore)
	}
}

func TestInspectDelta(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	inspect := func() inspectReport {
		var rep inspectReport
		raw := e.must("ouk", "inspect", "--key", e.pub, "-o", "json", series[1].delta)
		if err := json.Unmarshal([]byte(raw), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := inspect()
	if rep.Kind != "delta" || rep.Base == nil || rep.Base.Digest.String() != series[0].digest || rep.Base.Version != "night-01" {
		t.Errorf("inspect: kind %q base %+v", rep.Kind, rep.Base)
	}
	if rep.Version != "night-02" || rep.Sequence != 2 || rep.Digest != series[1].digest {
		t.Errorf("inspect: version %q sequence %d digest %s", rep.Version, rep.Sequence, rep.Digest)
	}
	if len(rep.Signatures) != 2 {
		t.Fatalf("inspect lists %d signatures, want the bundle index's and the delta manifest's", len(rep.Signatures))
	}
	for _, s := range rep.Signatures {
		if !s.Verified {
			t.Errorf("signature of the %s not verified: %s", s.Subject, s.Reason)
		}
	}
	records := 0
	for _, l := range rep.DBLayers {
		records += l.Records
	}
	if len(rep.DBLayers) < 2 || records == 0 {
		t.Errorf("inspect lists %d DB layers with %d records", len(rep.DBLayers), records)
	}
	if rep.Store.Status != "absent" || rep.Blobs.Missing == 0 {
		t.Errorf("before import: store %q, %d blobs in neither kit nor store", rep.Store.Status, rep.Blobs.Missing)
	}

	e.importJSON(series[0].full)
	rep = inspect()
	if rep.Store.Status != "open" || rep.Blobs.Missing != 0 || rep.Blobs.InStore == 0 {
		t.Errorf("after base import: store %q, %d in store, %d missing", rep.Store.Status, rep.Blobs.InStore, rep.Blobs.Missing)
	}
	// The delta's config and manifests that the base shares are in both.
	if b := rep.Blobs; b.InBoth == 0 || b.InKit+b.InStore-b.InBoth+b.Missing != b.Count {
		t.Errorf("after base import: %d blobs, %d in the kit, %d in the store, %d in both, %d missing: the parts do not add up",
			b.Count, b.InKit, b.InStore, b.InBoth, b.Missing)
	}

	s, err := cas.Open(filepath.Join(e.store, "db"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep = inspect()
	if rep.Store.Status != "in use" || rep.Version != "night-02" {
		t.Errorf("with the store locked: status %q, version %q", rep.Store.Status, rep.Version)
	}
}

func TestWatchOnceAppliesWeekOfDeltas(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(8)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	link := func(src string) {
		if err := os.Link(src, filepath.Join(drop, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
	}
	// Night 1 in full and nights 2 to 8 as deltas; the names do not sort
	// in sequence order, so the order comes from the kits.
	link(series[0].full)
	for _, n := range series[1:] {
		link(n.delta)
	}
	if err := os.Rename(filepath.Join(drop, "night-01.tar.zst"), filepath.Join(drop, "z-night-01.tar.zst")); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[7].digest {
		t.Fatalf("after watch, active %s; want night 8 %s", got, series[7].digest)
	}
	if n := strings.Count(r.stderr, `msg="kit imported"`); n != 8 {
		t.Errorf("watch logged %d imports, want 8:\n%s", n, r.stderr)
	}
	var hist []struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "history", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	for i, h := range hist { // newest first
		if want := fmt.Sprintf("night-%02d", 8-i); i < 8 && h.Version != want {
			t.Errorf("history[%d] = %s, want %s", i, h.Version, want)
		}
	}

	// The same series ends on the bundle digest of night 8 imported in full.
	full := newEnvWithKeys(t, e)
	full.importJSON(series[7].full)
	if got := full.activeDigest(); got != series[7].digest {
		t.Errorf("night 8 in full activates %s, the series %s", got, series[7].digest)
	}

	// A second round skips everything.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("second round: exit %d\n%s", r.code, r.stderr)
	}
}

func TestWatchRemembersRejection(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	// Night 3's delta without night 2: its base is missing.
	for _, src := range []string{series[0].full, series[2].delta} {
		if err := os.Link(src, filepath.Join(drop, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
	}
	rejected := filepath.Join(drop, filepath.Base(series[2].delta))

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code == 0 {
		t.Fatalf("watch --once with a rejected delta exited 0\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit rejected; left in place"`) || !strings.Contains(r.stderr, series[2].digest) {
		t.Errorf("rejection not logged with the digest:\n%s", r.stderr)
	}
	if _, err := os.Stat(rejected); err != nil {
		t.Errorf("rejected delta was not left in place: %v", err)
	}
	note, ok := watch.ReadNote(rejected)
	if !ok || !strings.Contains(note.Reason, "night-02") {
		t.Fatalf("rejection note %+v (found %v) does not name the base", note, ok)
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("active %s, want night 1", got)
	}

	// Not retried while nothing changed.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code == 0 || strings.Contains(r.stderr, "kit rejected") || strings.Contains(r.stderr, "retrying") {
		t.Errorf("second round retried the rejected delta: exit %d\n%s", r.code, r.stderr)
	}

	// Once night 2 is dropped, the active kit changes and the delta is retried.
	if err := os.Link(series[1].delta, filepath.Join(drop, filepath.Base(series[1].delta))); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 || !strings.Contains(r.stderr, "retrying rejected kit") {
		t.Errorf("third round: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[2].digest {
		t.Errorf("active %s, want night 3 %s", got, series[2].digest)
	}
	if _, ok := watch.ReadNote(rejected); ok {
		t.Errorf("rejection note kept after the delta was imported")
	}
}
