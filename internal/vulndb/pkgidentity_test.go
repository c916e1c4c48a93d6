package vulndb

import (
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/kv"
)

// TestResolvePackageFromPURL checks the ecosystem and name that a package
// given only by purl, or by a purl and part of its identity, gets.
func TestResolvePackageFromPURL(t *testing.T) {
	cases := []struct {
		in            Package
		wantEcosystem string
		wantName      string
	}{
		{Package{PURL: "pkg:npm/lodash"}, "npm", "lodash"},
		{Package{PURL: "pkg:npm/%40angular/core"}, "npm", "@angular/core"},
		{Package{PURL: "pkg:maven/org.apache.logging.log4j/log4j-core"}, "Maven", "org.apache.logging.log4j:log4j-core"},
		{Package{PURL: "pkg:golang/golang.org/x/net"}, "Go", "golang.org/x/net"},
		{Package{PURL: "pkg:composer/symfony/http-kernel"}, "Packagist", "symfony/http-kernel"},
		{Package{PURL: "pkg:pypi/requests"}, "PyPI", "requests"},
		{Package{PURL: "pkg:cargo/smallvec"}, "crates.io", "smallvec"},
		// The version is left out: OSV writes the purl without one.
		{Package{PURL: "pkg:npm/lodash@4.17.20"}, "npm", "lodash"},
		{Package{PURL: "pkg:deb/debian/openssl?distro=debian-12"}, "Debian:12", "openssl"},
		{Package{PURL: "pkg:deb/debian/openssl?distro=bookworm"}, "Debian:12", "openssl"},
		{Package{PURL: "pkg:deb/debian/openssl"}, "Debian", "openssl"},
		{Package{PURL: "pkg:deb/ubuntu/openssl?distro=ubuntu-22.04"}, "Ubuntu:22.04", "openssl"},
		{Package{PURL: "pkg:apk/alpine/openssl?distro=alpine-3.18.4"}, "Alpine:v3.18", "openssl"},
		// A distro qualifier without a release number gives no release,
		// so the entry covers every release, as one without a qualifier.
		{Package{PURL: "pkg:deb/debian/sidpkg?distro=sid"}, "Debian", "sidpkg"},
		{Package{PURL: "pkg:deb/debian/sidpkg?distro=debian"}, "Debian", "sidpkg"},
		{Package{PURL: "pkg:deb/ubuntu/openssl?distro=ubuntu-banana"}, "Ubuntu", "openssl"},
		{Package{PURL: "pkg:apk/alpine/openssl?distro=alpine-edge"}, "Alpine", "openssl"},
		// rpm distributions keep the major release where their suffix
		// convention has a place for it.
		{Package{PURL: "pkg:rpm/redhat/openssl?distro=rhel-9.3"}, "Red Hat:enterprise_linux:9", "openssl"},
		{Package{PURL: "pkg:rpm/redhat/openssl?distro=el8"}, "Red Hat:enterprise_linux:8", "openssl"},
		{Package{PURL: "pkg:rpm/rocky/openssl?distro=rocky-9.3"}, "Rocky Linux:9", "openssl"},
		{Package{PURL: "pkg:rpm/almalinux/openssl?distro=almalinux-8.9"}, "AlmaLinux:8", "openssl"},
		{Package{PURL: "pkg:rpm/mageia/openssl?distro=mageia-9"}, "Mageia:9", "openssl"},
		// SUSE and openSUSE suffixes are product names and openEuler ones
		// name the support line, which the qualifier does not give.
		{Package{PURL: "pkg:rpm/suse/openssl?distro=sles-15.5"}, "SUSE", "openssl"},
		{Package{PURL: "pkg:rpm/opensuse/openssl?distro=opensuse-leap-15.5"}, "openSUSE", "openssl"},
		{Package{PURL: "pkg:rpm/openeuler/openssl?distro=openeuler-22.03"}, "openEuler", "openssl"},
		{Package{PURL: "pkg:rpm/redhat/openssl"}, "Red Hat", "openssl"},
		{Package{PURL: "pkg:rpm/redhat/openssl?distro=rhel"}, "Red Hat", "openssl"},
		// A given ecosystem keeps its release, and a given name its form.
		{Package{Ecosystem: "Debian:11", PURL: "pkg:deb/debian/openssl?distro=debian-12"}, "Debian:11", "openssl"},
		{Package{Name: "Django", PURL: "pkg:pypi/django"}, "PyPI", "Django"},
	}
	for _, c := range cases {
		p := c.in
		reason, detail := resolvePackage(&p, nil)
		if reason != "" {
			t.Errorf("resolvePackage(%+v) reports %s: %s", c.in, reason, detail)
		}
		if p.Ecosystem != c.wantEcosystem {
			t.Errorf("resolvePackage(%+v) ecosystem = %q, want %q", c.in, p.Ecosystem, c.wantEcosystem)
		}
		if p.Name != c.wantName {
			t.Errorf("resolvePackage(%+v) name = %q, want %q", c.in, p.Name, c.wantName)
		}
		if p.PURL != c.in.PURL {
			t.Errorf("resolvePackage(%+v) changed the purl to %q", c.in, p.PURL)
		}
	}
}

