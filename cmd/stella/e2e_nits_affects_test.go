package main

import (
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func TestDescribeAffectedRanges(t *testing.T) {
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
		{"none", nil, "PyPI/requests (no ranges or versions: only a lookup without a version matches)"},
		{"unsorted", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Fixed: "2.0.0"}, {Introduced: "1.0.0"}, {Fixed: "4.0.0"}, {Introduced: "3.0.0"}}}},
			"PyPI/requests >=1.0.0 <2.0.0, >=3.0.0 <4.0.0"},
		{"unsorted last_affected", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{LastAffected: "2.3"}, {Introduced: "2.0"}, {Fixed: "1.5"}, {Introduced: "0"}}}},
			"PyPI/requests <1.5, >=2.0 <=2.3"},
		// PEP 440 orders 1.0rc1 below 1.0, which the text order does not.
		{"ecosystem order", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Fixed: "1.0"}, {Introduced: "1.0rc1"}}}},
			"PyPI/requests >=1.0rc1 <1.0"},
		{"limit", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Limit: "2.0.0"}, {Introduced: "1.0.0"}}}},
			"PyPI/requests >=1.0.0 (limit <2.0.0)"},
		{"limits", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Introduced: "1.0.0"}, {Limit: "3.0.0"}, {Limit: "2.0.0"}}}},
			"PyPI/requests >=1.0.0 (limits <2.0.0, <3.0.0)"},
		{"limit star", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Introduced: "1.0.0"}, {Limit: "2.0.0"}, {Limit: "*"}}}},
			"PyPI/requests >=1.0.0"},
		{"fixed only", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{{Fixed: "2.0.0"}}}},
			"PyPI/requests (no version inside its ranges)"},
		{"empty span", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Introduced: "1.0"}, {Fixed: "1.0"}, {Introduced: "2.0"}, {Fixed: "2.1"}}}},
			"PyPI/requests >=2.0 <2.1"},
		{"fixed and introduced again", []vulndb.Range{{Type: "ECOSYSTEM", Events: []vulndb.Event{
			{Introduced: "0"}, {Fixed: "1.0"}, {Introduced: "1.0"}, {Fixed: "1.0.1"}}}},
			"PyPI/requests <1.0, >=1.0 <1.0.1"},
	}
	for _, c := range cases {
		got := describeAffected(vulndb.Affected{Package: pkg, Ranges: c.ranges})
		if got != c.want {
			t.Errorf("%s: describeAffected = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDescribeAffectedPackage(t *testing.T) {
	gitOnly := []vulndb.Range{{Type: "GIT", Repo: "https://example.invalid/app", Events: []vulndb.Event{
		{Introduced: "0"}, {Fixed: "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"}}}}
	cases := []struct {
		name string
		pkg  vulndb.Package
		want string
	}{
		{"no package", vulndb.Package{}, "(no package) (1 GIT commit range only, not used for version matching)"},
		{"purl only", vulndb.Package{PURL: "pkg:github/example/app"},
			"pkg:github/example/app (1 GIT commit range only, not used for version matching)" + unresolvedNote},
		{"no name", vulndb.Package{Ecosystem: "npm"},
			"npm/(no name) (1 GIT commit range only, not used for version matching)" + unresolvedNote},
		{"no ecosystem", vulndb.Package{Name: "app"},
			"(no ecosystem)/app (1 GIT commit range only, not used for version matching)" + unresolvedNote},
	}
	for _, c := range cases {
		if got := describeAffected(vulndb.Affected{Package: c.pkg, Ranges: gitOnly}); got != c.want {
			t.Errorf("%s: describeAffected = %q, want %q", c.name, got, c.want)
		}
	}
}

const unresolvedNote = " (unresolved-package: no purl lookup or scan matches it)"

// TestDescribeAffectedUnresolved checks that an entry whose package lacks
// its ecosystem or name is marked as one that no purl lookup or scan
// matches, and that other entries are not.
func TestDescribeAffectedUnresolved(t *testing.T) {
	belowThree := []vulndb.Range{{Type: "SEMVER", Events: []vulndb.Event{{Introduced: "0"}, {Fixed: "3.0.0"}}}}
	cases := []struct {
		name string
		pkg  vulndb.Package
		want string
	}{
		{"generic purl", vulndb.Package{PURL: "pkg:generic/openssl"}, "pkg:generic/openssl <3.0.0" + unresolvedNote},
		{"unknown distribution", vulndb.Package{PURL: "pkg:rpm/fedora/flib"}, "pkg:rpm/fedora/flib <3.0.0" + unresolvedNote},
		{"no package", vulndb.Package{}, "(no package) <3.0.0" + unresolvedNote},
		{"no name", vulndb.Package{Ecosystem: "npm"}, "npm/(no name) <3.0.0" + unresolvedNote},
		{"full package", vulndb.Package{Ecosystem: "npm", Name: "app", PURL: "pkg:npm/app"}, "npm/app <3.0.0"},
	}
	for _, c := range cases {
		if got := describeAffected(vulndb.Affected{Package: c.pkg, Ranges: belowThree}); got != c.want {
			t.Errorf("%s: describeAffected = %q, want %q", c.name, got, c.want)
		}
	}
	versionsOnly := vulndb.Affected{Versions: []string{"1.0"}}
	if got, want := describeAffected(versionsOnly), "(no package) 1 listed version"; got != want {
		t.Errorf("versions without a package: describeAffected = %q, want %q", got, want)
	}
}
