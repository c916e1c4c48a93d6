package main

import (
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func score(f float64) *float64 { return &f }

func TestSeverityText(t *testing.T) {
	cases := []struct {
		in   vulndb.SeverityRating
		want string
	}{
		{vulndb.SeverityRating{Score: score(9.8), Rating: "CRITICAL", CVSSVersion: "3.1"}, "9.8 CRITICAL"},
		{vulndb.SeverityRating{Score: score(0), Rating: "NONE", CVSSVersion: "3.1"}, "0.0 NONE"},
		{vulndb.SeverityRating{Score: score(10), Rating: "HIGH", CVSSVersion: "2.0"}, "10.0 HIGH"},
		{vulndb.SeverityRating{Rating: "MEDIUM", CVSSVersion: "4.0"}, "MEDIUM"},
		{vulndb.SeverityRating{Rating: "HIGH"}, "HIGH"},
		{vulndb.SeverityRating{CVSSVersion: "4.0"}, "no score (CVSS 4.0)"},
		{vulndb.SeverityRating{Note: "invalid CVSS vector"}, "-"},
		{vulndb.SeverityRating{}, "-"},
	}
	for _, c := range cases {
		if got := severityText(c.in); got != c.want {
			t.Errorf("severityText(%+v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSortFindingsBySeverity(t *testing.T) {
	f := func(pkg, id string, s *float64, rating string) finding {
		return finding{Package: pkg, ID: id, findingSeverity: findingSeverity{SeverityScore: s, SeverityRating: rating}}
	}
	findings := []finding{
		f("a", "NONE-1", nil, ""),
		f("a", "V2-10", score(10), "HIGH"),
		f("b", "LOW-1", score(1.6), "LOW"),
		f("a", "WORD-CRIT", nil, "CRITICAL"),
		f("c", "CRIT-9.0", score(9.0), "CRITICAL"),
		f("b", "CRIT-9.8", score(9.8), "CRITICAL"),
		f("a", "CRIT-9.8", score(9.8), "CRITICAL"),
		f("a", "MED-WORD", nil, "MEDIUM"),
	}
	sortFindingsBySeverity(findings)
	var got []string
	for _, x := range findings {
		got = append(got, x.Package+"/"+x.ID)
	}
	want := "a/CRIT-9.8 b/CRIT-9.8 c/CRIT-9.0 a/WORD-CRIT a/V2-10 a/MED-WORD b/LOW-1 a/NONE-1"
	if strings.Join(got, " ") != want {
		t.Errorf("order\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}

func TestLookupTextShowsScores(t *testing.T) {
	rec := vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []vulndb.Severity{
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{Type: "CVSS_V4", Score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N"},
	}}
	var b strings.Builder
	if err := printRecords(&b, []vulndb.Record{rec}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"severity   CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H (9.8 CRITICAL)",
		"severity   CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N (9.3 CRITICAL)",
		`severity   CVSS:3.1/AV:N (invalid CVSS vector "CVSS:3.1/AV:N": base metric AC is missing)`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lookup text lacks %q:\n%s", want, b.String())
		}
	}
}
