package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPossiblyAffectedShown checks that a record whose range holds a
// version its ecosystem cannot parse is counted by the build and marked
// in lookup text and scan output, not shown as a plain finding.
func TestPossiblyAffectedShown(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "feed")
	if err := os.Mkdir(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := `{"id":"W-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"wp1"},` +
		`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`
	if err := os.WriteFile(filepath.Join(feed, "W-1.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(e.dir, "kit.tar")
	out := e.must("ouk", "build", "-o", kit, "--feed", "osv="+feed, "--key", e.key)
	if !strings.Contains(out, "Kept with warnings: unparsed-range-version 1") {
		t.Errorf("build summary does not count the record:\n%s", out)
	}
	e.importJSON(kit)
	if text := e.must("db", "lookup", "--purl", "pkg:npm/wp1@2.5.0"); !strings.Contains(text, "possibly   affected: ") {
		t.Errorf("lookup text does not mark the record:\n%s", text)
	}
	sbom := filepath.Join(e.dir, "bom.json")
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"wp1","version":"2.5.0","purl":"pkg:npm/wp1@2.5.0"}]}`
	if err := os.WriteFile(sbom, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.scan(sbom)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].PossiblyAffected, `"2.0"`) {
		t.Errorf("scan findings %+v, want W-1 marked possibly affected", rep.Findings)
	}
	raw, _ := json.Marshal(rep.Findings)
	if !strings.Contains(string(raw), `"possiblyAffected"`) {
		t.Errorf("scan JSON lacks possiblyAffected: %s", raw)
	}
}

// TestInvalidVersionPossiblyAffected checks scan and lookup of a package
// version that its ecosystem cannot parse. A record that lists the
// version matches as affected, a record whose range cannot be compared
// with it is possibly affected, and records of other packages never match.
func TestInvalidVersionPossiblyAffected(t *testing.T) {
	e := newEnv(t)
	ghsa := filepath.Join(e.dir, "ghsa")
	if err := os.Mkdir(ghsa, 0o755); err != nil {
		t.Fatal(err)
	}
	// The fixture record CVE-2099-0001 has a SEMVER range for
	// stella-demo-untar, and neither npm nor SemVer parse "nightly".
	writeJSONFile(t, filepath.Join(ghsa, "GHSA-test-ngt1-0001.json"), map[string]any{
		"schema_version": "1.6.0", "id": "GHSA-test-ngt1-0001", "modified": "2026-01-01T00:00:00Z",
		"summary": "a nightly build of the demo extractor",
		"affected": []map[string]any{{
			"package":  map[string]string{"ecosystem": "npm", "name": "stella-demo-untar"},
			"versions": []string{"nightly"},
		}},
	})
	kit := e.buildKit("kit.tar", "--feed", "ghsa="+ghsa)
	e.must("ouk", "import", "--key", e.pub, kit)
	const purl = "pkg:npm/stella-demo-untar@nightly"
	const reason = `version "nightly" of stella-demo-untar is not a valid npm version`

	recs := e.lookupJSON("--purl", purl)
	if got := recordIDs(recs); !slices.Equal(got, []string{"CVE-2099-0001", "GHSA-test-ngt1-0001"}) {
		t.Fatalf("db lookup --purl %s = %v, want CVE-2099-0001 and GHSA-test-ngt1-0001", purl, got)
	}
	if p := recs[0].PossiblyAffected(); !strings.Contains(p, reason) {
		t.Errorf("CVE-2099-0001 possibly affected reason %q lacks %q", p, reason)
	}
	if p := recs[1].PossiblyAffected(); p != "" {
		t.Errorf("GHSA-test-ngt1-0001 lists the version but is marked possibly affected: %q", p)
	}
	raw := e.must("db", "lookup", "-o", "json", "--purl", purl)
	if !strings.Contains(raw, `"possibly_affected"`) {
		t.Errorf("db lookup JSON lacks possibly_affected:\n%s", raw)
	}
	if text := e.must("db", "lookup", "--purl", purl); !strings.Contains(text, "possibly   affected: "+reason) {
		t.Errorf("db lookup text does not mark CVE-2099-0001:\n%s", text)
	}
	// With no record for the package, the version can never match.
	if r := e.run("db", "lookup", "--purl", "pkg:npm/nosuch@nightly"); r.code != exitUsage || !strings.Contains(r.stderr, "not a valid npm version") {
		t.Errorf("db lookup of an invalid version of an unknown package: exit %d, want %d and the reason:\n%s", r.code, exitUsage, r.stderr)
	}

	sbom := filepath.Join(e.dir, "app.cdx.json")
	writeCycloneDX(t, sbom, []sbomPackage{
		{name: "stella-demo-untar", version: "nightly", purl: purl},
		{name: "nosuch", version: "nightly", purl: "pkg:npm/nosuch@nightly"},
	})
	rep, _ := e.scan(sbom)
	possibly := map[string]string{}
	for _, f := range rep.Findings {
		if f.Package != "stella-demo-untar" {
			t.Errorf("finding %s for package %s, want findings for stella-demo-untar only", f.ID, f.Package)
		}
		possibly[f.ID] = f.PossiblyAffected
	}
	if len(rep.Findings) != 2 {
		t.Errorf("scan findings %+v, want CVE-2099-0001 and GHSA-test-ngt1-0001", rep.Findings)
	}
	if p := possibly["CVE-2099-0001"]; !strings.Contains(p, reason) {
		t.Errorf("scan: CVE-2099-0001 possiblyAffected %q lacks %q", p, reason)
	}
	if p, ok := possibly["GHSA-test-ngt1-0001"]; !ok || p != "" {
		t.Errorf("scan: GHSA-test-ngt1-0001 found %v with possiblyAffected %q, want a confirmed finding", ok, p)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Package != "nosuch" {
		t.Errorf("skipped = %+v, want nosuch only", rep.Skipped)
	}
	scanJSON := e.must("scan", "--sbom", sbom, "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(scanJSON, `"possiblyAffected"`) {
		t.Errorf("scan JSON lacks possiblyAffected:\n%s", scanJSON)
	}
}

// TestCPEWithoutVersionPossiblyAffected checks that a CPE lookup or scan
// at a concrete version marks a record whose only criterion for the
// product has version "-" as possibly affected, and leaves a record that
// a range also matches confirmed.
func TestCPEWithoutVersionPossiblyAffected(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "nvd")
	if err := os.Mkdir(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	cve := func(id, matches string) string {
		return `{"cve":{"id":"` + id + `","published":"2030-01-01T00:00:00.000","lastModified":"2030-01-02T00:00:00.000",` +
			`"vulnStatus":"Analyzed","descriptions":[{"lang":"en","value":"A flaw in acme widget."}],` +
			`"configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[` + matches + `]}]}]}}`
	}
	const noVersion = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}`
	const below2 = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`
	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` +
		cve("CVE-2030-0001", noVersion) + "," + cve("CVE-2030-0002", noVersion+","+below2) + `]}`
	if err := os.WriteFile(filepath.Join(feed, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+feed))

	const cpe = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	out := e.must("db", "lookup", "-o", "json", "--cpe", cpe)
	var recs []struct {
		ID               string `json:"id"`
		DatabaseSpecific struct {
			StellaOps struct {
				PossiblyAffected string `json:"possibly_affected"`
			} `json:"stellaops"`
		} `json:"database_specific"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("decoding db lookup output: %v\n%s", err, out)
	}
	possibly := map[string]string{}
	for _, r := range recs {
		possibly[r.ID] = r.DatabaseSpecific.StellaOps.PossiblyAffected
	}
	if len(recs) != 2 {
		t.Fatalf("db lookup --cpe %s returned %d records, want CVE-2030-0001 and CVE-2030-0002:\n%s", cpe, len(recs), out)
	}
	if reason := possibly["CVE-2030-0001"]; !strings.Contains(reason, "acme:widget without a version") {
		t.Errorf("CVE-2030-0001 possibly_affected = %q, want a reason naming acme:widget without a version", reason)
	}
	if reason := possibly["CVE-2030-0002"]; reason != "" {
		t.Errorf("CVE-2030-0002 matches by range but is marked possibly affected: %q", reason)
	}
	if text := e.must("db", "lookup", "--cpe", cpe); !strings.Contains(text, "possibly   affected: the record names acme:widget without a version") {
		t.Errorf("lookup text does not mark CVE-2030-0001:\n%s", text)
	}

	sbom := filepath.Join(e.dir, "bom.json")
	writeCycloneDX(t, sbom, []sbomPackage{{name: "widget", version: "1.5", cpe: cpe}})
	rep, _ := e.scan(sbom)
	found := map[string]string{}
	for _, f := range rep.Findings {
		found[f.ID] = f.PossiblyAffected
	}
	if len(rep.Findings) != 2 {
		t.Fatalf("scan findings %+v, want CVE-2030-0001 and CVE-2030-0002", rep.Findings)
	}
	if !strings.Contains(found["CVE-2030-0001"], "without a version") {
		t.Errorf("scan finding CVE-2030-0001 possiblyAffected = %q, want the reason", found["CVE-2030-0001"])
	}
	if found["CVE-2030-0002"] != "" {
		t.Errorf("scan finding CVE-2030-0002 is marked possibly affected: %q", found["CVE-2030-0002"])
	}
	text := e.must("scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(text, "(possibly) A flaw in acme widget.") ||
		!strings.Contains(text, "possibly affected widget 1.5 by CVE-2030-0001: the record names acme:widget without a version") {
		t.Errorf("scan text does not show the summary and the reason of CVE-2030-0001:\n%s", text)
	}

	// For a package without a version, a second CPE whose version "*"
	// matches every criterion without a version range confirms
	// CVE-2030-0001, whichever CPE comes first. With a version, the scan
	// would look the "*" CPE up at that version.
	twoCPEs := filepath.Join(e.dir, "two-cpes.spdx.json")
	writeJSONFile(t, twoCPEs, map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": "two-cpes", "documentNamespace": "https://stella-ops.org/spdx/two-cpes",
		"creationInfo": map[string]any{"created": "2026-01-01T00:00:00Z", "creators": []string{"Tool: stella-tests"}},
		"packages": []map[string]any{{
			"SPDXID": "SPDXRef-Package-0", "name": "widget", "versionInfo": "NOASSERTION", "downloadLocation": "NOASSERTION",
			"externalRefs": []map[string]string{
				{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe},
				{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"},
			},
		}},
	})
	rep, _ = e.scan(twoCPEs)
	if len(rep.Findings) != 2 {
		t.Fatalf("scan of two CPEs: findings %+v, want CVE-2030-0001 and CVE-2030-0002", rep.Findings)
	}
	for _, f := range rep.Findings {
		if f.PossiblyAffected != "" {
			t.Errorf("scan of two CPEs: %s is marked possibly affected (%q), but the second CPE confirms it", f.ID, f.PossiblyAffected)
		}
	}
}

