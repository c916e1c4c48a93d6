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
