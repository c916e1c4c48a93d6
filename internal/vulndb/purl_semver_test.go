package vulndb

import (
	"strings"
	"testing"
)

// semverRecord returns a record with one SEMVER range for a package.
func semverRecord(id, ecosystem, name string, events ...Event) Record {
	return Record{ID: id, Modified: "2026-01-01T00:00:00Z", Affected: []Affected{{
		Package: Package{Ecosystem: ecosystem, Name: name},
		Ranges:  []Range{{Type: "SEMVER", Events: events}},
	}}}
}

// lookupOne runs purl through LookupPURL and checks that it returns the
// record IDs want with no error. It returns the records.
func lookupOne(t *testing.T, db *DB, purl, want string) []Record {
	t.Helper()
	recs, err := db.LookupPURL(purl)
	if err != nil {
		t.Errorf("LookupPURL(%s): %v", purl, err)
		return nil
	}
	if got := ids(recs); got != want {
		t.Errorf("LookupPURL(%s) = %q, want %q", purl, got, want)
		return nil
	}
	return recs
}

// TestLookupPURLSemverRangeEcosystemVersion checks that a version that is
// valid in its ecosystem but not in SemVer is compared with SEMVER ranges
// in the ecosystem's order, which gives a confirmed match or none.
func TestLookupPURLSemverRangeEcosystemVersion(t *testing.T) {
	db := purlTestDB(t,
		semverRecord("PYPI-1", "PyPI", "post", Event{Introduced: "1.0.0"}, Event{Fixed: "1.1.0"}),
		semverRecord("MAVEN-1", "Maven", "org.example:final", Event{Introduced: "0"}, Event{Fixed: "2.0.1"}),
		semverRecord("GEM-1", "RubyGems", "four", Event{Introduced: "1.2.3"}, Event{Fixed: "1.2.4"}),
		semverRecord("GEM-2", "RubyGems", "pre", Event{Introduced: "0"}, Event{LastAffected: "0.9.0"},
			Event{Introduced: "1.0.0-alpha"}, Event{Fixed: "1.0.0"}),
		semverRecord("NUGET-1", "NuGet", "four", Event{Introduced: "1.2.3"}, Event{Fixed: "1.2.4"}),
	)
	cases := []struct{ purl, want string }{
		// PyPI post-releases and a release candidate, none of them SemVer.
		{"pkg:pypi/post@1.0.post1", "PYPI-1"},
		{"pkg:pypi/post@1.1.0rc1", "PYPI-1"},
		{"pkg:pypi/post@1.1.post1", ""},
		{"pkg:pypi/post@0.9.post1", ""},
		// Maven orders "2.0.1.Final" equal to the fixed version 2.0.1.
		{"pkg:maven/org.example/final@2.0.0.Final", "MAVEN-1"},
		{"pkg:maven/org.example/final@2.0.1.Final", ""},
		{"pkg:gem/four@1.2.3.4", "GEM-1"},
		{"pkg:gem/four@1.2.4.1", ""},
		// RubyGems orders the pre-release "1.0.0.pre" below 1.0.0 and above
		// the SemVer pre-release 1.0.0-alpha.
		{"pkg:gem/pre@1.0.0.pre", "GEM-2"},
		{"pkg:gem/pre@0.9.0.1", ""},
		{"pkg:nuget/four@1.2.3.4", "NUGET-1"},
		{"pkg:nuget/four@1.2.4.1", ""},
	}
	for _, c := range cases {
		for _, r := range lookupOne(t, db, c.purl, c.want) {
			if reason := r.PossiblyAffected(); reason != "" {
				t.Errorf("LookupPURL(%s): %s is marked possibly affected (%q), want a confirmed match", c.purl, r.ID, reason)
			}
		}
	}

	// A version that SemVer parses is still compared in SemVer. SemVer
	// ignores build metadata, so 1.1.0 equals the fixed version "1.1.0+1"
	// and is not affected, while PEP 440 would place it below "1.1.0+1".
	db = purlTestDB(t,
		semverRecord("PYPI-2", "PyPI", "build", Event{Introduced: "0"}, Event{Fixed: "1.1.0+1"}),
		semverRecord("GO-1", "Go", "example.com/mod", Event{Introduced: "1.0.0"}, Event{Fixed: "1.0.2"}),
	)
	lookupOne(t, db, "pkg:pypi/build@1.1.0", "")
	lookupOne(t, db, "pkg:pypi/build@1.0.9", "PYPI-2")
	for _, r := range lookupOne(t, db, "pkg:golang/example.com/mod@v1.0.1", "GO-1") {
		if reason := r.PossiblyAffected(); reason != "" {
			t.Errorf("GO-1 is marked possibly affected (%q), want a confirmed match", reason)
		}
	}
	// Go versions are SemVer, so a version that SemVer rejects is not a
	// valid Go version, and the range could not be compared with it.
	for _, r := range lookupOne(t, db, "pkg:golang/example.com/mod@v1.0.post1", "GO-1") {
		if want := `version "v1.0.post1" of example.com/mod is not a valid Go version`; !strings.Contains(r.PossiblyAffected(), want) {
			t.Errorf("GO-1 possibly affected reason %q lacks %q", r.PossiblyAffected(), want)
		}
	}
}