// TestPlatformPossiblyAffected checks a record whose configuration
// combines the product with a platform by AND. A CPE lookup and a scan
// that do not show the platform mark it possibly affected, and a scan
// whose SBOM lists the platform confirms it.
func TestPlatformPossiblyAffected(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "nvd")
	if err := os.Mkdir(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	const page = `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{"cve":{"id":"CVE-2030-0201",` +
		`"published":"2030-01-01T00:00:00.000","lastModified":"2030-01-02T00:00:00.000","vulnStatus":"Analyzed",` +
		`"descriptions":[{"lang":"en","value":"A flaw in acme widget on Windows."}],` +
		`"configurations":[{"operator":"AND","nodes":[` +
		`{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,` +
		`"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}]},` +
		`{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":false,` +
		`"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"}]}]}]}}]}`
	if err := os.WriteFile(filepath.Join(feed, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+feed))

	const cpe = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	const reason = "the record affects acme:widget 1.5 only when running on microsoft:windows"
	text := e.must("db", "lookup", "--cpe", cpe)
	if !strings.Contains(text, "possibly   affected: "+reason) {
		t.Errorf("db lookup --cpe text does not mark CVE-2030-0201 with %q:\n%s", reason, text)
	}
	if !strings.Contains(text, "<2.0 when running on microsoft:windows") {
		t.Errorf("db lookup --cpe text does not name the platform of the criterion:\n%s", text)
	}
	if raw := e.must("db", "lookup", "-o", "json", "--cpe", cpe); !strings.Contains(raw, `"possibly_affected": "`+reason+`"`) {
		t.Errorf("db lookup --cpe JSON lacks possibly_affected %q:\n%s", reason, raw)
	}

	sbom := filepath.Join(e.dir, "app.cdx.json")
	writeCycloneDX(t, sbom, []sbomPackage{{name: "widget", version: "1.5", cpe: cpe}})
	rep, _ := e.scan(sbom)
	if len(rep.Findings) != 1 || rep.Findings[0].PossiblyAffected != reason {
		t.Errorf("scan findings %+v, want CVE-2030-0201 possibly affected with %q", rep.Findings, reason)
	}
	out := e.must("scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(out, "(possibly) A flaw in acme widget") ||
		!strings.Contains(out, "possibly affected widget 1.5 by CVE-2030-0201: "+reason) {
		t.Errorf("scan text does not mark CVE-2030-0201:\n%s", out)
	}

	// The SBOM lists Windows, so the platform criterion matches.
	withOS := filepath.Join(e.dir, "system.cdx.json")
	writeCycloneDX(t, withOS, []sbomPackage{
		{name: "widget", version: "1.5", cpe: cpe},
		{name: "windows", version: "10", cpe: "cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*"},
	})
	rep, _ = e.scan(withOS)
	if len(rep.Findings) != 1 || rep.Findings[0].ID != "CVE-2030-0201" || rep.Findings[0].PossiblyAffected != "" {
		t.Errorf("scan findings with Windows in the SBOM %+v, want CVE-2030-0201 confirmed", rep.Findings)
	}
}
