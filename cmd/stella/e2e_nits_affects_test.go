package main

import (
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func TestDescribeAffectedGITRanges(t *testing.T) {
	pkg := vulndb.Package{Ecosystem: "PyPI", Name: "requests"}
	gitRange := vulndb.Range{Type: "GIT", Repo: "https://example.invalid/requests", Events: []vulndb.Event{
		{Introduced: "0"}, {Fixed: "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"}}}
	versionRange := vulndb.Range{Type: "ECOSYSTEM", Events: []vulndb.Event{{Introduced: "2.3.0"}, {Fixed: "2.31.0"}}}
	cases := []struct {
		name   string
		ranges []vulndb.Range
		want   string
	}{
		{"git and version", []vulndb.Range{gitRange, versionRange},
			"PyPI/requests >=2.3.0 <2.31.0 (and 1 GIT commit range, not used for version matching)"},
		{"version only", []vulndb.Range{versionRange}, "PyPI/requests >=2.3.0 <2.31.0"},
		{"git only", []vulndb.Range{gitRange, gitRange},
			"PyPI/requests (2 GIT commit ranges only, not used for version matching)"},
		{"none", nil, "PyPI/requests (all versions)"},
	}
	for _, c := range cases {
		got := describeAffected(vulndb.Affected{Package: pkg, Ranges: c.ranges})
		if got != c.want {
			t.Errorf("%s: describeAffected = %q, want %q", c.name, got, c.want)
		}
	}
}
