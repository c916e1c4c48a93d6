package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// widgetKitEnv returns an environment whose active kit contains the fixture
// feeds, two NVD records for acme:widget and an OSV record that lists the
// npm version "1.0@x" of at-version.
func widgetKitEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	nvd, osv := feedDirs(t, e)
	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` +
		nvdCVE("CVE-2030-0501", "acme widget overflow",
			`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`) + "," +
		nvdCVE("CVE-2030-0502", "acme widget without versions",
			`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}`) + `]}`
	if err := os.WriteFile(filepath.Join(nvd, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJSONFile(t, filepath.Join(osv, "AT-1.json"), map[string]any{
		"schema_version": "1.6.0", "id": "AT-1", "modified": "2030-01-01T00:00:00Z", "summary": "a build with an at sign",
		"affected": []map[string]any{{
			"package":  map[string]string{"ecosystem": "npm", "name": "at-version"},
			"versions": []string{"1.0@x"},
		}},
	})
	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+nvd, "--feed", "osv="+osv))
	return e
}

// feedDirs creates the feed directories nvd and osv under e.dir and
// returns their paths.
func feedDirs(t *testing.T, e *env) (nvd, osv string) {
	t.Helper()
	nvd = filepath.Join(e.dir, "nvd")
	osv = filepath.Join(e.dir, "osv")
	for _, dir := range []string{nvd, osv} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return nvd, osv
}

// nvdCVE returns one entry of an NVD CVE API 2.0 page: the record id with
// an English description and one OR node of the given cpeMatch objects.
func nvdCVE(id, description string, matches ...string) string {
	return `{"cve":{"id":"` + id + `","published":"2030-01-01T00:00:00.000","lastModified":"2030-01-02T00:00:00.000",` +
		`"vulnStatus":"Analyzed","descriptions":[{"lang":"en","value":"` + description + `"}],` +
		`"configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[` + strings.Join(matches, ",") + `]}]}]}}`
}

// findingsByID returns the findings of a package by record ID.
func findingsByID(rep scanReport, pkg string) map[string]finding {
	out := map[string]finding{}
	for _, f := range rep.Findings {
		if f.Package == pkg {
			out[f.ID] = f
		}
	}
	return out
}

// widgetSPDX writes an SPDX 2.3 document of one widget package with the
// given versionInfo ("" leaves it out) and CPE.
func widgetSPDX(t *testing.T, path, versionInfo, cpe string) {
	t.Helper()
	pkg := map[string]any{
		"SPDXID": "SPDXRef-widget", "name": "widget", "downloadLocation": "NOASSERTION",
		"externalRefs": []map[string]string{{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe}},
	}
	if versionInfo != "" {
		pkg["versionInfo"] = versionInfo
	}
	writeJSONFile(t, path, map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": "widget", "documentNamespace": "https://stella-ops.org/spdx/widget",
		"creationInfo": map[string]any{"created": "2030-01-01T00:00:00Z", "creators": []string{"Tool: stella-tests"}},
		"packages":     []map[string]any{pkg},
	})
}

