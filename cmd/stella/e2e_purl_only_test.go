package main

import (
	"archive/zip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addPURLRecords writes four records to feed. GHSA-test-purl-0001 names a
// scoped npm package and GHSA-test-purl-0002 a Debian 12 package, both only
// by purl. GHSA-test-purl-0003 names npm stella-purl-named with the purl of
// stella-purl-other. GHSA-test-purl-0004 has only a purl of type generic,
// which has no OSV ecosystem.
func addPURLRecords(feed osvFeed) {
	feed.add("GHSA-test-purl-0001", map[string]any{
		"package": map[string]string{"purl": "pkg:npm/%40stella/purl-only@1.0.0"},
		"ranges": []map[string]any{{"type": "SEMVER",
			"events": []map[string]string{event("introduced", "0"), event("fixed", "2.0.0")}}},
	})
	feed.add("GHSA-test-purl-0002", map[string]any{
		"package": map[string]string{"purl": "pkg:deb/debian/stella-purl-deb?distro=debian-12"},
		"ranges": []map[string]any{{"type": "ECOSYSTEM",
			"events": []map[string]string{event("introduced", "0"), event("fixed", "1.2-1")}}},
	})
	feed.add("GHSA-test-purl-0003", map[string]any{
		"package": map[string]string{"ecosystem": "npm", "name": "stella-purl-named", "purl": "pkg:npm/stella-purl-other"},
		"ranges": []map[string]any{{"type": "SEMVER",
			"events": []map[string]string{event("introduced", "0"), event("fixed", "2.0.0")}}},
	})
	feed.add("GHSA-test-purl-0004", map[string]any{
		"package": map[string]string{"purl": "pkg:generic/stella-purl-unknown"},
		"ranges": []map[string]any{{"type": "SEMVER",
			"events": []map[string]string{event("introduced", "0")}}},
	})
}

// TestPURLOnlyPackages builds a kit from records whose affected packages
// are given only by purl, by a purl that names another package than the
// ecosystem and name, or by a purl of an unknown type. It checks the build
// warnings, lookups by purl and ID, and a scan.
func TestPURLOnlyPackages(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	addPURLRecords(feed)
	kit := filepath.Join(e.dir, "kit.tar")
	r := e.run("ouk", "build", "-o", kit, "--key", e.key, "--feed", "ghsa="+feed.dir)
	if r.code != 0 {
		t.Fatalf("ouk build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"purl-mismatch 1 (lookups use the ecosystem and name, not the purl)",
		"unresolved-package 1 (no purl lookup or scan matches those packages)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("build summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"ids=GHSA-test-purl-0003", "ids=GHSA-test-purl-0004",
		"give them an ecosystem and name in the feed copy"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("build stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "GHSA-test-purl-0001") || strings.Contains(r.stderr, "GHSA-test-purl-0002") {
		t.Errorf("build warns about a record whose purl identifies its package:\n%s", r.stderr)
	}
	e.must("ouk", "import", "--key", e.pub, kit)

	cases := []struct {
		purl string
		want []string
	}{
		{"pkg:npm/%40stella/purl-only@1.5.0", []string{"GHSA-test-purl-0001"}},
		{"pkg:npm/%40stella/purl-only@2.0.0", []string{}},
		{"pkg:deb/debian/stella-purl-deb@1.1-1?distro=debian-12", []string{"GHSA-test-purl-0002"}},
		{"pkg:deb/debian/stella-purl-deb@1.1-1?distro=debian-11", []string{}},
		{"pkg:npm/stella-purl-named@1.0.0", []string{"GHSA-test-purl-0003"}},
		{"pkg:npm/stella-purl-other@1.0.0", []string{}},
	}
	for _, c := range cases {
		if got := recordIDs(e.lookupJSON("--purl", c.purl)); !slices.Equal(got, c.want) {
			t.Errorf("db lookup --purl %s = %v, want %v", c.purl, got, c.want)
		}
	}
	if got := recordIDs(e.lookupJSON("GHSA-test-purl-0004")); !slices.Equal(got, []string{"GHSA-test-purl-0004"}) {
		t.Errorf("db lookup GHSA-test-purl-0004 = %v, want the kept record", got)
	}
	want := "  affects    npm/@stella/purl-only <2.0.0\n"
	if out := e.must("db", "lookup", "GHSA-test-purl-0001"); !strings.Contains(out, want) {
		t.Errorf("db lookup GHSA-test-purl-0001 prints\n%s\nwant the line: %s", out, want)
	}
	want = "  affects    pkg:generic/stella-purl-unknown all versions (unresolved-package: no purl lookup or scan matches it)\n"
	if out := e.must("db", "lookup", "GHSA-test-purl-0004"); !strings.Contains(out, want) {
		t.Errorf("db lookup GHSA-test-purl-0004 prints\n%s\nwant the line: %s", out, want)
	}

	sbom := filepath.Join(e.dir, "bom.json")
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` +
		`{"name":"@stella/purl-only","version":"1.5.0","purl":"pkg:npm/%40stella/purl-only@1.5.0"},` +
		`{"name":"stella-purl-deb","version":"1.1-1","purl":"pkg:deb/debian/stella-purl-deb@1.1-1?distro=debian-12"}]}`
	if err := os.WriteFile(sbom, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.scan(sbom)
	got := findingsByPackage(rep)
	if ids := got["@stella/purl-only@1.5.0"]; !slices.Equal(ids, []string{"GHSA-test-purl-0001"}) {
		t.Errorf("scan findings of @stella/purl-only 1.5.0 = %v, want GHSA-test-purl-0001", ids)
	}
	if ids := got["stella-purl-deb@1.1-1"]; !slices.Equal(ids, []string{"GHSA-test-purl-0002"}) {
		t.Errorf("scan findings of stella-purl-deb 1.1-1 = %v, want GHSA-test-purl-0002", ids)
	}
}

// TestPURLPackagesAgainstOSVScanner scans npm packages of the records of
// addPURLRecords with stella and with osv-scanner, offline on the same
// records. Both match a package whose purl names another package by its
// ecosystem and name. osv-scanner v2.3.5 matches no package that a record
// gives only by purl, so that package is a finding of stella alone.
func TestPURLPackagesAgainstOSVScanner(t *testing.T) {
	osvScanner := toolPath(t, "osv-scanner")
	e := newEnv(t)
	feed := newOSVFeed(e)
	addPURLRecords(feed)
	kit := filepath.Join(e.dir, "kit.tar")
	e.must("ouk", "build", "-o", kit, "--key", e.key, "--feed", "ghsa="+feed.dir)
	e.must("ouk", "import", "--key", e.pub, kit)

	sbom := filepath.Join(e.dir, "bom.cdx.json")
	pkgs := []sbomPackage{
		{name: "@stella/purl-only", version: "1.5.0", purl: "pkg:npm/%40stella/purl-only@1.5.0"},
		{name: "stella-purl-named", version: "1.5.0", purl: "pkg:npm/stella-purl-named@1.5.0"},
		{name: "stella-purl-other", version: "1.5.0", purl: "pkg:npm/stella-purl-other@1.5.0"},
	}
	writeCycloneDX(t, sbom, pkgs)
	rep, _ := e.scan(sbom)
	ours := findingsByPackage(rep)

	cache := filepath.Join(e.dir, "osv-cache")
	zipPath := filepath.Join(cache, "osv-scanner", "npm", "all.zip")
	if err := os.MkdirAll(filepath.Dir(zipPath), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, id := range []string{"GHSA-test-purl-0001", "GHSA-test-purl-0003"} {
		raw, err := os.ReadFile(filepath.Join(feed.dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(id + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(osvScanner, "scan", "source", "--offline", "--offline-vulnerabilities",
		"--format", "json", "-L", sbom)
	cmd.Env = append(offlineEnv(t), "OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="+cache)
	out, err := cmd.Output()
	// osv-scanner exits 1 when it found vulnerabilities.
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("osv-scanner: %v\n%s", err, out)
	}
	var peer osvScannerResult
	if err := json.Unmarshal(out, &peer); err != nil {
		t.Fatalf("decoding osv-scanner output: %v\n%s", err, out)
	}
	theirs := map[string][]string{}
	for _, r := range peer.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				k := p.Package.Name + "@" + p.Package.Version
				theirs[k] = append(theirs[k], v.ID)
			}
		}
	}
	t.Logf("osv-scanner findings by package: %v", theirs)

	for _, k := range []string{"stella-purl-named@1.5.0", "stella-purl-other@1.5.0"} {
		if !slices.Equal(ours[k], theirs[k]) {
			t.Errorf("%s: stella reports %v, osv-scanner %v", k, ours[k], theirs[k])
		}
	}
	if got := ours["@stella/purl-only@1.5.0"]; !slices.Equal(got, []string{"GHSA-test-purl-0001"}) {
		t.Errorf("@stella/purl-only@1.5.0: stella reports %v, want GHSA-test-purl-0001", got)
	}
}
