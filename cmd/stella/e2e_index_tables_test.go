package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
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

	tables := 0
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
		if wantInKit && rep.IndexTables != nil {
			tables = rep.IndexTables.Tables
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
	// Imported again, the kit reads nothing, and the tables, never stored,
	// are not counted as blobs already present.
	again := full.importJSON(series[2].full)
	if again.BlobsSkipped != res.BlobsStored {
		t.Errorf("second import skipped %d blobs, want the %d the first one stored", again.BlobsSkipped, res.BlobsStored)
	}
	if again.TablesSkipped != tables {
		t.Errorf("second import skipped %d tables, want %d", again.TablesSkipped, tables)
	}
	// The manifest that lists the tables is read and dropped: gc finds
	// nothing to remove.
	var gc struct {
		Removed int `json:"removed"`
	}
	if err := json.Unmarshal([]byte(full.must("ouk", "gc", "--dry-run", "-o", "json")), &gc); err != nil || gc.Removed != 0 {
		t.Errorf("gc --dry-run right after the import would remove %d blobs (%v), want 0", gc.Removed, err)
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

// indexTablesOf returns the pre-built index tables that a plain kit tar
// lists, and fails the test when it lists none.
func indexTablesOf(t *testing.T, kit string) []ocispec.Descriptor {
	t.Helper()
	k := &kitParts{entries: readTar(t, kit)}
	for _, d := range k.index(t).Manifests {
		if d.ArtifactType != oci.ArtifactTypeDBIndex {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(k.blob(t, d.Digest.String()), &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) > 0 {
			return m.Layers
		}
	}
	t.Fatal("the kit lists no pre-built index tables")
	return nil
}

func TestIndexTablesNotPushed(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--index-tables", "--version", "1.0.0", "--sequence", "1")

	tables := indexTablesOf(t, kit)

	e.must("ouk", "push", "--plain-http", kit, reg.host+"/ouk:1.0.0")
	for _, d := range tables {
		resp, err := http.Head("http://" + reg.host + "/v2/ouk/blobs/" + d.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("registry has index table %s after the push (status %d); tables stay in the file", d.Digest, resp.StatusCode)
		}
	}

	res := decodeImport(t, e.must("ouk", "import", "--key", e.pub, "--plain-http", "-o", "json", "oci://"+reg.host+"/ouk:1.0.0"))
	if res.LayersIndexed == 0 || res.LayersFromTables != 0 {
		t.Fatalf("import from the registry indexed %d layers, %d from tables; want all from their records",
			res.LayersIndexed, res.LayersFromTables)
	}
}

func TestIndexTablesMissingTableWarns(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--index-tables", "--version", "1.0.0", "--sequence", "1")
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, kit, dir)
	table := indexTablesOf(t, kit)[0]
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", table.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}

	out := e.must("ouk", "inspect", dir)
	if !strings.Contains(out, "pre-built lookup index tables in the kit") {
		t.Errorf("inspect of a kit missing a table does not say how many it carries:\n%s", out)
	}
	res := e.importJSON(dir)
	if res.LayersFromTables != res.LayersIndexed-1 {
		t.Errorf("import indexed %d layers, %d from tables; want all but the one missing a table", res.LayersIndexed, res.LayersFromTables)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), table.Annotations[oci.AnnotationIndexLayer]) {
		t.Errorf("import warnings %q do not name the layer whose table is missing", res.Warnings)
	}
}

func TestIndexTablesDeltaOverOtherBuild(t *testing.T) {
	e := newEnv(t)
	withTables := e.buildSeries(2, "--index-tables")
	plain := newEnvWithKeys(t, e)
	plainSeries := plain.buildSeries(2)

	e.importJSON(plainSeries[0].full)
	r := e.run("ouk", "import", "--key", e.pub, withTables[1].delta)
	if r.code != exitRejected {
		t.Fatalf("delta over a kit built without tables: exit %d, want %d: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, plainSeries[0].digest) || !strings.Contains(r.stderr, "--index-tables") {
		t.Errorf("error does not name the active kit's digest and the likely cause:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "Import the full kit") {
		t.Errorf("error does not name the full kit to import:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "stella ouk delta --from") {
		t.Errorf("error does not name stella ouk delta --from:\n%s", r.stderr)
	}
	if got := e.activeDigest(); got != plainSeries[0].digest {
		t.Errorf("after the rejected delta, active kit is %s, want %s", got, plainSeries[0].digest)
	}
}

func TestIndexTablesNotListedAsSignatures(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--index-tables", "--version", "1.0.0", "--sequence", "1")
	_, otherPub := e.keygen("other")
	r := e.run("ouk", "import", "--key", otherPub, kit)
	if r.code != exitRejected {
		t.Fatalf("import with another key: exit %d, want %d: %s", r.code, exitRejected, r.stderr)
	}
	if strings.Contains(r.stderr, oci.ArtifactTypeDBIndex) {
		t.Errorf("the signature error lists the index tables manifest as a signature:\n%s", r.stderr)
	}
}

func TestBuildReportsIndexTables(t *testing.T) {
	e := newEnv(t)
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	for _, tables := range []bool{false, true} {
		args := []string{"ouk", "build", "-o", filepath.Join(e.dir, fmt.Sprintf("kit-%v.tar", tables)),
			"--feed", "osv=" + filepath.Join(feeds, "osv"), "--key", e.key, "--format", "json"}
		if tables {
			args = append(args, "--index-tables")
		}
		var res struct {
			Images      []string `json:"images"`
			IndexTables *struct {
				Tables int   `json:"tables"`
				Bytes  int64 `json:"bytes"`
			} `json:"indexTables"`
		}
		out := e.must(args...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("build JSON: %v\n%s", err, out)
		}
		if res.Images == nil {
			t.Errorf("build JSON gives images as null for a kit without images:\n%s", out)
		}
		got := res.IndexTables != nil && res.IndexTables.Tables > 0 && res.IndexTables.Bytes > 0
		if got != tables {
			t.Errorf("build with index tables %v reports %+v", tables, res.IndexTables)
		}
	}
	out := e.must("ouk", "build", "-o", filepath.Join(e.dir, "text.tar"),
		"--feed", "osv="+filepath.Join(feeds, "osv"), "--key", e.key, "--index-tables")
	if !strings.Contains(out, "Index tables: ") {
		t.Errorf("build text output does not report the index tables:\n%s", out)
	}
}

func TestWatchLogsImportWarning(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--index-tables", "--version", "1.0.0", "--sequence", "1")
	drop := filepath.Join(e.dir, "drop")
	dir := filepath.Join(drop, "kit-layout")
	untarKit(t, kit, dir)
	table := indexTablesOf(t, kit)[0]
	layer := table.Annotations[oci.AnnotationIndexLayer]
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", table.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	if e.activeDigest() == "" {
		t.Fatal("watch --once did not import the kit")
	}
	if !strings.Contains(r.stderr, "level=WARN") || !strings.Contains(r.stderr, layer) {
		t.Errorf("watch log does not warn about the missing table of layer %s:\n%s", layer, r.stderr)
	}

	// With -v as well, the warning appears once.
	if err := os.RemoveAll(e.store); err != nil {
		t.Fatal(err)
	}
	r = e.run("-v", "ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch -v --once: exit %d\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "pre-built index tables of DB layer "+layer); n != 1 {
		t.Errorf("watch -v logged the missing-table warning %d times, want once:\n%s", n, r.stderr)
	}
}
