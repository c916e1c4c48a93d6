package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	log4ShellVector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H" // 10.0 CRITICAL
	lowVector       = "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N" // 1.6 LOW
	v4Vector        = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"
)

// CVSS v4.0 vectors: v4Vector scores 6.9 MEDIUM and v4MaxVector 10.0
// CRITICAL. partialV4Vector lacks the base metrics from PR on, so it has
// no score.
const (
	v4MaxVector     = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"
	partialV4Vector = "CVSS:4.0/AV:N/AC:L/AT:N"
)

// severityKitEnv returns an environment whose active kit contains NVD
// records of acme:logger, with a CVSS v3.1 vector of 10.0, and of
// acme:lamp, one with a v3.1 vector of 1.6 and one with only a v4.0
// vector of 10.0, all for versions below 2.0. It also contains three OSV
// records of npm pad: PAD-1 with a CVSS v4.0 vector of 6.9 and GHSA's
// rating MODERATE, PAD-2 with no severity, and PAD-3 with a partial v4.0
// vector and GHSA's rating HIGH.
func severityKitEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	nvd, osv := feedDirs(t, e)
	withMetric := func(entry, vector string) string {
		metric := `"metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":` +
			`{"version":"3.1","vectorString":"` + vector + `"}}]},`
		return strings.Replace(entry, `"configurations":`, metric+`"configurations":`, 1)
	}
	withV4Metric := func(entry, vector, rating string) string {
		metric := `"metrics":{"cvssMetricV40":[{"source":"nvd@nist.gov","type":"Primary","cvssData":` +
			`{"version":"4.0","vectorString":"` + vector + `","baseSeverity":"` + rating + `"}}]},`
		return strings.Replace(entry, `"configurations":`, metric+`"configurations":`, 1)
	}
	criterion := func(product string) string {
		return `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:` + product + `:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`
	}

	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` +
		withMetric(nvdCVE("CVE-2030-0901", "remote code execution in acme logger", criterion("logger")), log4ShellVector) + "," +
		withMetric(nvdCVE("CVE-2030-0902", "minor leak in acme lamp", criterion("lamp")), lowVector) + "," +
		withV4Metric(nvdCVE("CVE-2030-0903", "takeover of acme lamp", criterion("lamp")), v4MaxVector, "CRITICAL") + `]}`
	if err := os.WriteFile(filepath.Join(nvd, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}

	padRecord := func(id string, extra map[string]any) {
		rec := map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": "2030-01-01T00:00:00Z", "summary": "a flaw in pad",
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": "npm", "name": "pad"},
				"ranges": []map[string]any{{"type": "SEMVER", "events": []map[string]string{
					{"introduced": "0"}, {"fixed": "2.0.0"}}}},
			}},
		}
		for k, v := range extra {
			rec[k] = v
		}
		writeJSONFile(t, filepath.Join(osv, id+".json"), rec)
	}
	padRecord("PAD-1", map[string]any{
		"severity":          []map[string]string{{"type": "CVSS_V4", "score": v4Vector}},
		"database_specific": map[string]any{"severity": "MODERATE"},
	})
	padRecord("PAD-2", nil)
	padRecord("PAD-3", map[string]any{
		"severity":          []map[string]string{{"type": "CVSS_V4", "score": partialV4Vector}},
		"database_specific": map[string]any{"severity": "HIGH"},
	})
	padRecord("PAD-4", map[string]any{
		"severity": []map[string]string{{"type": "CVSS_V4", "score": partialV4Vector}},
	})
	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+nvd, "--feed", "osv="+osv))
	return e
}

// severitySBOM writes a CycloneDX SBOM of logger and lamp, known by CPEs
// with version ANY, and of pad, known by purl, all at version 1.0.
func severitySBOM(t *testing.T, e *env) string {
	t.Helper()
	path := filepath.Join(e.dir, "severity.cdx.json")
	writeCycloneDX(t, path, []sbomPackage{
		{name: "lamp", version: "1.0", cpe: "cpe:2.3:a:acme:lamp:*:*:*:*:*:*:*:*"},
		{name: "logger", version: "1.0", purl: "pkg:generic/acme/logger@1.0", cpe: "cpe:2.3:a:acme:logger:*:*:*:*:*:*:*:*"},
		{name: "pad", version: "1.0", purl: "pkg:npm/pad@1.0"},
	})
	return path
}

func TestScanJSONSeverityFields(t *testing.T) {
	e := severityKitEnv(t)
	rep, _ := e.scan(severitySBOM(t, e))

	logger := findingsByID(rep, "logger")["CVE-2030-0901"]
	if logger.ID == "" {
		t.Fatalf("no finding CVE-2030-0901 for logger in %+v", rep.Findings)
	}
	if logger.Severity != log4ShellVector {
		t.Errorf("severity = %q, want the vector %q unchanged", logger.Severity, log4ShellVector)
	}
	if logger.SeverityScore == nil || *logger.SeverityScore != 10.0 {
		t.Errorf("severityScore = %v, want 10.0", logger.SeverityScore)
	}
	if logger.SeverityRating != "CRITICAL" {
		t.Errorf("severityRating = %q, want CRITICAL", logger.SeverityRating)
	}
	if logger.CVSSVersion != "3.1" || logger.CVSSVector != log4ShellVector {
		t.Errorf("cvssVersion %q, cvssVector %q, want 3.1 and %q", logger.CVSSVersion, logger.CVSSVector, log4ShellVector)
	}

	lamp := findingsByID(rep, "lamp")["CVE-2030-0903"]
	if lamp.SeverityScore == nil || *lamp.SeverityScore != 10.0 || lamp.SeverityRating != "CRITICAL" {
		t.Errorf("CVE-2030-0903: score %s, rating %q; want 10.0 CRITICAL from the CVSS 4.0 vector",
			scoreText(lamp.SeverityScore), lamp.SeverityRating)
	}
	if lamp.CVSSVersion != "4.0" || lamp.CVSSVector != v4MaxVector || lamp.SeverityNote != "" {
		t.Errorf("CVE-2030-0903: version %q, vector %q, note %q; want 4.0, %q and no note",
			lamp.CVSSVersion, lamp.CVSSVector, lamp.SeverityNote, v4MaxVector)
	}

	pad := findingsByID(rep, "pad")
	if f := pad["PAD-1"]; f.SeverityScore == nil || *f.SeverityScore != 6.9 || f.SeverityRating != "MEDIUM" {
		t.Errorf("PAD-1: score %s, rating %q; want 6.9 MEDIUM from the CVSS 4.0 vector",
			scoreText(f.SeverityScore), f.SeverityRating)
	}
	if f := pad["PAD-1"]; f.CVSSVersion != "4.0" || f.CVSSVector != v4Vector || f.SeverityNote != "" || f.Severity != v4Vector {
		t.Errorf("PAD-1: version %q, vector %q, note %q, severity %q; want 4.0, the vector twice and no note",
			f.CVSSVersion, f.CVSSVector, f.SeverityNote, f.Severity)
	}
	if f := pad["PAD-3"]; f.SeverityScore != nil || f.SeverityRating != "HIGH" {
		t.Errorf("PAD-3: score %s, rating %q; want no score and HIGH from GHSA's rating",
			scoreText(f.SeverityScore), f.SeverityRating)
	}
	if f := pad["PAD-3"]; f.CVSSVector != partialV4Vector || !strings.Contains(f.SeverityNote, "base metric PR is missing") {
		t.Errorf("PAD-3: vector %q, note %q; want the partial vector and the reason it has no score",
			f.CVSSVector, f.SeverityNote)
	}
	if f := pad["PAD-3"]; f.CVSSVersion != "4.0" {
		t.Errorf("PAD-3: version %q, want 4.0 from the partial vector's prefix", f.CVSSVersion)
	}
	if f := pad["PAD-4"]; f.SeverityScore != nil || f.SeverityRating != "" || f.CVSSVersion != "4.0" ||
		!strings.Contains(f.SeverityNote, "base metric PR is missing") {
		t.Errorf("PAD-4: score %s, rating %q, version %q, note %q; want no score or rating, 4.0 and the reason",
			scoreText(f.SeverityScore), f.SeverityRating, f.CVSSVersion, f.SeverityNote)
	}
	if f := pad["PAD-2"]; f.SeverityScore != nil || f.SeverityRating != "" || f.CVSSVersion != "" {
		t.Errorf("PAD-2: score %v, rating %q, version %q; want none for a record without severity",
			f.SeverityScore, f.SeverityRating, f.CVSSVersion)
	}

	// The raw JSON names the fields as documented.
	r := e.run("scan", "--sbom", severitySBOM(t, e), "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	for _, field := range []string{`"severityScore": 10`, `"severityRating": "CRITICAL"`, `"cvssVersion": "3.1"`,
		`"severityScore": 6.9`, `"cvssVersion": "4.0"`, `"severityNote": "invalid CVSS vector`} {
		if !strings.Contains(r.stdout, field) {
			t.Errorf("scan JSON lacks %s:\n%s", field, r.stdout)
		}
	}
}

