package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

// sbomPackage is one package of the SBOMs the DB tests write, with the IDs
// a scan must report for it.
type sbomPackage struct {
	name, version, purl, cpe string
	want                     []string // merged record IDs; empty for a fixed version
}

// samplePackages are packages of the sample records at an affected and at
// the first fixed version, one package known only by CPE, and one with
// neither purl nor CPE, which a scan must list as skipped.
var samplePackages = []sbomPackage{
	{"lodash", "4.17.20", "pkg:npm/lodash@4.17.20", "", []string{"CVE-2021-23337"}},
	{"lodash", "4.17.21", "pkg:npm/lodash@4.17.21", "", nil},
	{"lodash-es", "4.17.15", "pkg:npm/lodash-es@4.17.15", "", []string{"CVE-2021-23337"}},
	{"spring-boot", "1.5.9", "pkg:maven/org.springframework.boot/spring-boot@1.5.9", "", []string{"CVE-2018-1196"}},
	{"spring-boot", "1.5.10", "pkg:maven/org.springframework.boot/spring-boot@1.5.10", "", nil},
	{"smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0", "", []string{"CVE-2021-25900"}},
	{"smallvec", "1.6.1", "pkg:cargo/smallvec@1.6.1", "", nil},
	{"sized-chunks", "0.6.2", "pkg:cargo/sized-chunks@0.6.2", "", []string{"CVE-2020-25792"}},
	{"sized-chunks", "0.6.3", "pkg:cargo/sized-chunks@0.6.3", "", nil},
	{"github.com/gin-gonic/gin", "v1.5.0", "pkg:golang/github.com/gin-gonic/gin@v1.5.0", "", []string{"CVE-2020-36567"}},
	{"github.com/gin-gonic/gin", "v1.6.0", "pkg:golang/github.com/gin-gonic/gin@v1.6.0", "", nil},
	{"requests", "2.30.0", "pkg:pypi/requests@2.30.0", "", []string{"CVE-2023-32681"}},
	{"requests", "2.31.0", "pkg:pypi/requests@2.31.0", "", nil},
	{"libwebp", "1.3.1", "", "cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*", []string{"CVE-2023-4863"}},
	{"libwebp", "1.3.2", "", "cpe:2.3:a:webmproject:libwebp:1.3.2:*:*:*:*:*:*:*", nil},
	{"in-house-tool", "3.0", "", "", nil},
}

// sampleFeeds returns the --feed flags of a build from the sample records.
func sampleFeeds(t *testing.T) []string {
	shared := sharedTestdata(t)
	return []string{
		"--feed", "osv=" + filepath.Join(shared, "osv"),
		"--feed", "ghsa=" + filepath.Join(shared, "ghsa"),
		"--feed", "nvd=" + filepath.Join(shared, "nvd"),
	}
}

// sampleDBEnv builds a kit from the sample records, imports it and returns
// the environment and the kit's path.
func sampleDBEnv(t *testing.T) (*env, string) {
	t.Helper()
	feeds := sampleFeeds(t)
	e := newEnv(t)
	kit := filepath.Join(e.dir, "kit1.tar.zst")
	e.must(append([]string{"ouk", "build", "-o", kit, "--key", e.key, "--version", "1.0.0", "--sequence", "1"}, feeds...)...)
	e.must("ouk", "import", "--key", e.pub, kit)
	return e, kit
}

func (e *env) lookupJSON(args ...string) []vulndb.Record {
	e.t.Helper()
	out := e.must(append([]string{"db", "lookup", "-o", "json"}, args...)...)
	var recs []vulndb.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		e.t.Fatalf("decoding db lookup %v output: %v\n%s", args, err, out)
	}
	return recs
}

