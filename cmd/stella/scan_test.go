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
