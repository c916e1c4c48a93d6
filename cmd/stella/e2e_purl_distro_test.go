package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// distroEntry is an affected entry of a package with one ECOSYSTEM range
// from 0 to fixed. pkg contains the entry's ecosystem, name and purl.
func distroEntry(pkg map[string]string, fixed string) map[string]any {
	return map[string]any{
		"package": pkg,
		"ranges": []map[string]any{{"type": "ECOSYSTEM",
			"events": []map[string]string{event("introduced", "0"), event("fixed", fixed)}}},
	}
}

// TestPURLTypeOfDistribution checks that a purl whose type is not its
// distribution's package format is a build warning beside an ecosystem
// and name, and a command-line error in db lookup. It also checks that a
// Mageia rpm purl is looked up.
func TestPURLTypeOfDistribution(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-dist-0001", distroEntry(map[string]string{
		"ecosystem": "Debian:12", "name": "stella-dist-deb", "purl": "pkg:rpm/debian/stella-dist-deb"}, "1.2-1"))
	feed.add("GHSA-test-dist-0002", distroEntry(map[string]string{
		"ecosystem": "Mageia:9", "name": "stella-dist-mga"}, "1.2-1.mga9"))
	kit := filepath.Join(e.dir, "kit.tar")
	r := e.run("ouk", "build", "-o", kit, "--key", e.key, "--feed", "ghsa="+feed.dir)
	if r.code != 0 {
		t.Fatalf("ouk build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if want := "purl-mismatch 1"; !strings.Contains(r.stdout, want) {
		t.Errorf("build summary lacks %q:\n%s", want, r.stdout)
	}
	if want := "ids=GHSA-test-dist-0001"; !strings.Contains(r.stderr, want) {
		t.Errorf("build stderr lacks %q:\n%s", want, r.stderr)
	}
	e.must("ouk", "import", "--key", e.pub, kit)

	r = e.run("db", "lookup", "--purl", "pkg:rpm/debian/stella-dist-deb@1.0-1")
	if r.code != exitUsage {
		t.Errorf("db lookup of an rpm of Debian: exit %d, want %d\n%s%s", r.code, exitUsage, r.stdout, r.stderr)
	}
	if want := "whose packages have purl type deb, not rpm; write it as pkg:deb/debian/stella-dist-deb"; !strings.Contains(r.stderr, want) {
		t.Errorf("db lookup stderr lacks %q:\n%s", want, r.stderr)
	}
	if got := recordIDs(e.lookupJSON("--purl", "pkg:deb/debian/stella-dist-deb@1.0-1?distro=debian-12")); !slices.Equal(got, []string{"GHSA-test-dist-0001"}) {
		t.Errorf("db lookup of the deb purl = %v, want GHSA-test-dist-0001", got)
	}
	if got := recordIDs(e.lookupJSON("--purl", "pkg:rpm/mageia/stella-dist-mga@1.0-1.mga9?distro=mageia-9")); !slices.Equal(got, []string{"GHSA-test-dist-0002"}) {
		t.Errorf("db lookup of the Mageia purl = %v, want GHSA-test-dist-0002", got)
	}
}