func recordIDs(recs []vulndb.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func (e *env) dbStatus() vulndb.Status {
	e.t.Helper()
	var st vulndb.Status
	if err := json.Unmarshal([]byte(e.must("db", "status", "-o", "json")), &st); err != nil {
		e.t.Fatalf("decoding db status: %v", err)
	}
	return st
}

func TestDBLookupSampleKit(t *testing.T) {
	e, _ := sampleDBEnv(t)

	for _, id := range []string{"GHSA-35jh-r3h4-6jhm", "CVE-2021-23337"} {
		recs := e.lookupJSON(id)
		if got := recordIDs(recs); !slices.Equal(got, []string{"CVE-2021-23337"}) {
			t.Fatalf("db lookup %s = %v, want the one merged record CVE-2021-23337", id, got)
		}
		if !slices.Contains(recs[0].Aliases, "GHSA-35jh-r3h4-6jhm") {
			t.Errorf("merged record of %s lacks the GHSA alias: %v", id, recs[0].Aliases)
		}
		feeds := map[string]bool{}
		for _, p := range recs[0].Sources() {
			feeds[p.Feed+"/"+p.ID] = true
		}
		if !feeds["ghsa/GHSA-35jh-r3h4-6jhm"] {
			t.Errorf("merged record of %s lacks the GHSA provenance: %v", id, recs[0].Sources())
		}
	}

	if got := recordIDs(e.lookupJSON("--purl", "pkg:npm/lodash@4.17.20")); !slices.Contains(got, "CVE-2021-23337") {
		t.Errorf("lodash 4.17.20: %v, want CVE-2021-23337", got)
	}
	if got := recordIDs(e.lookupJSON("--purl", "pkg:npm/lodash@4.17.21")); len(got) != 0 {
		t.Errorf("lodash 4.17.21 is the fixed version, but lookup reported %v", got)
	}
	if got := recordIDs(e.lookupJSON("--cpe", "cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*")); !slices.Contains(got, "CVE-2023-4863") {
		t.Errorf("libwebp 1.3.1 by CPE: %v, want CVE-2023-4863", got)
	}
	if got := recordIDs(e.lookupJSON("--cpe", "cpe:2.3:a:webmproject:libwebp:1.3.2:*:*:*:*:*:*:*")); slices.Contains(got, "CVE-2023-4863") {
		t.Errorf("libwebp 1.3.2 is fixed, but lookup by CPE reported %v", got)
	}

	st := e.dbStatus()
	kinds := map[string]bool{}
	for _, s := range st.Sources {
		kinds[s.Kind] = true
		if s.Snapshot.IsZero() {
			t.Errorf("source %s has no snapshot time", s.Kind)
		}
	}
	for _, k := range []string{"osv", "ghsa", "nvd"} {
		if !kinds[k] {
			t.Errorf("db status lacks source %s: %+v", k, st.Sources)
		}
	}
	for _, eco := range []string{"npm", "Maven", "crates.io", "Go", "PyPI", "Debian", "Alpine"} {
		if st.Ecosystems[eco] == 0 {
			t.Errorf("db status counts no %s records: %v", eco, st.Ecosystems)
		}
	}
	if len(st.Layers) == 0 || st.Records == 0 || st.Created.IsZero() {
		t.Errorf("db status lacks layers, records or build time: %+v", st)
	}
	text := e.must("db", "status")
	for _, s := range []string{"SOURCE", "ECOSYSTEM", "LAYER", "nvd"} {
		if !strings.Contains(text, s) {
			t.Errorf("db status text lacks %q:\n%s", s, text)
		}
	}
}

// writeSPDX writes pkgs as an SPDX 2.3 JSON document.
func writeSPDX(t *testing.T, path string, pkgs []sbomPackage) {
	t.Helper()
	var list []map[string]any
	for i, p := range pkgs {
		var refs []map[string]string
		if p.purl != "" {
			refs = append(refs, map[string]string{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl})
		}
		if p.cpe != "" {
			refs = append(refs, map[string]string{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": p.cpe})
		}
		pkg := map[string]any{"SPDXID": fmt.Sprintf("SPDXRef-Package-%d", i), "name": p.name,
			"versionInfo": p.version, "downloadLocation": "NOASSERTION"}
		if refs != nil {
			pkg["externalRefs"] = refs
		}
		list = append(list, pkg)
	}
	doc := map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": "sample-app", "documentNamespace": "https://stella-ops.org/spdx/sample-app",
		"creationInfo": map[string]any{"created": "2026-01-01T00:00:00Z", "creators": []string{"Tool: stella-tests"}},
		"packages":     list,
	}
	writeJSONFile(t, path, doc)
}

// writeCycloneDX writes pkgs as a CycloneDX 1.5 JSON BOM.
func writeCycloneDX(t *testing.T, path string, pkgs []sbomPackage) {
	t.Helper()
	writeCycloneDXVersion(t, path, "1.5", pkgs)
}

// writeCycloneDXVersion writes pkgs as a CycloneDX JSON BOM labelled with
// specVersion. Its components use only fields that every version from 1.2
// on defines, so the same packages can be written for any version.
func writeCycloneDXVersion(t *testing.T, path, specVersion string, pkgs []sbomPackage) {
	t.Helper()
	var comps []map[string]any
	for i, p := range pkgs {
		c := map[string]any{"type": "library", "bom-ref": fmt.Sprintf("pkg-%d", i), "name": p.name, "version": p.version}
		if p.purl != "" {
			c["purl"] = p.purl
		}
		if p.cpe != "" {
			c["cpe"] = p.cpe
		}
		comps = append(comps, c)
	}
	writeJSONFile(t, path, map[string]any{"bomFormat": "CycloneDX", "specVersion": specVersion, "version": 1, "components": comps})
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// findingsByPackage groups a scan's finding IDs by "name@version".
func findingsByPackage(rep scanReport) map[string][]string {
	out := map[string][]string{}
	for _, f := range rep.Findings {
		k := f.Package + "@" + f.Version
		out[k] = append(out[k], f.ID)
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func TestScanSampleSBOMs(t *testing.T) {
	e, _ := sampleDBEnv(t)
	spdx := filepath.Join(e.dir, "app.spdx.json")
	cdx := filepath.Join(e.dir, "app.cdx.json")
	writeSPDX(t, spdx, samplePackages)
	writeCycloneDX(t, cdx, samplePackages)

	for _, path := range []string{spdx, cdx} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rep, _ := e.scan(path)
			if rep.Packages != len(samplePackages) {
				t.Errorf("scanned %d packages, want %d", rep.Packages, len(samplePackages))
			}
			got := findingsByPackage(rep)
			for _, p := range samplePackages {
				k := p.name + "@" + p.version
				want := append([]string(nil), p.want...)
				sort.Strings(want)
				if !slices.Equal(got[k], want) {
					t.Errorf("%s: findings %v, want %v", k, got[k], want)
				}
			}
			if len(rep.Skipped) != 1 || rep.Skipped[0].Package != "in-house-tool" {
				t.Errorf("skipped = %+v, want only in-house-tool", rep.Skipped)
			}
		})
	}
}

func TestScanCycloneDX17MatchesCycloneDX16(t *testing.T) {
	e, _ := sampleDBEnv(t)
	reports := map[string]scanReport{}
	for _, version := range []string{"1.6", "1.7"} {
		path := filepath.Join(e.dir, "app-"+version+".cdx.json")
		writeCycloneDXVersion(t, path, version, samplePackages)
		rep, _ := e.scan(path)
		if want := "cyclonedx-" + version; rep.Format != want {
			t.Errorf("CycloneDX %s: format %q, want %q", version, rep.Format, want)
		}
		reports[version] = rep
	}
	report16, report17 := reports["1.6"], reports["1.7"]

	// The 1.6 scan must find what the sample packages list, so that equal
	// reports cannot come from two scans that both found nothing.
	got := findingsByPackage(report16)
	for _, p := range samplePackages {
		k := p.name + "@" + p.version
		want := append([]string(nil), p.want...)
		sort.Strings(want)
		if !slices.Equal(got[k], want) {
			t.Errorf("CycloneDX 1.6 %s: findings %v, want %v", k, got[k], want)
		}
	}

	if report17.Packages != report16.Packages {
		t.Errorf("CycloneDX 1.7 scanned %d packages, 1.6 scanned %d", report17.Packages, report16.Packages)
	}
	if !reflect.DeepEqual(report17.Findings, report16.Findings) {
		t.Errorf("CycloneDX 1.7 findings differ from 1.6:\n1.7: %+v\n1.6: %+v", report17.Findings, report16.Findings)
	}
	if !reflect.DeepEqual(report17.Skipped, report16.Skipped) {
		t.Errorf("CycloneDX 1.7 skipped %+v, 1.6 skipped %+v", report17.Skipped, report16.Skipped)
	}
	if !reflect.DeepEqual(report17.Notes, report16.Notes) {
		t.Errorf("CycloneDX 1.7 notes %+v, 1.6 notes %+v", report17.Notes, report16.Notes)
	}
}

func TestScanRejectsCycloneDX18(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "app-1.8.cdx.json")
	writeCycloneDXVersion(t, path, "1.8", samplePackages)

	r := e.run("scan", "--sbom", path)
	if r.code != exitError {
		t.Errorf("scan of a CycloneDX 1.8 SBOM: exit %d, want %d; stderr: %s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, `specVersion "1.8"`) {
		t.Errorf("message does not name the specVersion found: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "(1.2, 1.3, 1.4, 1.5, 1.6, 1.7)") {
		t.Errorf("message does not list the accepted versions: %s", r.stderr)
	}
}

func TestBuildOnBaseAddsOneLayer(t *testing.T) {
	e, kit1 := sampleDBEnv(t)
	before := e.dbStatus()

	// The next night's feeds: the sample records plus one new advisory.
	extra := filepath.Join(e.dir, "extra")
	if err := os.MkdirAll(extra, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSONFile(t, filepath.Join(extra, "GHSA-2222-3333-4444.json"), map[string]any{
		"schema_version": "1.6.0", "id": "GHSA-2222-3333-4444", "modified": "2026-01-02T00:00:00Z",
		"published": "2026-01-02T00:00:00Z", "aliases": []string{"CVE-2026-0001"}, "summary": "Path traversal in left-pad",
		"affected": []any{map[string]any{"package": map[string]string{"ecosystem": "npm", "name": "left-pad"},
			"ranges": []any{map[string]any{"type": "ECOSYSTEM", "events": []any{
				map[string]string{"introduced": "0"}, map[string]string{"fixed": "1.3.1"}}}}}},
	})
	kit2 := filepath.Join(e.dir, "kit2.tar.zst")
	args := []string{"ouk", "build", "-o", kit2, "--key", e.key, "--version", "2.0.0", "--sequence", "2", "--base", kit1,
		"--feed", "ghsa=" + extra}
	e.must(append(args, sampleFeeds(t)...)...)
	e.must("ouk", "import", "--key", e.pub, kit2)
	after := e.dbStatus()

	if len(after.Layers) != len(before.Layers)+1 {
		t.Fatalf("kit on a base has %d DB layers, want %d (the base's plus one)", len(after.Layers), len(before.Layers)+1)
	}
	for i, l := range before.Layers {
		if after.Layers[i].Digest != l.Digest {
			t.Errorf("layer %d changed from %s to %s; base layers must be reused unchanged", i, l.Digest, after.Layers[i].Digest)
		}
	}
	top := after.Layers[len(after.Layers)-1]
	if top.Kind != vulndb.LayerOverlay || top.Records != 1 {
		t.Errorf("new layer is %s with %d records, want an overlay with the one new record", top.Kind, top.Records)
	}
	if got := recordIDs(e.lookupJSON("--purl", "pkg:npm/left-pad@1.3.0")); !slices.Equal(got, []string{"CVE-2026-0001"}) {
		t.Errorf("left-pad 1.3.0 after the overlay: %v, want CVE-2026-0001", got)
	}
	if got := recordIDs(e.lookupJSON("GHSA-35jh-r3h4-6jhm")); !slices.Equal(got, []string{"CVE-2021-23337"}) {
		t.Errorf("base record after the overlay: %v", got)
	}
}

// osvScannerDB lays the sample OSV and GHSA records out as osv-scanner's
// offline database: DIR/osv-scanner/ECOSYSTEM/all.zip.
func osvScannerDB(t *testing.T, dir string) {
	t.Helper()
	shared := sharedTestdata(t)
	byEco := map[string]map[string][]byte{}
	for _, sub := range []string{"osv", "ghsa"} {
		files, err := filepath.Glob(filepath.Join(shared, sub, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r vulndb.Record
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, a := range r.Affected {
				eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
				if eco == "" {
					continue
				}
				if byEco[eco] == nil {
					byEco[eco] = map[string][]byte{}
				}
				byEco[eco][filepath.Base(f)] = raw
			}
		}
	}
	for _, eco := range []string{"npm", "Maven", "crates.io", "Go", "PyPI"} {
		p := filepath.Join(dir, "osv-scanner", eco, "all.zip")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		names := make([]string, 0, len(byEco[eco]))
		for n := range byEco[eco] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(byEco[eco][n])
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// osvScannerResult is the part of osv-scanner's JSON output the
// comparison reads.
type osvScannerResult struct {
	Results []struct {
		Packages []struct {
			Package struct {
				Name      string `json:"name"`
				Version   string `json:"version"`
				Ecosystem string `json:"ecosystem"`
			} `json:"package"`
			Vulnerabilities []struct {
				ID      string   `json:"id"`
				Aliases []string `json:"aliases"`
			} `json:"vulnerabilities"`
		} `json:"packages"`
	} `json:"results"`
}

// TestScanMatchesOSVScanner compares stella's findings per package with
// osv-scanner's offline answers on the same records and the same SBOM.
//
// Known, explained differences, which the comparison allows for:
//   - stella merges a GHSA or OSV record with its CVE and reports the
//     merged record under the CVE ID, while osv-scanner reports the source
//     records (GHSA-..., RUSTSEC-..., GO-..., PYSEC-...). The comparison
//     therefore matches alias sets: each osv-scanner ID must be the ID or
//     an alias of a stella finding for the same package, and each stella
//     finding must name at least one osv-scanner ID.
//   - osv-scanner matches by purl only and knows no NVD records, so the
//     CPE-only libwebp packages are left out of its side.
func TestScanMatchesOSVScanner(t *testing.T) {
	osvScanner := toolPath(t, "osv-scanner")
	e, _ := sampleDBEnv(t)

	var purlPkgs []sbomPackage
	for _, p := range samplePackages {
		if p.purl != "" {
			purlPkgs = append(purlPkgs, p)
		}
	}
	sbom := filepath.Join(e.dir, "bom.cdx.json")
	writeCycloneDX(t, sbom, purlPkgs)
	rep, _ := e.scan(sbom)

	cache := filepath.Join(e.dir, "osv-cache")
	osvScannerDB(t, cache)
	cmd := exec.Command(osvScanner, "scan", "source", "--offline", "--offline-vulnerabilities",
		"--format", "json", "-L", sbom)
	cmd.Env = append(offlineEnv(t), "OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="+cache)
	out, err := cmd.Output()
	// osv-scanner exits 1 when it found vulnerabilities.
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("osv-scanner: %v\n%s\n%s", err, out, ee.Stderr)
	}
	var peer osvScannerResult
	if err := json.Unmarshal(out, &peer); err != nil {
		t.Fatalf("decoding osv-scanner output: %v\n%s", err, out)
	}

	// Names for each stella finding: its ID and aliases.
	type key struct{ name, version string }
	stella := map[key][][]string{}
	for _, f := range rep.Findings {
		k := key{f.Package, strings.TrimPrefix(f.Version, "v")}
		stella[k] = append(stella[k], append([]string{f.ID}, f.Aliases...))
	}
	peerIDs := map[key][]string{}
	for _, r := range peer.Results {
		for _, p := range r.Packages {
			k := key{p.Package.Name, strings.TrimPrefix(p.Package.Version, "v")}
			if p.Package.Ecosystem == "Maven" {
				k.name = strings.TrimPrefix(k.name, "org.springframework.boot:")
			}
			for _, v := range p.Vulnerabilities {
				peerIDs[k] = append(peerIDs[k], v.ID)
			}
		}
	}
	t.Logf("osv-scanner findings by package: %v", peerIDs)
	if len(peerIDs) == 0 {
		t.Fatalf("osv-scanner reported no vulnerabilities; its output:\n%s", out)
	}

	for _, p := range purlPkgs {
		k := key{p.name, strings.TrimPrefix(p.version, "v")}
		ours, theirs := stella[k], peerIDs[k]
		for _, id := range theirs {
			if !slices.ContainsFunc(ours, func(names []string) bool { return slices.Contains(names, id) }) {
				t.Errorf("%s@%s: osv-scanner reports %s, which no stella finding names (stella: %v)", p.name, p.version, id, ours)
			}
		}
		for _, names := range ours {
			if !slices.ContainsFunc(theirs, func(id string) bool { return slices.Contains(names, id) }) {
				t.Errorf("%s@%s: stella reports %v, which osv-scanner does not (osv-scanner: %v)", p.name, p.version, names, theirs)
			}
		}
	}
}

// TestScanMatchesListedInvalidVersion checks that a package version which
// its ecosystem's order cannot parse still matches a record that lists
// that exact version, instead of being skipped as invalid.
func TestScanMatchesListedInvalidVersion(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "osv")
	if err := os.MkdirAll(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSONFile(t, filepath.Join(feed, "GHSA-test-tag1-0001.json"), map[string]any{
		"schema_version": "1.6.0", "id": "GHSA-test-tag1-0001", "modified": "2026-01-01T00:00:00Z",
		"summary": "a release published under a tag name",
		"affected": []map[string]any{{
			"package":  map[string]string{"ecosystem": "npm", "name": "tagged-lib"},
			"versions": []string{"nightly-build"},
		}},
	})
	kit := filepath.Join(e.dir, "kit.tar.zst")
	e.must("ouk", "build", "-o", kit, "--key", e.key, "--version", "1.0.0", "--sequence", "1", "--feed", "osv="+feed)
	e.must("ouk", "import", "--key", e.pub, kit)

	sbom := filepath.Join(e.dir, "app.cdx.json")
	writeCycloneDX(t, sbom, []sbomPackage{
		{name: "tagged-lib", version: "nightly-build", purl: "pkg:npm/tagged-lib@nightly-build"},
		{name: "tagged-lib", version: "other-build", purl: "pkg:npm/tagged-lib@other-build"},
		{name: "nosuch", version: "notaversion", purl: "pkg:npm/nosuch@notaversion"},
	})
	rep, _ := e.scan(sbom)
	got := findingsByPackage(rep)
	if ids := got["tagged-lib@nightly-build"]; !slices.Equal(ids, []string{"GHSA-test-tag1-0001"}) {
		t.Errorf("findings of tagged-lib@nightly-build = %v, want GHSA-test-tag1-0001", ids)
	}
	// A version that is neither valid nor listed is skipped with the
	// reason, whether or not a record names the package.
	if len(rep.Skipped) != 2 {
		t.Fatalf("skipped = %+v, want other-build and notaversion", rep.Skipped)
	}
	for _, s := range rep.Skipped {
		if !strings.Contains(s.Reason, "not a valid npm version") {
			t.Errorf("skipped %s@%s for %q, want: not a valid npm version", s.Package, s.Version, s.Reason)
		}
	}
	// An empty ID is a command-line error.
	if r := e.run("db", "lookup", ""); r.code != 2 {
		t.Errorf("db lookup \"\": exit %d, want 2: %s", r.code, r.stderr)
	}
}

// TestDBLookupTextShowsCPEAndSources checks that the text output of a
// lookup shows an NVD record's CPE criteria and every record's sources,
// which otherwise only -o json shows.
func TestDBLookupTextShowsCPEAndSources(t *testing.T) {
	e, _ := sampleDBEnv(t)
	out := e.must("db", "lookup", "CVE-2023-4863")
	for _, want := range []string{"cpe        cpe:2.3:a:webmproject:libwebp:", "source     nvd CVE-2023-4863", "details    "} {
		if !strings.Contains(out, want) {
			t.Errorf("db lookup CVE-2023-4863 lacks %q:\n%s", want, out)
		}
	}
	out = e.must("db", "lookup", "GHSA-35jh-r3h4-6jhm")
	if !strings.Contains(out, "source     ghsa GHSA-35jh-r3h4-6jhm") {
		t.Errorf("db lookup GHSA-35jh-r3h4-6jhm lacks its ghsa source:\n%s", out)
	}
}

func TestScanSkipsExternalVersionRange(t *testing.T) {
	e, _ := scanEnv(t)
	path := filepath.Join(e.dir, "external.cdx.json")
	writeJSONFile(t, path, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.7", "version": 1,
		"components": []map[string]any{
			{"type": "library", "bom-ref": "external-untar", "name": "stella-demo-untar", "isExternal": true,
				"versionRange": "vers:npm/>=9.0.0", "purl": "pkg:npm/stella-demo-untar"},
			{"type": "library", "bom-ref": "untar", "name": "stella-demo-untar", "version": "2.3.0",
				"purl": "pkg:npm/stella-demo-untar@2.3.0"},
		}})
	rep, _ := e.scan(path)
	for _, f := range rep.Findings {
		if f.Version == "" {
			t.Errorf("the external component without a version matched %s", f.ID)
		}
	}
	if len(rep.Findings) == 0 {
		t.Errorf("the installed stella-demo-untar 2.3.0 has no findings, so the check above proves nothing")
	}
	if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Reason, `"vers:npm/>=9.0.0"`) {
		t.Errorf("skipped %+v, want the external component with its version range", rep.Skipped)
	}
}

func TestScanUsesSBOMVersionForVersionlessPURL(t *testing.T) {
	e, _ := scanEnv(t)
	path := filepath.Join(e.dir, "versionless.cdx.json")
	writeJSONFile(t, path, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
		"components": []map[string]any{
			{"type": "library", "bom-ref": "affected", "name": "stella-demo-untar", "version": "2.3.0",
				"purl": "pkg:npm/stella-demo-untar"},
			{"type": "library", "bom-ref": "fixed", "name": "stella-demo-untar", "version": "2.4.1",
				"purl": "pkg:npm/stella-demo-untar"},
			{"type": "library", "bom-ref": "unknown", "name": "stella-demo-untar",
				"purl": "pkg:npm/stella-demo-untar"},
		}})
	rep, _ := e.scan(path)
	byVersion := map[string][]finding{}
	for _, f := range rep.Findings {
		byVersion[f.Version] = append(byVersion[f.Version], f)
	}
	if len(byVersion["2.3.0"]) == 0 {
		t.Errorf("2.3.0 with a purl without version has no findings: %+v", rep.Findings)
	}
	for _, f := range byVersion["2.3.0"] {
		if f.PossiblyAffected != "" {
			t.Errorf("2.3.0: %s is marked possibly affected: %q", f.ID, f.PossiblyAffected)
		}
	}
	if fixed := byVersion["2.4.1"]; len(fixed) != 0 {
		t.Errorf("the fixed 2.4.1 with a purl without version matched %+v", fixed)
	}
	if len(byVersion[""]) == 0 {
		t.Errorf("the package without any version has no findings: %+v", rep.Findings)
	}
	for _, f := range byVersion[""] {
		if !strings.Contains(f.PossiblyAffected, "gives no version") {
			t.Errorf("without a version, %s is not marked possibly affected: %q", f.ID, f.PossiblyAffected)
		}
	}
}