func TestScanCPEAnyVersionUsesSBOMVersion(t *testing.T) {
	e := widgetKitEnv(t)
	const anyVersion = "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"

	// The fixed version 2.5 is outside the range of CVE-2030-0501.
	for _, format := range []string{"cyclonedx", "spdx"} {
		path := filepath.Join(e.dir, "fixed-"+format+".json")
		if format == "spdx" {
			widgetSPDX(t, path, "2.5", anyVersion)
		} else {
			writeCycloneDX(t, path, []sbomPackage{{name: "widget", version: "2.5", cpe: anyVersion}})
		}
		rep, _ := e.scan(path)
		found := findingsByID(rep, "widget")
		if f, ok := found["CVE-2030-0501"]; ok {
			t.Errorf("%s: widget 2.5 matched CVE-2030-0501 (<2.0), possiblyAffected %q", format, f.PossiblyAffected)
		}
		if f, ok := found["CVE-2030-0502"]; !ok || !strings.Contains(f.PossiblyAffected, "version 2.5 could not be compared") {
			t.Errorf("%s: widget 2.5 and CVE-2030-0502 (version -): found %v, possiblyAffected %q, want the 2.5 reason",
				format, ok, f.PossiblyAffected)
		}
		if f := found["CVE-2030-0502"]; f.Version != "2.5" {
			t.Errorf("%s: finding version %q, want 2.5", format, f.Version)
		}
	}

	// 1.5 is inside the range.
	inside := filepath.Join(e.dir, "inside.cdx.json")
	writeCycloneDX(t, inside, []sbomPackage{{name: "widget", version: "1.5", cpe: anyVersion}})
	rep, _ := e.scan(inside)
	if f, ok := findingsByID(rep, "widget")["CVE-2030-0501"]; !ok || f.PossiblyAffected != "" {
		t.Errorf("widget 1.5: CVE-2030-0501 found %v, possiblyAffected %q, want confirmed", ok, f.PossiblyAffected)
	}

	// Without any version, the range cannot be checked. NOASSERTION is
	// no version.
	for _, versionInfo := range []string{"", "NOASSERTION", "NONE"} {
		path := filepath.Join(e.dir, "unversioned.spdx.json")
		widgetSPDX(t, path, versionInfo, anyVersion)
		rep, _ := e.scan(path)
		found := findingsByID(rep, "widget")
		f, ok := found["CVE-2030-0501"]
		if !ok || !strings.Contains(f.PossiblyAffected, `no version of acme:widget was given (CPE version "*")`) {
			t.Errorf("versionInfo %q: CVE-2030-0501 found %v, possiblyAffected %q, want the no-version reason", versionInfo, ok, f.PossiblyAffected)
		}
		if f.Version != "" {
			t.Errorf("versionInfo %q: finding version %q, want none", versionInfo, f.Version)
		}
		// A criterion with version "-" covers the product whatever its
		// version.
		if f, ok := found["CVE-2030-0502"]; !ok || f.PossiblyAffected != "" {
			t.Errorf("versionInfo %q: CVE-2030-0502 found %v, possiblyAffected %q, want confirmed", versionInfo, ok, f.PossiblyAffected)
		}
	}

	// A CPE with version "-" (NA) is looked up as it is, so the SBOM's
	// version does not turn the NA match into a possible one.
	na := filepath.Join(e.dir, "na.cdx.json")
	writeCycloneDX(t, na, []sbomPackage{{name: "widget", version: "2.5", cpe: "cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}})
	rep, _ = e.scan(na)
	found := findingsByID(rep, "widget")
	if f, ok := found["CVE-2030-0502"]; !ok || f.PossiblyAffected != "" {
		t.Errorf("CPE version -: CVE-2030-0502 found %v, possiblyAffected %q, want confirmed", ok, f.PossiblyAffected)
	}
	if _, ok := found["CVE-2030-0501"]; ok {
		t.Errorf("CPE version -: CVE-2030-0501 (<2.0) matched")
	}
	if len(rep.VersionMismatches) != 0 {
		t.Errorf("CPE version -: version mismatches %+v, want none", rep.VersionMismatches)
	}
}

func TestDBLookupCPEAnyVersionPossiblyAffected(t *testing.T) {
	e := widgetKitEnv(t)
	recs := e.lookupJSON("--cpe", "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*")
	possibly := map[string]string{}
	for _, r := range recs {
		possibly[r.ID] = r.PossiblyAffected()
	}
	if r, ok := possibly["CVE-2030-0501"]; !ok || !strings.Contains(r, "no version of acme:widget was given") {
		t.Errorf("db lookup --cpe with version *: CVE-2030-0501 found %v, possibly affected %q, want the no-version reason", ok, r)
	}
	if r, ok := possibly["CVE-2030-0502"]; !ok || r != "" {
		t.Errorf("db lookup --cpe with version *: CVE-2030-0502 found %v, possibly affected %q, want confirmed", ok, r)
	}
	text := e.must("db", "lookup", "--cpe", "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*")
	if !strings.Contains(text, "possibly   affected: no version of acme:widget was given") {
		t.Errorf("db lookup text does not mark CVE-2030-0501:\n%s", text)
	}
}

func TestScanCPEIncomparableVersionPossiblyAffected(t *testing.T) {
	e := widgetKitEnv(t)
	long := strings.Repeat("1", 100000)
	cpe := "cpe:2.3:a:acme:widget:" + long + ":*:*:*:*:*:*:*"
	recs := e.lookupJSON("--cpe", cpe)
	var reason string
	for _, r := range recs {
		if r.ID == "CVE-2030-0501" {
			reason = r.PossiblyAffected()
		}
	}
	if !strings.Contains(reason, "could not be compared with the affected versions <2.0") {
		t.Errorf("db lookup of a 100000-digit version: CVE-2030-0501 possibly affected %q, want the range named", reason)
	}
	if len(reason) > 400 {
		t.Errorf("db lookup of a 100000-digit version: reason is %d bytes, want the version shortened", len(reason))
	}

	path := filepath.Join(e.dir, "long.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "widget", version: "1.0_beta", cpe: "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"}})
	rep, _ := e.scan(path)
	f, ok := findingsByID(rep, "widget")["CVE-2030-0501"]
	if !ok || !strings.Contains(f.PossiblyAffected, `cannot parse "1.0_beta"`) {
		t.Errorf("scan of widget 1.0_beta: CVE-2030-0501 found %v, possiblyAffected %q, want the unparsable version named", ok, f.PossiblyAffected)
	}
}

func TestScanEncodesSBOMVersionInPURL(t *testing.T) {
	e := widgetKitEnv(t)
	path := filepath.Join(e.dir, "at.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "at-version", version: "1.0@x", purl: "pkg:npm/at-version"}})
	rep, r := e.scan(path)
	if len(rep.Skipped) != 0 {
		t.Errorf("skipped %+v, want at-version 1.0@x scanned", rep.Skipped)
	}
	f, ok := findingsByID(rep, "at-version")["AT-1"]
	if !ok || f.PossiblyAffected != "" || f.Version != "1.0@x" {
		t.Errorf("at-version 1.0@x: AT-1 found %v, possiblyAffected %q, version %q; want confirmed at 1.0@x:\n%s",
			ok, f.PossiblyAffected, f.Version, r.stdout)
	}
}

func TestScanReportsPURLVersionMismatch(t *testing.T) {
	e := widgetKitEnv(t)
	path := filepath.Join(e.dir, "mismatch.cdx.json")
	const purl = "pkg:npm/stella-demo-untar@2.3.0"
	writeCycloneDX(t, path, []sbomPackage{{name: "stella-demo-untar", version: "2.4.1", purl: purl}})
	rep, _ := e.scan(path)
	if len(rep.Findings) == 0 {
		t.Fatalf("the purl's affected version 2.3.0 has no findings")
	}
	for _, f := range rep.Findings {
		if f.Version != "2.3.0" || f.SBOMVersion != "2.4.1" {
			t.Errorf("finding %s: version %q, sbomVersion %q, want 2.3.0 looked up and the SBOM's 2.4.1", f.ID, f.Version, f.SBOMVersion)
		}
	}
	want := versionMismatch{Package: "stella-demo-untar", SBOMVersion: "2.4.1", Identifier: purl, Version: "2.3.0"}
	if len(rep.VersionMismatches) != 1 || rep.VersionMismatches[0] != want {
		t.Errorf("versionMismatches = %+v, want [%+v]", rep.VersionMismatches, want)
	}

	text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(text, "version mismatch stella-demo-untar 2.4.1: "+purl+" names version 2.3.0, which was looked up") {
		t.Errorf("scan text lacks the version warning:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "stella-demo-untar ") && !strings.HasPrefix(line, "stella-demo-untar  2.3.0 ") {
			t.Errorf("table row %q does not show the looked-up version 2.3.0", line)
		}
	}

	// An rpm purl writes the epoch as a qualifier, and SBOM tools write it
	// in the version: the two agree.
	rpm := filepath.Join(e.dir, "rpm.cdx.json")
	writeCycloneDX(t, rpm, []sbomPackage{{name: "openssl", version: "1:3.0.7-27.el9",
		purl: "pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=1&distro=rhel-9.3"}})
	rep, _ = e.scan(rpm)
	if len(rep.VersionMismatches) != 0 {
		t.Errorf("rpm with an epoch: versionMismatches = %+v, want none", rep.VersionMismatches)
	}
}

func TestScanJSONCarriesNVDSummary(t *testing.T) {
	e := widgetKitEnv(t)
	path := filepath.Join(e.dir, "widget.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "widget", version: "1.5", cpe: "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"}})
	raw := e.must("scan", "--sbom", path, "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	var rep scanReport
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatalf("decoding scan output: %v\n%s", err, raw)
	}
	if f := findingsByID(rep, "widget")["CVE-2030-0501"]; f.Summary != "acme widget overflow" {
		t.Errorf("CVE-2030-0501 summary %q, want the NVD description\n%s", f.Summary, raw)
	}
	text := e.must("scan", "--sbom", path, "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(text, "acme widget overflow") {
		t.Errorf("scan text lacks the NVD description:\n%s", text)
	}
}

func TestScanCPEUnwritableSBOMVersion(t *testing.T) {
	e := widgetKitEnv(t)
	const anyVersion = "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"
	cases := []struct {
		version, reason string
	}{
		{"1.5 (FIPS)", `the SBOM's version "1.5 (FIPS)" could not be written into a CPE, so its leading part 1.5 was looked up`},
		{"1.5–1", `the SBOM's version "1.5–1" could not be written into a CPE, so its leading part 1.5 was looked up`},
		{"2.5 (FIPS)", `the SBOM's version "2.5 (FIPS)" could not be used: version "2.5 (FIPS)" cannot be written into CPE`},
		{"(FIPS) 1.5", `the SBOM's version "(FIPS) 1.5" could not be used`},
	}
	for i, c := range cases {
		path := filepath.Join(e.dir, fmt.Sprintf("unwritable-%d.cdx.json", i))
		writeCycloneDX(t, path, []sbomPackage{{name: "widget", version: c.version, cpe: anyVersion}})
		rep, _ := e.scan(path)
		if len(rep.Skipped) != 0 {
			t.Errorf("version %q: skipped %+v, want the package scanned", c.version, rep.Skipped)
		}
		f, ok := findingsByID(rep, "widget")["CVE-2030-0501"]
		if !ok || !strings.Contains(f.PossiblyAffected, c.reason) {
			t.Errorf("version %q: CVE-2030-0501 found %v, possiblyAffected %q, want it to contain %q",
				c.version, ok, f.PossiblyAffected, c.reason)
		}
		if f.Version != c.version {
			t.Errorf("version %q: finding version %q, want the SBOM's", c.version, f.Version)
		}
	}

	// A build tag after "-" keeps the version inside the range.
	path := filepath.Join(e.dir, "fips.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{{name: "widget", version: "1.5-fips", cpe: anyVersion}})
	rep, _ := e.scan(path)
	if f, ok := findingsByID(rep, "widget")["CVE-2030-0501"]; !ok || f.PossiblyAffected != "" {
		t.Errorf("widget 1.5-fips: CVE-2030-0501 found %v, possiblyAffected %q, want confirmed", ok, f.PossiblyAffected)
	}
}
