package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// distroEntry is an affected entry of a package with one ECOSYSTEM range
// from 0 to fixed. pkg holds the entry's ecosystem, name and purl.
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
