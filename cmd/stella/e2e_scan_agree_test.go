package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agreeKitEnv returns an environment whose active kit contains records for
// the version agreement tests: NVD records of acme:hidden (<2.0) and of
// acme:gizmo (seven affected versions), and OSV records of npm hidden
// (<2.0), Go example.com/mod (<1.5.0), PyPI post (<1.1), Maven
// org.ex:final and PyPI pyfixed, whose SEMVER ranges have versions that
// only their ecosystem's order parses, and Maven org.ex:wild, whose SEMVER
// range ends at "1.x", which the Maven order parses but is no version.
func agreeKitEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	nvd, osv := feedDirs(t, e)

	criterion := func(product, version, bounds string) string {
		return fmt.Sprintf(`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:%s:%s:*:*:*:*:*:*:*"%s}`, product, version, bounds)
	}
	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` +
		nvdCVE("CVE-2030-0801", "A flaw in acme hidden.", criterion("hidden", "*", `,"versionEndExcluding":"2.0"`)) + "," +
		nvdCVE("CVE-2030-0802", "A flaw in acme gizmo.", criterion("gizmo", "1.5", ""),
			criterion("gizmo", "*", `,"versionStartIncluding":"3.0","versionEndIncluding":"3.2"`),
			criterion("gizmo", "4.0", ""), criterion("gizmo", "4.1", ""), criterion("gizmo", "5.0", ""),
			criterion("gizmo", "6.0", ""), criterion("gizmo", "7.0", "")) + `]}`
	if err := os.WriteFile(filepath.Join(nvd, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}

	osvRecord := func(id, ecosystem, name, rangeType string, events ...map[string]string) {
		writeJSONFile(t, filepath.Join(osv, id+".json"), map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": "2030-01-01T00:00:00Z", "summary": "a flaw in " + name,
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": ecosystem, "name": name},
				"ranges":  []map[string]any{{"type": rangeType, "events": events}},
			}},
		})
	}
	osvRecord("HIDDEN-1", "npm", "hidden", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": "2.0.0"})
	osvRecord("MOD-1", "Go", "example.com/mod", "SEMVER", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1.5.0"})
	osvRecord("POST-1", "PyPI", "post", "ECOSYSTEM", map[string]string{"introduced": "0"}, map[string]string{"fixed": "1.1"})
	osvRecord("FINAL-1", "Maven", "org.ex:final", "SEMVER",
		map[string]string{"introduced": "2.0.0.Final"}, map[string]string{"fixed": "2.0.2"})
	osvRecord("PYFIXED-1", "PyPI", "pyfixed", "SEMVER",
		map[string]string{"introduced": "1.0.post1"}, map[string]string{"fixed": "2.0"})
	osvRecord("WILD-1", "Maven", "org.ex:wild", "SEMVER",
		map[string]string{"introduced": "0"}, map[string]string{"last_affected": "1.x"})

	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+nvd, "--feed", "osv="+osv))
	return e
}

func TestScanVersionsEqualInEcosystemAgree(t *testing.T) {
	e := agreeKitEnv(t)
	path := filepath.Join(e.dir, "agree.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{
		{name: "example.com/mod", version: "1.4.0", purl: "pkg:golang/example.com/mod@v1.4.0"},
		{name: "post", version: "1.0.POST1", purl: "pkg:pypi/post@1.0.post1"},
		{name: "hidden", version: "1.5", cpe: "cpe:2.3:a:acme:hidden:1.5.0:*:*:*:*:*:*:*"},
	})
	rep, _ := e.scan(path)
	if len(rep.VersionMismatches) != 0 {
		t.Errorf("versionMismatches = %+v, want none for versions equal in their ecosystem", rep.VersionMismatches)
	}
	for _, id := range []string{"MOD-1", "POST-1", "CVE-2030-0801"} {
		found := false
		for _, f := range rep.Findings {
			if f.ID != id {
				continue
			}
			found = true
			if f.PossiblyAffected != "" || f.SBOMVersion != "" {
				t.Errorf("finding %s: possiblyAffected %q, sbomVersion %q, want confirmed with no second version",
					id, f.PossiblyAffected, f.SBOMVersion)
			}
		}
		if !found {
			t.Errorf("no finding %s", id)
		}
	}
	text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
	if strings.Contains(text, "version mismatch") {
		t.Errorf("scan text has a version mismatch line:\n%s", text)
	}
}

func TestScanLooksUpSBOMVersionOnMismatch(t *testing.T) {
	e := agreeKitEnv(t)
	for _, c := range []struct{ name, purl, cpe, id, noun string }{
		{"purl", "pkg:npm/hidden@2.5.0", "", "HIDDEN-1", "purl"},
		{"CPE", "", "cpe:2.3:a:acme:hidden:2.5:*:*:*:*:*:*:*", "CVE-2030-0801", "CPE"},
	} {
		path := filepath.Join(e.dir, "hidden-"+c.name+".cdx.json")
		writeCycloneDX(t, path, []sbomPackage{{name: "hidden", version: "1.5", purl: c.purl, cpe: c.cpe}})
		rep, _ := e.scan(path)
		if len(rep.VersionMismatches) != 1 {
			t.Errorf("%s: versionMismatches = %+v, want one", c.name, rep.VersionMismatches)
		}
		f, ok := findingsByID(rep, "hidden")[c.id]
		if !ok {
			t.Errorf("%s: no finding %s for the SBOM's affected version 1.5; findings %+v", c.name, c.id, rep.Findings)
			continue
		}
		version := strings.TrimSuffix(strings.TrimPrefix(c.purl+c.cpe, "pkg:npm/hidden@"), ":*:*:*:*:*:*:*")
		version = strings.TrimPrefix(version, "cpe:2.3:a:acme:hidden:")
		want := "the SBOM's version 1.5 is affected, but the " + c.noun + "'s version " + version + " is not"
		if !strings.Contains(f.PossiblyAffected, want) {
			t.Errorf("%s: possiblyAffected %q, want it to contain %q", c.name, f.PossiblyAffected, want)
		}
		if f.Version != "1.5" || f.SBOMVersion != "" {
			t.Errorf("%s: finding version %q, sbomVersion %q, want the SBOM's version 1.5 alone", c.name, f.Version, f.SBOMVersion)
		}

		text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
		if !strings.Contains(text, "possibly affected hidden 1.5 by "+c.id+": "+want) {
			t.Errorf("%s: scan text lacks the possibly affected line:\n%s", c.name, text)
		}
	}

	// The purl's version is affected and the CPE's is not: the purl's
	// finding stays confirmed, and the CPE's SBOM-version lookup adds a
	// possibly affected finding of the NVD record only.
	path := filepath.Join(e.dir, "hidden-both.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "hidden", version: "2.5", purl: "pkg:npm/hidden@1.5.0",
		cpe: "cpe:2.3:a:acme:hidden:1.5:*:*:*:*:*:*:*"}})
	rep, _ := e.scan(path)
	found := findingsByID(rep, "hidden")
	if f, ok := found["HIDDEN-1"]; !ok || f.PossiblyAffected != "" || f.Version != "1.5.0" {
		t.Errorf("HIDDEN-1: found %v, possiblyAffected %q, version %q, want confirmed at the purl's 1.5.0",
			ok, f.PossiblyAffected, f.Version)
	}
	if f, ok := found["CVE-2030-0801"]; !ok || f.PossiblyAffected != "" {
		t.Errorf("CVE-2030-0801: found %v, possiblyAffected %q, want confirmed by the CPE's 1.5", ok, f.PossiblyAffected)
	}
	if len(rep.Findings) != 2 {
		t.Errorf("findings %+v, want HIDDEN-1 and CVE-2030-0801 once each", rep.Findings)
	}
}

func TestLookupSemverRangeInEcosystemOrder(t *testing.T) {
	e := agreeKitEnv(t)
	cases := []struct {
		purl string
		want []string
	}{
		{"pkg:maven/org.ex/final@1.9", nil},
		{"pkg:maven/org.ex/final@2.0.1", []string{"FINAL-1"}},
		{"pkg:pypi/pyfixed@1.0", nil},
		{"pkg:pypi/pyfixed@1.5", []string{"PYFIXED-1"}},
	}
	for _, c := range cases {
		recs := e.lookupJSON("--purl", c.purl)
		if got := recordIDs(recs); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("db lookup --purl %s = %v, want %v", c.purl, got, c.want)
		}
		for _, r := range recs {
			if p := r.PossiblyAffected(); p != "" {
				t.Errorf("db lookup --purl %s: %s possibly affected (%q), want confirmed", c.purl, r.ID, p)
			}
		}
	}
}

// TestLookupSemverRangeNotAVersionUndecided checks that a SEMVER range
// ending at "1.x" is not compared in the Maven order, which parses almost
// any text, so the record stays possibly affected.
func TestLookupSemverRangeNotAVersionUndecided(t *testing.T) {
	e := agreeKitEnv(t)
	recs := e.lookupJSON("--purl", "pkg:maven/org.ex/wild@1.2.3")
	if got := strings.Join(recordIDs(recs), ","); got != "WILD-1" {
		t.Fatalf("db lookup --purl pkg:maven/org.ex/wild@1.2.3 = %v, want WILD-1", got)
	}
	want := `could not be compared with range version "1.x" (semver)`
	if p := recs[0].PossiblyAffected(); !strings.Contains(p, want) {
		t.Errorf("WILD-1 possibly affected reason %q lacks %q", p, want)
	}
}

func TestLookupCPEAnyVersionNamesEveryCriterion(t *testing.T) {
	e := agreeKitEnv(t)
	recs := e.lookupJSON("--cpe", "cpe:2.3:a:acme:gizmo:*:*:*:*:*:*:*:*")
	if len(recs) != 1 {
		t.Fatalf("db lookup --cpe gizmo:* = %v, want CVE-2030-0802", recordIDs(recs))
	}
	want := "could not be compared with the affected versions 1.5, >=3.0 <=3.2, 4.0, 4.1, 5.0 or 2 other versions"
	if p := recs[0].PossiblyAffected(); !strings.HasSuffix(p, want) {
		t.Errorf("possibly affected reason %q, want it to end with %q", p, want)
	}
}