// TestLookupPURLSemverBoundInvalidInEcosystem checks a SEMVER range
// version that SemVer parses but the ecosystem's order does not. Compared
// with a version that only the ecosystem's order parses, the record is
// possibly affected, and the reason names the versions, the package and
// the ecosystem.
func TestLookupPURLSemverBoundInvalidInEcosystem(t *testing.T) {
	// PEP 440 has no pre-release of several dotted parts such as "x.7.z.92".
	db := purlTestDB(t, semverRecord("PYPI-3", "PyPI", "odd", Event{Introduced: "0"}, Event{Fixed: "1.0.0-x.7.z.92"}))

	recs := lookupOne(t, db, "pkg:pypi/odd@1.0.post1", "PYPI-3")
	for _, r := range recs {
		reason := r.PossiblyAffected()
		for _, want := range []string{`version "1.0.post1" of odd`, `"1.0.0-x.7.z.92"`, "not a valid PyPI version"} {
			if !strings.Contains(reason, want) {
				t.Errorf("possibly affected reason %q lacks %q", reason, want)
			}
		}
	}

	// SemVer versions are compared in SemVer, which parses the bound.
	for _, r := range lookupOne(t, db, "pkg:pypi/odd@0.9.0", "PYPI-3") {
		if reason := r.PossiblyAffected(); reason != "" {
			t.Errorf("LookupPURL(odd@0.9.0): marked possibly affected (%q), want a confirmed match", reason)
		}
	}
	lookupOne(t, db, "pkg:pypi/odd@1.0.0", "")
}

// TestLookupPURLSemverBoundOnlyEcosystemParses checks a SEMVER range with
// a version that only the ecosystem's order parses, such as Maven
// "2.0.0.Final", against a query that SemVer parses. The range is compared
// in the ecosystem's order, and the match is confirmed or absent.
func TestLookupPURLSemverBoundOnlyEcosystemParses(t *testing.T) {
	db := purlTestDB(t,
		semverRecord("MAVEN-2", "Maven", "org.ex:final", Event{Introduced: "2.0.0.Final"}, Event{Fixed: "2.0.2"}),
		semverRecord("PYPI-4", "PyPI", "pyfixed", Event{Introduced: "1.0.post1"}, Event{Fixed: "2.0"}),
		// PEP 440 cannot parse "1.0.0-x.7.z.92", so this range stays
		// undecided for every query.
		semverRecord("PYPI-5", "PyPI", "neither", Event{Introduced: "1.0.post1"}, Event{Fixed: "1.0.0-x.7.z.92"}),
		// Go has no order of its own, so a SemVer query stays undecided.
		semverRecord("GO-2", "Go", "example.com/final", Event{Introduced: "2.0.0.Final"}, Event{Fixed: "2.0.2"}),
	)
	cases := []struct{ purl, want string }{
		{"pkg:maven/org.ex/final@1.9", ""},
		{"pkg:maven/org.ex/final@2.0.1", "MAVEN-2"},
		{"pkg:maven/org.ex/final@2.0.2", ""},
		{"pkg:pypi/pyfixed@1.0", ""},
		{"pkg:pypi/pyfixed@1.5", "PYPI-4"},
		{"pkg:pypi/pyfixed@2.0.0", ""},
	}
	for _, c := range cases {
		for _, r := range lookupOne(t, db, c.purl, c.want) {
			if reason := r.PossiblyAffected(); reason != "" {
				t.Errorf("LookupPURL(%s): %s is marked possibly affected (%q), want a confirmed match", c.purl, r.ID, reason)
			}
		}
	}

	for _, purl := range []string{"pkg:pypi/neither@0.5", "pkg:golang/example.com/final@v1.9.0"} {
		recs, err := db.LookupPURL(purl)
		if err != nil {
			t.Fatalf("LookupPURL(%s): %v", purl, err)
		}
		if len(recs) != 1 || !strings.Contains(recs[0].PossiblyAffected(), "could not be compared with range version") {
			t.Errorf("LookupPURL(%s) = %v, want one record possibly affected because a range version could not be compared",
				purl, possiblyByID(recs))
		}
	}
}