func TestScanJSONNamesLookedUpCPE(t *testing.T) {
	e := severityKitEnv(t)
	rep, _ := e.scan(severitySBOM(t, e))

	logger := findingsByID(rep, "logger")["CVE-2030-0901"]
	if logger.MatchBy != "cpe" {
		t.Fatalf("matchedBy = %q, want cpe", logger.MatchBy)
	}
	if want := "cpe:2.3:a:acme:logger:1.0:*:*:*:*:*:*:*"; logger.CPE != want {
		t.Errorf("cpe = %q, want the CPE looked up with the SBOM's version put in, %q", logger.CPE, want)
	}
	if logger.PURL != "" {
		t.Errorf("purl = %q, want none, because the purl did not give the finding", logger.PURL)
	}
	pad := findingsByID(rep, "pad")["PAD-1"]
	if pad.MatchBy != "purl" || pad.CPE != "" {
		t.Errorf("PAD-1: matchedBy %q, cpe %q; want purl and no cpe", pad.MatchBy, pad.CPE)
	}
}

func TestScanTextSeverityColumn(t *testing.T) {
	e := severityKitEnv(t)
	text := e.must("scan", "--sbom", severitySBOM(t, e), "--env-file", filepath.Join(e.dir, "none.env"))
	lines := strings.Split(text, "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], "SEVERITY") {
		t.Fatalf("table header lacks SEVERITY:\n%s", text)
	}
	for id, want := range map[string]string{"CVE-2030-0901": "10.0 CRITICAL", "CVE-2030-0902": "1.6 LOW",
		"CVE-2030-0903": "10.0 CRITICAL", "PAD-1": "6.9 MEDIUM", "PAD-2": "-", "PAD-3": "HIGH",
		"PAD-4": "no score (CVSS 4.0)"} {
		found := false
		for _, line := range lines {
			fields := strings.Fields(line)
			if len(fields) > 3 && fields[2] == id {
				found = true
				if !strings.HasPrefix(strings.Join(fields[3:], " "), want+" ") {
					t.Errorf("row of %s: %q, want severity %q after the ID", id, line, want)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s:\n%s", id, text)
		}
	}
}

func TestScanSortBySeverity(t *testing.T) {
	e := severityKitEnv(t)
	sbom := severitySBOM(t, e)
	ids := func(args ...string) []string {
		r := e.run(append([]string{"scan", "--sbom", sbom, "-o", "json", "--env-file", filepath.Join(e.dir, "none.env")}, args...)...)
		if r.code != 0 {
			t.Fatalf("scan %v: exit %d: %s", args, r.code, r.stderr)
		}
		var rep scanReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range rep.Findings {
			out = append(out, f.ID)
		}
		return out
	}
	if got, want := strings.Join(ids(), " "), "CVE-2030-0902 CVE-2030-0903 CVE-2030-0901 PAD-1 PAD-2 PAD-3 PAD-4"; got != want {
		t.Errorf("default order %s, want %s (by package)", got, want)
	}
	// CVE-2030-0903 and CVE-2030-0901 both score 10.0, so the package
	// orders them. PAD-3 has a rating without a score. PAD-2 and PAD-4 have
	// no rating, so they come last, by ID.
	if got, want := strings.Join(ids("--sort", "severity"), " "),
		"CVE-2030-0903 CVE-2030-0901 PAD-3 PAD-1 CVE-2030-0902 PAD-2 PAD-4"; got != want {
		t.Errorf("--sort severity order %s, want %s", got, want)
	}
	if r := e.run("scan", "--sbom", sbom, "--sort", "score"); r.code != exitUsage || !strings.Contains(r.stderr, "--sort") {
		t.Errorf("--sort score: exit %d, stderr %q; want a usage error that names --sort", r.code, r.stderr)
	}
}

func TestDBLookupShowsSeverityScore(t *testing.T) {
	e := severityKitEnv(t)
	text := e.must("db", "lookup", "CVE-2030-0901")
	if want := "severity   " + log4ShellVector + " (10.0 CRITICAL)"; !strings.Contains(text, want) {
		t.Errorf("lookup text lacks %q:\n%s", want, text)
	}
	text = e.must("db", "lookup", "PAD-1")
	for _, want := range []string{"severity   " + v4Vector + " (6.9 MEDIUM)",
		"severity   MODERATE (the source's rating)"} {
		if !strings.Contains(text, want) {
			t.Errorf("lookup text lacks %q:\n%s", want, text)
		}
	}
	text = e.must("db", "lookup", "PAD-3")
	for _, want := range []string{"severity   " + partialV4Vector + ` (invalid CVSS vector "` + partialV4Vector +
		`": base metric PR is missing)`, "severity   HIGH (the source's rating)"} {
		if !strings.Contains(text, want) {
			t.Errorf("lookup text lacks %q:\n%s", want, text)
		}
	}

	recs := e.lookupJSON("CVE-2030-0901")
	if len(recs) != 1 {
		t.Fatalf("lookup returned %d records, want 1", len(recs))
	}
	var ext struct {
		Rating struct {
			Score       *float64 `json:"score"`
			Rating      string   `json:"rating"`
			CVSSVersion string   `json:"cvss_version"`
			Vector      string   `json:"vector"`
		} `json:"severity_rating"`
	}
	if err := json.Unmarshal(recs[0].DatabaseSpecific["stellaops"], &ext); err != nil {
		t.Fatal(err)
	}
	if ext.Rating.Score == nil || *ext.Rating.Score != 10.0 || ext.Rating.Rating != "CRITICAL" ||
		ext.Rating.CVSSVersion != "3.1" || ext.Rating.Vector != log4ShellVector {
		t.Errorf("severity_rating = %+v, want 10.0 CRITICAL from the CVSS 3.1 vector", ext.Rating)
	}
	if len(recs[0].Severity) != 1 || recs[0].Severity[0].Score != log4ShellVector {
		t.Errorf("severity = %+v, want the vector unchanged", recs[0].Severity)
	}
}

// scoreText formats a severity score for a failure message.
func scoreText(score *float64) string {
	if score == nil {
		return "none"
	}
	return strconv.FormatFloat(*score, 'f', 1, 64)
}