// TestResolvePackageProblems checks which packages are reported as
// mismatched or unresolved, and that those keep the fields they had.
func TestResolvePackageProblems(t *testing.T) {
	semver := []Range{{Type: "SEMVER", Events: []Event{{Introduced: "0"}}}}
	git := []Range{{Type: "GIT", Repo: "https://git.example.test/r", Events: []Event{{Introduced: "0"}}}}
	cases := []struct {
		name       string
		in         Package
		ranges     []Range
		wantReason string
		wantDetail string
	}{
		{"same package", Package{Ecosystem: "npm", Name: "lodash", PURL: "pkg:npm/lodash"}, semver, "", ""},
		{"same package, other case", Package{Ecosystem: "PyPI", Name: "Django_Rest", PURL: "pkg:pypi/django-rest"}, semver, "", ""},
		{"same package, release suffix", Package{Ecosystem: "Alpine:v3.8", Name: "openssl", PURL: "pkg:apk/alpine/openssl?arch=source"}, semver, "", ""},
		{"other name", Package{Ecosystem: "npm", Name: "lodash", PURL: "pkg:npm/underscore"}, semver,
			reasonPURLMismatch, `npm/lodash has purl "pkg:npm/underscore", which names npm/underscore`},
		{"other ecosystem", Package{Ecosystem: "npm", Name: "requests", PURL: "pkg:pypi/requests"}, semver,
			reasonPURLMismatch, `which names PyPI/requests`},
		{"other distribution", Package{Ecosystem: "Debian:12", Name: "openssl", PURL: "pkg:deb/ubuntu/openssl"}, semver,
			reasonPURLMismatch, `which names Ubuntu/openssl`},
		// A purl that cannot be read does not contradict a full identity.
		{"invalid purl beside a full identity", Package{Ecosystem: "npm", Name: "lodash", PURL: "lodash"}, semver, "", ""},
		{"unknown type beside a full identity", Package{Ecosystem: "GitHub Actions", Name: "a/b", PURL: "pkg:githubactions/a/b"}, semver, "", ""},
		{"no purl", Package{Ecosystem: "npm"}, semver, reasonUnresolvedPackage, "has no name and no purl"},
		{"name only", Package{Name: "lodash"}, semver, reasonUnresolvedPackage, "has no ecosystem and no purl"},
		{"invalid purl", Package{PURL: "npm/lodash"}, semver, reasonUnresolvedPackage, `purl "npm/lodash" is malformed`},
		{"unknown type", Package{PURL: "pkg:generic/openssl"}, semver, reasonUnresolvedPackage, `type "generic" has no OSV ecosystem`},
		{"unknown distribution", Package{PURL: "pkg:deb/mint/openssl"}, semver, reasonUnresolvedPackage, "not a supported distribution"},
		{"purl of another ecosystem", Package{Ecosystem: "PyPI", PURL: "pkg:npm/lodash"}, semver,
			reasonUnresolvedPackage, `names npm/lodash, a package of another ecosystem`},
		{"purl of another name", Package{Name: "lodash", PURL: "pkg:npm/underscore"}, semver,
			reasonUnresolvedPackage, `names npm/underscore, a package of another name`},
		{"empty package with versioned ranges", Package{}, semver, reasonUnresolvedPackage, "no ecosystem, name or purl"},
		{"empty package with versions only", Package{}, nil, "", ""},
		{"empty package with GIT ranges", Package{}, git, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.in
			reason, detail := resolvePackage(&p, c.ranges)
			if reason != c.wantReason {
				t.Errorf("reason = %q (%s), want %q", reason, detail, c.wantReason)
			}
			if !strings.Contains(detail, c.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", detail, c.wantDetail)
			}
			if reason != "" && p != c.in {
				t.Errorf("package = %+v after a %s problem, want it unchanged", p, reason)
			}
		})
	}
}