// TestLookupPURLSemverBoundNotAVersion checks SEMVER ranges with a version
// that SemVer rejects and that is no version, such as "unknown", "*" or
// "1.x". The Maven, RPM and Packagist orders parse almost any text, and
// RubyGems and Alpine parse "x" wildcards, but the range must stay
// undecided, so the record is possibly affected.
func TestLookupPURLSemverBoundNotAVersion(t *testing.T) {
	ecosystems := []struct{ ecosystem, purlPrefix, namePrefix string }{
		{"Maven", "pkg:maven/org.ex/", "org.ex:"},
		{"Red Hat", "pkg:rpm/redhat/", ""},
		{"RubyGems", "pkg:gem/", ""},
		{"Packagist", "pkg:composer/ex/", "ex/"},
		{"Alpine", "pkg:apk/alpine/", ""},
	}
	ranges := []struct {
		name   string
		events []Event
	}{
		{"last-affected-1x", []Event{{Introduced: "0"}, {LastAffected: "1.x"}}},
		{"fixed-unknown", []Event{{Introduced: "0"}, {Fixed: "unknown"}}},
		{"fixed-star", []Event{{Introduced: "0"}, {Fixed: "*"}}},
		{"fixed-12x", []Event{{Introduced: "1.0.0"}, {Fixed: "1.2.x"}}},
		{"limit-next", []Event{{Introduced: "1.0"}, {Limit: "next"}}},
	}
	var recs []Record
	var purls []string
	for _, e := range ecosystems {
		for _, r := range ranges {
			recs = append(recs, semverRecord(strings.ReplaceAll(e.ecosystem, " ", "")+"-"+r.name, e.ecosystem, e.namePrefix+r.name, r.events...))
			purls = append(purls, e.purlPrefix+r.name+"@1.2.3")
		}
	}
	// Maven and Packagist have no epochs, so "1:1.0.0" is no version there.
	recs = append(recs,
		semverRecord("Maven-epoch", "Maven", "org.ex:epoch", Event{Introduced: "0"}, Event{Fixed: "1:1.0.0"}),
		semverRecord("Packagist-epoch", "Packagist", "ex/epoch", Event{Introduced: "0"}, Event{Fixed: "1:1.0.0"}))
	purls = append(purls, "pkg:maven/org.ex/epoch@1.2.3", "pkg:composer/ex/epoch@1.2.3")

	db := purlTestDB(t, recs...)
	for _, purl := range purls {
		recs, err := db.LookupPURL(purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", purl, err)
			continue
		}
		if len(recs) != 1 {
			t.Errorf("LookupPURL(%s) returned %d records, want 1", purl, len(recs))
			continue
		}
		if want := "could not be compared with range version"; !strings.Contains(recs[0].PossiblyAffected(), want) {
			t.Errorf("LookupPURL(%s): possibly affected reason %q lacks %q", purl, recs[0].PossiblyAffected(), want)
		}
	}
}

// TestLookupPURLSemverQueryNotAVersion checks a query version that SemVer
// rejects and that is no version, such as "latest". The Maven order parses
// it, but it must not be compared with SEMVER ranges, and neither may a
// plausible query be compared with a range version that is no version.
func TestLookupPURLSemverQueryNotAVersion(t *testing.T) {
	db := purlTestDB(t,
		semverRecord("MAVEN-3", "Maven", "org.ex:latest", Event{Introduced: "0"}, Event{Fixed: "1.0.0"}),
		semverRecord("MAVEN-4", "Maven", "org.ex:unknown", Event{Introduced: "0"}, Event{Fixed: "unknown"}),
		semverRecord("MAVEN-5", "Maven", "org.ex:wildcard", Event{Introduced: "0"}, Event{Fixed: "1.x"}),
		semverRecord("GEM-1", "RubyGems", "wildcard", Event{Introduced: "0"}, Event{Fixed: "1.x"}),
		semverRecord("GEM-2", "RubyGems", "unknown", Event{Introduced: "0"}, Event{Fixed: "unknown"}),
	)
	// The Maven order parses "unknown" and "1.x", and the RubyGems order
	// parses "1.x", so only the plausibility rule rejects them.
	cases := []struct{ purl, want string }{
		{"pkg:maven/org.ex/latest@latest", `version "latest" of org.ex:latest is not valid SemVer and does not look like a version`},
		{"pkg:maven/org.ex/unknown@1.0.0.Final", `SEMVER range version "unknown" does not look like a version`},
		{"pkg:maven/org.ex/wildcard@1.0.0.Final", `SEMVER range version "1.x" does not look like a version`},
		{"pkg:gem/wildcard@1.2.3.4", `SEMVER range version "1.x" does not look like a version`},
		{"pkg:gem/unknown@1.2.3.4", `SEMVER range version "unknown" is not a valid RubyGems version`},
	}
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		if len(recs) != 1 {
			t.Errorf("LookupPURL(%s) returned %d records, want 1", c.purl, len(recs))
			continue
		}
		if !strings.Contains(recs[0].PossiblyAffected(), c.want) {
			t.Errorf("LookupPURL(%s): possibly affected reason %q lacks %q", c.purl, recs[0].PossiblyAffected(), c.want)
		}
	}
}

