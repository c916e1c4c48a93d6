package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Identifiers of the test package "mixed", which names two packages of
// different ecosystems.
const (
	mixedURLLib = "pkg:pypi/urllib3@1.26.5"
	mixedLog4j  = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
	mixedCPE    = "cpe:2.3:a:acme:bundle:1.26.5:*:*:*:*:*:*:*"
)

// purlsKitEnv returns an environment whose active kit contains OSV records
// of PyPI urllib3 (<1.26.6), Maven log4j-core (>=2.0 <2.15.0) and npm
// lodash (<4.17.21), one record of both urllib3 and log4j-core, and an NVD
// record of acme:bundle (<2.0).
func purlsKitEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	nvd, osv := feedDirs(t, e)

	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` +
		nvdCVE("CVE-2030-0901", "A flaw in acme bundle.",
			`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:bundle:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`) + `]}`
	if err := os.WriteFile(filepath.Join(nvd, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}

	type pkg struct{ ecosystem, name, introduced, fixed string }
	osvRecord := func(id string, pkgs ...pkg) {
		var affected []map[string]any
		for _, p := range pkgs {
			affected = append(affected, map[string]any{
				"package": map[string]string{"ecosystem": p.ecosystem, "name": p.name},
				"ranges": []map[string]any{{"type": "ECOSYSTEM", "events": []map[string]string{
					{"introduced": p.introduced}, {"fixed": p.fixed}}}},
			})
		}
		writeJSONFile(t, filepath.Join(osv, id+".json"), map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": "2030-01-01T00:00:00Z", "summary": "a flaw in " + id,
			"affected": affected,
		})
	}

	urllib3 := pkg{"PyPI", "urllib3", "0", "1.26.6"}
	log4j := pkg{"Maven", "org.apache.logging.log4j:log4j-core", "2.0", "2.15.0"}
	osvRecord("URLLIB-1", urllib3)
	osvRecord("LOG4J-1", log4j)
	osvRecord("BOTH-1", urllib3, log4j)
	osvRecord("LODASH-1", pkg{"npm", "lodash", "0", "4.17.21"})

	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+nvd, "--feed", "osv="+osv))
	return e
}

// writeMixedSPDX writes an SPDX 2.3 document with the package "mixed" at
// version 1.26.5, with the given purls and CPEs as external references.
func writeMixedSPDX(t *testing.T, path string, purls, cpes []string) {
	t.Helper()
	var refs []map[string]string
	for _, p := range purls {
		refs = append(refs, map[string]string{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p})
	}
	for _, c := range cpes {
		refs = append(refs, map[string]string{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": c})
	}
	writeJSONFile(t, path, map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": "mixed", "documentNamespace": "https://stella-ops.org/spdx/mixed",
		"creationInfo": map[string]any{"created": "2026-01-01T00:00:00Z", "creators": []string{"Tool: stella-tests"}},
		"packages": []map[string]any{{"SPDXID": "SPDXRef-mixed", "name": "mixed", "versionInfo": "1.26.5",
			"downloadLocation": "NOASSERTION", "externalRefs": refs}},
	})
}

// checkMixedFindings checks that a scan of the package "mixed" with the
// purls mixedURLLib and mixedLog4j found the records of both, each once,
// and that each finding names the purl that produced it.
func checkMixedFindings(t *testing.T, name string, rep scanReport) {
	t.Helper()
	found := findingsByID(rep, "mixed")
	want := map[string]struct{ purl, version, sbomVersion string }{
		"URLLIB-1": {mixedURLLib, "1.26.5", ""},
		"LOG4J-1":  {mixedLog4j, "2.14.1", "1.26.5"},
		// Both purls confirm BOTH-1, and the first one is named.
		"BOTH-1": {mixedURLLib, "1.26.5", ""},
	}
	for id, w := range want {
		f, ok := found[id]
		if !ok {
			t.Errorf("%s: no finding %s; findings %+v", name, id, rep.Findings)
			continue
		}
		if f.PURL != w.purl || f.CPE != "" || f.MatchBy != "purl" {
			t.Errorf("%s: finding %s names purl %q, CPE %q, matched by %q; want purl %s", name, id, f.PURL, f.CPE, f.MatchBy, w.purl)
		}
		if f.Version != w.version || f.SBOMVersion != w.sbomVersion {
			t.Errorf("%s: finding %s at version %q, sbomVersion %q; want %q and %q", name, id, f.Version, f.SBOMVersion,
				w.version, w.sbomVersion)
		}
		if f.PossiblyAffected != "" {
			t.Errorf("%s: finding %s possibly affected (%q), want confirmed", name, id, f.PossiblyAffected)
		}
	}
	if len(rep.Findings) != len(want) {
		t.Errorf("%s: findings %+v, want URLLIB-1, LOG4J-1 and BOTH-1 once each", name, rep.Findings)
	}
	if len(rep.VersionMismatches) != 1 || rep.VersionMismatches[0].Identifier != mixedLog4j {
		t.Errorf("%s: versionMismatches = %+v, want one for %s", name, rep.VersionMismatches, mixedLog4j)
	}
}

func TestScanLooksUpEverySPDXPURL(t *testing.T) {
	e := purlsKitEnv(t)
	path := filepath.Join(e.dir, "mixed.spdx.json")
	writeMixedSPDX(t, path, []string{mixedURLLib, mixedLog4j, "pkg:generic/bundle@1.26.5"}, nil)
	rep, _ := e.scan(path)
	checkMixedFindings(t, "SPDX", rep)
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0].Note, `purl "pkg:generic/bundle@1.26.5"`) {
		t.Errorf("notes = %+v, want one for the generic purl", rep.Notes)
	}
	if len(rep.Skipped) != 0 {
		t.Errorf("skipped = %+v, want none", rep.Skipped)
	}

	text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
	for _, want := range []string{"LOG4J-1", "URLLIB-1", `note: mixed 1.26.5: purl "pkg:generic/bundle@1.26.5"`,
		"version mismatch mixed 1.26.5: " + mixedLog4j + " names version 2.14.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("scan text lacks %q:\n%s", want, text)
		}
	}
}

func TestScanLooksUpCycloneDXEvidencePURL(t *testing.T) {
	e := purlsKitEnv(t)
	path := filepath.Join(e.dir, "mixed.cdx.json")
	writeJSONFile(t, path, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
		"components": []map[string]any{{"type": "library", "bom-ref": "mixed", "name": "mixed", "version": "1.26.5",
			"purl": mixedURLLib,
			"evidence": map[string]any{"identity": []map[string]any{
				{"field": "purl", "confidence": 1, "concludedValue": mixedURLLib},
				{"field": "purl", "confidence": 0.5, "concludedValue": mixedLog4j},
			}}}}})
	rep, _ := e.scan(path)
	checkMixedFindings(t, "CycloneDX", rep)
	if len(rep.Notes) != 0 {
		t.Errorf("notes = %+v, want none", rep.Notes)
	}
}

func TestScanFindingNamesMatchingCPE(t *testing.T) {
	e := purlsKitEnv(t)
	path := filepath.Join(e.dir, "mixed-cpe.spdx.json")
	writeMixedSPDX(t, path, []string{mixedURLLib}, []string{"cpe:2.3:a:acme:other:1.0:*:*:*:*:*:*:*", mixedCPE})
	rep, _ := e.scan(path)
	f, ok := findingsByID(rep, "mixed")["CVE-2030-0901"]
	if !ok {
		t.Fatalf("no finding CVE-2030-0901; findings %+v", rep.Findings)
	}
	if f.CPE != mixedCPE || f.PURL != "" || f.MatchBy != "cpe" {
		t.Errorf("CVE-2030-0901 names purl %q, CPE %q, matched by %q; want CPE %s alone", f.PURL, f.CPE, f.MatchBy, mixedCPE)
	}
	if u := findingsByID(rep, "mixed")["URLLIB-1"]; u.PURL != mixedURLLib || u.CPE != "" {
		t.Errorf("URLLIB-1 names purl %q, CPE %q; want purl %s alone", u.PURL, u.CPE, mixedURLLib)
	}
}

func TestScanNPMLeadingVAgreesWithSBOM(t *testing.T) {
	e := purlsKitEnv(t)
	path := filepath.Join(e.dir, "lo.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "lo", version: "4.17.20", purl: "pkg:npm/lodash@v4.17.20"}})
	rep, _ := e.scan(path)
	f, ok := findingsByID(rep, "lo")["LODASH-1"]
	if !ok {
		t.Fatalf("no finding LODASH-1; findings %+v", rep.Findings)
	}
	if f.PossiblyAffected != "" {
		t.Errorf("LODASH-1 possibly affected (%q), want confirmed", f.PossiblyAffected)
	}
	if f.Version != "4.17.20" || f.SBOMVersion != "" {
		t.Errorf("LODASH-1 at version %q, sbomVersion %q; want the SBOM's 4.17.20 alone", f.Version, f.SBOMVersion)
	}
	if len(rep.VersionMismatches) != 0 {
		t.Errorf("versionMismatches = %+v, want none for v4.17.20 and 4.17.20", rep.VersionMismatches)
	}
	text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
	for _, unwanted := range []string{"possibly", "version mismatch", "not a valid npm version"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("scan text contains %q:\n%s", unwanted, text)
		}
	}
}
