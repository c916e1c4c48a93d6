package main

import (
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

// TestLookupTextInvalidPrefixMessages checks the lookup lines of vectors
// with surrounding spaces, which are scored, and with a lower-case prefix,
// whose message names the expected prefixes and not CVSS 2.0 metrics.
func TestLookupTextInvalidPrefixMessages(t *testing.T) {
	const vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
	rec := vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []vulndb.Severity{
		{Type: "CVSS_V4", Score: " " + vector + " "},
		{Type: "CVSS_V4", Score: strings.ToLower(vector)},
	}}
	var b strings.Builder
	if err := printRecords(&b, []vulndb.Record{rec}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"severity   " + vector + " (9.3 CRITICAL)\n",
		"severity   " + strings.ToLower(vector) + " (invalid CVSS vector",
		"does not start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lookup text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CVSS 2.0") {
		t.Errorf("lookup text names CVSS 2.0 for v4.0 vectors:\n%s", out)
	}
}

// TestSeverityTextLabelsBaseScore checks that a CVSS v4.0 score is
// labelled CVSS-B when its vector sets threat or environmental metrics,
// which the score leaves out, and only then.
func TestSeverityTextLabelsBaseScore(t *testing.T) {
	const base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
	cases := map[string]string{
		base:                                     "9.3 CRITICAL",
		base + "/E:U/CR:L/IR:L/AR:L/MAV:P/MVC:N": "9.3 CRITICAL, CVSS-B",
		base + "/MSI:S/MSA:S":                    "9.3 CRITICAL, CVSS-B",
		base + "/E:X/U:Amber":                    "9.3 CRITICAL",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U": "9.8 CRITICAL",
	}
	for vector, want := range cases {
		if got := severityText(vulndb.ScoreVector(vector)); got != want {
			t.Errorf("severityText of %q = %q, want %q", vector, got, want)
		}
	}

	// Scan findings keep the name through findingSeverity.
	rec := vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []vulndb.Severity{{Type: "CVSS_V4", Score: base + "/E:U"}}}
	s := newFindingSeverity(rec)
	if s.CVSSNomenclature != "CVSS-B" {
		t.Errorf("finding cvssNomenclature = %q, want CVSS-B", s.CVSSNomenclature)
	}
	if got := s.severityColumn(); got != "9.3 CRITICAL, CVSS-B" {
		t.Errorf("SEVERITY column = %q, want 9.3 CRITICAL, CVSS-B", got)
	}

	var b strings.Builder
	if err := printRecords(&b, []vulndb.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if want := "severity   " + base + "/E:U (9.3 CRITICAL, CVSS-B)"; !strings.Contains(b.String(), want) {
		t.Errorf("lookup text lacks %q:\n%s", want, b.String())
	}
}
