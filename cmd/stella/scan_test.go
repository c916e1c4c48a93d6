package main

import (
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func TestSummaryLineFallsBackToDetails(t *testing.T) {
	cases := []struct {
		rec  vulndb.Record
		want string
	}{
		{vulndb.Record{Summary: "Heap overflow in libwebp", Details: "Long text."}, "Heap overflow in libwebp"},
		{vulndb.Record{Details: "Heap buffer overflow in libwebp\nin Google Chrome  prior to 116."}, "Heap buffer overflow in libwebp in Google Chrome prior to 116."},
		{vulndb.Record{}, ""},
	}
	for _, c := range cases {
		if got := summaryLine(c.rec); got != c.want {
			t.Errorf("summaryLine(%+v) = %q, want %q", c.rec, got, c.want)
		}
	}
}

func TestScanSummaryNamesOneFinding(t *testing.T) {
	rep := &scanReport{Packages: 1, SBOM: "sbom.json", Findings: []finding{{Package: "lodash", Version: "4.17.20", ID: "GHSA-35jh-r3h4-6jhm"}}}
	var b strings.Builder
	if err := printScan(&b, rep); err != nil {
		t.Fatal(err)
	}
	if line, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(line, ": 1 finding, 0 skipped") {
		t.Errorf("summary line %q does not name one finding in the singular", line)
	}
}

func TestLookupTextListsEverySeverity(t *testing.T) {
	rec := vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []vulndb.Severity{
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{Type: "CVSS_V4", Score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
	}}
	var b strings.Builder
	if err := printRecords(&b, []vulndb.Record{rec}); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Severity {
		if !strings.Contains(b.String(), "severity   "+s.Score) {
			t.Errorf("lookup text lacks the %s score:\n%s", s.Type, b.String())
		}
	}
}

func TestMirrorTargetNamesDigestOnce(t *testing.T) {
	d := "sha256:" + strings.Repeat("b", 64)
	for target, want := range map[string]string{
		"reg.local/a:1.0":  "reg.local/a:1.0@" + d,
		"reg.local/a@" + d: "reg.local/a@" + d,
	} {
		if got := withDigest(target, d); got != want {
			t.Errorf("withDigest(%q) = %q, want %q", target, got, want)
		}
	}
}