// TestPURLDistroWithoutRelease checks distro qualifiers that give no
// release number, such as Syft's "debian" for Debian sid. A feed package
// with one covers every release, and a lookup or scan with one matches
// the entries of every release, marking the records that only entries of
// a release match as possibly affected.
func TestPURLDistroWithoutRelease(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-dist-0003", distroEntry(map[string]string{
		"purl": "pkg:deb/debian/stella-dist-sid?distro=sid"}, "1.2-1"))
	feed.add("GHSA-test-dist-0004", distroEntry(map[string]string{
		"ecosystem": "Debian:12", "name": "stella-dist-rel"}, "1.2-1"))
	kit := filepath.Join(e.dir, "kit.tar")
	r := e.run("ouk", "build", "-o", kit, "--key", e.key, "--feed", "ghsa="+feed.dir)
	if r.code != 0 {
		t.Fatalf("ouk build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "unresolved-package") || strings.Contains(r.stderr, "GHSA-test-dist-0003") {
		t.Errorf("build warns about a package whose distro qualifier gives no release:\n%s%s", r.stdout, r.stderr)
	}
	e.must("ouk", "import", "--key", e.pub, kit)

	for _, purl := range []string{
		"pkg:deb/debian/stella-dist-sid@1.0-1",
		"pkg:deb/debian/stella-dist-sid@1.0-1?distro=debian-11",
		"pkg:deb/debian/stella-dist-sid@1.0-1?distro=debian",
	} {
		recs := e.lookupJSON("--purl", purl)
		if got := recordIDs(recs); !slices.Equal(got, []string{"GHSA-test-dist-0003"}) {
			t.Errorf("db lookup --purl %s = %v, want GHSA-test-dist-0003", purl, got)
			continue
		}
		if reason := recs[0].PossiblyAffected(); reason != "" {
			t.Errorf("db lookup --purl %s: possibly affected (%q), want confirmed", purl, reason)
		}
	}

	const sidPURL = "pkg:deb/debian/stella-dist-rel@1.0-1?distro=debian-sid"
	recs := e.lookupJSON("--purl", sidPURL)
	if got := recordIDs(recs); !slices.Equal(got, []string{"GHSA-test-dist-0004"}) {
		t.Fatalf("db lookup --purl %s = %v, want GHSA-test-dist-0004", sidPURL, got)
	}
	const reason = `the purl's distro qualifier "debian-sid" gives no Debian release number`
	if got := recs[0].PossiblyAffected(); !strings.Contains(got, reason) {
		t.Errorf("db lookup --purl %s: possibly affected %q, want it to contain %q", sidPURL, got, reason)
	}
	if out := e.must("db", "lookup", "--purl", sidPURL); !strings.Contains(out, "  possibly   affected: "+reason) {
		t.Errorf("db lookup --purl %s text lacks the possibly line:\n%s", sidPURL, out)
	}

	sbom := filepath.Join(e.dir, "bom.json")
	writeJSONFile(t, sbom, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []map[string]string{
		{"name": "stella-dist-rel", "version": "1.0-1", "purl": "pkg:deb/debian/stella-dist-rel@1.0-1?distro=debian"},
	}})
	rep, _ := e.scan(sbom)
	if len(rep.Skipped) != 0 {
		t.Errorf("scan skipped %+v, want the package looked up", rep.Skipped)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].ID != "GHSA-test-dist-0004" {
		t.Fatalf("scan findings = %+v, want GHSA-test-dist-0004", rep.Findings)
	}
	if got := rep.Findings[0].PossiblyAffected; !strings.Contains(got, `distro qualifier "debian" gives no Debian release number`) {
		t.Errorf("scan finding possibly affected %q, want the distro qualifier as the reason", got)
	}
}

// TestPURLOnlyRPMKeepsMajorRelease checks that a Red Hat package given only
// by a purl with distro=rhel-9.3 matches lookups of RHEL 9 and of no
// release, but not of RHEL 8.
func TestPURLOnlyRPMKeepsMajorRelease(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-dist-0005", distroEntry(map[string]string{
		"purl": "pkg:rpm/redhat/stella-dist-rpm?distro=rhel-9.3"}, "1:3.0.7-25.el9"))
	kit := filepath.Join(e.dir, "kit.tar")
	e.must("ouk", "build", "-o", kit, "--key", e.key, "--feed", "ghsa="+feed.dir)
	e.must("ouk", "import", "--key", e.pub, kit)

	const v = "pkg:rpm/redhat/stella-dist-rpm@3.0.7-24.el9?epoch=1"
	cases := []struct {
		purl string
		want []string
	}{
		{v + "&distro=rhel-9.2", []string{"GHSA-test-dist-0005"}},
		{v, []string{"GHSA-test-dist-0005"}},
		{v + "&distro=rhel-8.6", []string{}},
	}
	for _, c := range cases {
		if got := recordIDs(e.lookupJSON("--purl", c.purl)); !slices.Equal(got, c.want) {
			t.Errorf("db lookup --purl %s = %v, want %v", c.purl, got, c.want)
		}
	}
	want := "  affects    Red Hat:enterprise_linux:9/stella-dist-rpm <1:3.0.7-25.el9\n"
	if out := e.must("db", "lookup", "GHSA-test-dist-0005"); !strings.Contains(out, want) {
		t.Errorf("db lookup GHSA-test-dist-0005 prints\n%s\nwant the line: %s", out, want)
	}
}
