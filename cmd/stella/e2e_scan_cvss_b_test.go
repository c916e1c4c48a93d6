package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// v4ThreatVector is a CVSS v4.0 vector whose base metrics score 9.3
// CRITICAL, with threat and environmental metrics that the base score
// (CVSS-B) leaves out.
const v4ThreatVector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U/CR:L/IR:L/AR:L/MAV:P/MVC:N"

// cvssBKitEnv returns an environment whose active kit contains two OSV
// records of npm wick below 2.0.0: WICK-1 with v4ThreatVector and WICK-2
// with v4Vector, which sets base metrics only.
func cvssBKitEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	_, osv := feedDirs(t, e)
	for id, vector := range map[string]string{"WICK-1": v4ThreatVector, "WICK-2": v4Vector} {
		writeJSONFile(t, filepath.Join(osv, id+".json"), map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": "2030-01-01T00:00:00Z", "summary": "a flaw in wick",
			"severity": []map[string]string{{"type": "CVSS_V4", "score": vector}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": "npm", "name": "wick"},
				"ranges": []map[string]any{{"type": "SEMVER", "events": []map[string]string{
					{"introduced": "0"}, {"fixed": "2.0.0"}}}},
			}},
		})
	}
	e.importJSON(e.buildKit("kit.tar", "--feed", "osv="+osv))
	return e
}

func TestScanLabelsCVSSBScore(t *testing.T) {
	e := cvssBKitEnv(t)
	sbom := filepath.Join(e.dir, "wick.cdx.json")
	writeCycloneDX(t, sbom, []sbomPackage{{name: "wick", version: "1.0", purl: "pkg:npm/wick@1.0"}})

	rep, _ := e.scan(sbom)
	wick := findingsByID(rep, "wick")
	for _, id := range []string{"WICK-1", "WICK-2"} {
		f := wick[id]
		if f.ID == "" {
			t.Fatalf("no finding %s in %+v", id, rep.Findings)
		}
		if f.CVSSNomenclature != "CVSS-B" {
			t.Errorf("%s: cvssNomenclature = %q, want CVSS-B for a CVSS 4.0 score", id, f.CVSSNomenclature)
		}
	}
	if f := wick["WICK-1"]; f.SeverityScore == nil || *f.SeverityScore != 9.3 || f.CVSSVector != v4ThreatVector {
		t.Errorf("WICK-1: score %s, vector %q; want 9.3 from the base metrics of %q",
			scoreText(f.SeverityScore), f.CVSSVector, v4ThreatVector)
	}

	r := e.run("scan", "--sbom", sbom, "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	if want := `"cvssNomenclature": "CVSS-B"`; !strings.Contains(r.stdout, want) {
		t.Errorf("scan JSON lacks %s:\n%s", want, r.stdout)
	}

	text := e.must("scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env"))
	for id, want := range map[string]string{"WICK-1": "9.3 CRITICAL, CVSS-B ", "WICK-2": "6.9 MEDIUM "} {
		found := false
		for _, line := range strings.Split(text, "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && fields[2] == id {
				found = true
				if !strings.HasPrefix(strings.Join(fields[3:], " ")+" ", want) {
					t.Errorf("row of %s: %q, want severity %q after the ID", id, line, want)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s:\n%s", id, text)
		}
	}

	lookup := e.must("db", "lookup", "WICK-1")
	if want := "severity   " + v4ThreatVector + " (9.3 CRITICAL, CVSS-B)"; !strings.Contains(lookup, want) {
		t.Errorf("lookup text lacks %q:\n%s", want, lookup)
	}
	recs := e.lookupJSON("WICK-1")
	if len(recs) != 1 {
		t.Fatalf("lookup returned %d records, want 1", len(recs))
	}
	var ext struct {
		Rating struct {
			CVSSNomenclature string `json:"cvss_nomenclature"`
		} `json:"severity_rating"`
	}
	if err := json.Unmarshal(recs[0].DatabaseSpecific["stellaops"], &ext); err != nil {
		t.Fatal(err)
	}
	if ext.Rating.CVSSNomenclature != "CVSS-B" {
		t.Errorf("lookup JSON severity_rating.cvss_nomenclature = %q, want CVSS-B", ext.Rating.CVSSNomenclature)
	}
}