// TestBuildPURLOnlyPackages builds a feed whose packages are given by purl
// only, by a purl that names another package, or cannot be identified,
// and checks the lookups, the kept records and the warnings.
func TestBuildPURLOnlyPackages(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.json", `[
{"id":"PO-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"purl":"pkg:maven/org.ex/purl-only@1.0.0"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]}]},
{"id":"PO-2","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"purl":"pkg:deb/debian/purl-only-deb?distro=debian-12"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2-1"}]}]}]},
{"id":"PO-3","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"named-pkg","purl":"pkg:npm/other-pkg"},
 "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]}]},
{"id":"PO-4","modified":"2026-01-01T00:00:00Z","affected":[
 {"package":{"purl":"pkg:generic/unknown-pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]},
 {"package":{"ecosystem":"npm","name":"known-pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]},
{"id":"PO-5","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"purl":"pkg:npm/purl-version@1.0.0"}}]}]`)
	res, logs := buildOSVLogged(t, dir)

	s := res.Summary
	if s.Accepted != 5 || s.Skipped != 0 {
		t.Errorf("accepted, skipped = %d, %d, want 5, 0", s.Accepted, s.Skipped)
	}
	if s.Warnings != 2 {
		t.Errorf("warnings = %d, want 2", s.Warnings)
	}
	if n := s.WarningReasons[reasonPURLMismatch]; n != 1 {
		t.Errorf("warning reasons = %v, want %s 1", s.WarningReasons, reasonPURLMismatch)
	}
	if n := s.WarningReasons[reasonUnresolvedPackage]; n != 1 {
		t.Errorf("warning reasons = %v, want %s 1", s.WarningReasons, reasonUnresolvedPackage)
	}
	if n := s.Ecosystems["Maven"]; n != 1 {
		t.Errorf("ecosystems = %v, want Maven 1 for the purl-only record", s.Ecosystems)
	}
	for _, want := range []string{"record=PO-3", `npm/named-pkg has purl \"pkg:npm/other-pkg\"`,
		"record=PO-4", `type \"generic\" has no OSV ecosystem`, "ids=PO-4"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %s:\n%s", want, logs.String())
		}
	}
	for _, id := range []string{"PO-1", "PO-2", "PO-5"} {
		if strings.Contains(logs.String(), "record="+id) {
			t.Errorf("log names %s, whose purl identifies its package:\n%s", id, logs.String())
		}
	}

	recs := allRecords(t, res)
	if p := recs["PO-1"].Affected[0].Package; p.Ecosystem != "Maven" || p.Name != "org.ex:purl-only" {
		t.Errorf("PO-1 package = %+v, want Maven org.ex:purl-only from its purl", p)
	}
	if _, ok := recs["PO-4"]; !ok {
		t.Error("PO-4 was dropped, want it kept for lookups by ID and by its other package")
	}

	db := openBuilt(t, kv.NewMemory(), res, nil)
	cases := []struct {
		purl string
		want []string
	}{
		{"pkg:maven/org.ex/purl-only@1.5.0", []string{"PO-1"}},
		{"pkg:maven/org.ex/purl-only@2.0.0", nil},
		// The purl's version is no affected version: PO-5 has neither
		// ranges nor versions, so only a lookup without a version finds it.
		{"pkg:npm/purl-version@1.0.0", nil},
		{"pkg:npm/purl-version", []string{"PO-5"}},
		{"pkg:deb/debian/purl-only-deb@1.1-1?distro=debian-12", []string{"PO-2"}},
		{"pkg:deb/debian/purl-only-deb@1.1-1?distro=debian-11", nil},
		{"pkg:npm/named-pkg@1.0.0", []string{"PO-3"}},
		{"pkg:npm/other-pkg@1.0.0", nil},
		{"pkg:npm/known-pkg@0.5.0", []string{"PO-4"}},
	}
	for _, c := range cases {
		found, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		var got []string
		for _, r := range found {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("LookupPURL(%s) = %v, want %v", c.purl, got, c.want)
		}
	}
	if _, err := db.Lookup("PO-4"); err != nil {
		t.Errorf("Lookup(PO-4): %v", err)
	}
}