func TestPlausibleVersion(t *testing.T) {
	cases := []struct {
		order, version string
		want           bool
	}{
		{"maven", "2.0.0.Final", true},
		{"pep440", "1.0.post1", true},
		{"gem", "1.2.3.4", true},
		{"generic", "1.2.3.4", true},
		{"apk", "1.2.3_p1-r0", true},
		{"debian", "1.0~rc1", true},
		{"maven", "v1.2.4.Final", true},
		{"debian", "1:1.0.0", true},
		{"rpm", "2:3.0.7-27.el9", true},
		{"pep440", "1!2.0", true},
		{"maven", "1:1.0.0", false},
		{"composer", "1:1.0.0", false},
		{"pep440", "1:1.0.0", false},
		{"debian", "a:1.0.0", false},
		{"maven", "unknown", false},
		{"maven", "next", false},
		{"maven", "latest", false},
		{"maven", "v", false},
		{"maven", "", false},
		{"maven", "*", false},
		{"maven", "1.*", false},
		{"gem", "1.x", false},
		{"apk", "1.2.x", false},
		{"composer", "1.X.0", false},
		{"composer", "1.x-dev", false},
		// SemVer parses this one, so semverFallbackOrder never calls plausibleVersion on it.
		{"maven", "1.0.0-x.7", false},
		{"maven", "1.0 beta", false},
		{"maven", " 1.0", false},
		{"maven", "1..0", false},
		{"maven", "1.-0", false},
		{"maven", "1.0.", false},
		{"composer", "1#0", false},
		{"composer", "#0", false},
		{"maven", "1.0/2", false},
	}
	for _, c := range cases {
		if got := plausibleVersion(c.order, c.version); got != c.want {
			t.Errorf("plausibleVersion(%q, %q) = %v, want %v", c.order, c.version, got, c.want)
		}
	}
}

func TestSamePURLVersion(t *testing.T) {
	cases := []struct {
		purl, a, b string
		want       bool
	}{
		{"pkg:golang/example.com/mod@v1.4.0", "1.4.0", "v1.4.0", true},
		{"pkg:golang/example.com/mod@v1.4.0", "1.4.1", "v1.4.0", false},
		{"pkg:pypi/post@1.0.post1", "1.0.POST1", "1.0.post1", true},
		{"pkg:pypi/post@1.0.post1", "1.0-post1", "1.0.post1", true},
		{"pkg:pypi/post@1.0.post1", "1.0.post.1", "1.0.post1", true},
		{"pkg:pypi/post@1.0.post1", "v1.0.post1", "1.0.post1", true},
		{"pkg:pypi/post@1.0.post1", "1.0.post2", "1.0.post1", false},
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9", "0:3.0.7-27.el9", "3.0.7-27.el9", true},
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9", "1:3.0.7-27.el9", "3.0.7-27.el9", false},
		{"pkg:npm/lodash@v4.17.20", "4.17.20", "v4.17.20", true},
		{"pkg:npm/lodash@v4.17.20", "4.17.21", "v4.17.20", false},
		{"pkg:npm/lodash@4.17.20", "=4.17.20", "4.17.20", false},
		// An invalid version agrees only with the same text.
		{"pkg:npm/lodash@4.17.20", "not-a-version", "not-a-version", true},
		{"pkg:npm/lodash@4.17.20", "not-a-version", "4.17.20", false},
		// A purl that cannot be looked up has no order.
		{"pkg:generic/tool@1.0", "1.0", "v1.0", false},
	}
	for _, c := range cases {
		if got := SamePURLVersion(c.purl, c.a, c.b); got != c.want {
			t.Errorf("SamePURLVersion(%s, %q, %q) = %v, want %v", c.purl, c.a, c.b, got, c.want)
		}
	}
}

func TestSameCPEVersion(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"1.0", "1.0", true},
		{"1.0.0", "1.0", true},
		{"1.1.1K", "1.1.1k", true},
		{"1.1.1k", "1.1.1", false},
		{"12.2(55)SE", "12.2(55)se", true},
		{"12.2(55)se", "12.2(58)se", false},
	}
	for _, c := range cases {
		if got := SameCPEVersion(c.a, c.b); got != c.want {
			t.Errorf("SameCPEVersion(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
