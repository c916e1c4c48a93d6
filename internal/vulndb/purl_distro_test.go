package vulndb

import (
	"errors"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// TestPURLTypeOfDistribution checks that a deb, apk or rpm purl whose type
// is not the package format of its namespace's distribution is rejected,
// instead of returning that distribution's records.
func TestPURLTypeOfDistribution(t *testing.T) {
	db := purlTestDB(t,
		fixedIn("DSA-1", "Debian:12", "", "libfoo3"),
		fixedIn("RHSA-1", "Red Hat:enterprise_linux:9::baseos", "", "openssl"),
	)
	cases := []struct{ purl, message string }{
		{"pkg:rpm/debian/libfoo3@1.0-1", `namespace "debian" is Debian, whose packages have purl type deb, not rpm; write it as pkg:deb/debian/libfoo3`},
		{"pkg:apk/debian/libfoo3@1.0-1", "whose packages have purl type deb, not apk"},
		{"pkg:deb/redhat/openssl@1.0", `namespace "redhat" is Red Hat, whose packages have purl type rpm, not deb`},
		{"pkg:deb/alpine/musl@1.2.4-r2", "whose packages have purl type apk, not deb"},
	}
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("LookupPURL(%s) = %q, %v; want an invalid-argument error", c.purl, ids(recs), err)
			continue
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("LookupPURL(%s): error %q lacks %q", c.purl, err, c.message)
		}
	}
	checkLookups(t, db, []struct{ purl, want string }{
		{"pkg:deb/debian/libfoo3@1.0-1", "DSA-1"},
		{"pkg:rpm/redhat/openssl@1.0-1", "RHSA-1"},
	})
}

// TestDistroErrorListsDistributionsOfType checks that the error for an
// unknown namespace lists only the distributions of the purl's type.
func TestDistroErrorListsDistributionsOfType(t *testing.T) {
	cases := []struct{ purl, want, unwanted string }{
		{"pkg:rpm/fedora/flib@1.0-1", "supported rpm distributions are almalinux, mageia, openeuler, opensuse, redhat, rocky, suse", "debian"},
		{"pkg:deb/mint/openssl@1.0", "supported deb distributions are debian, ubuntu", "redhat"},
		{"pkg:apk/postmarketos/musl@1.0", "supported apk distributions are alpine, chainguard, wolfi", "ubuntu"},
	}
	for _, c := range cases {
		err := ValidatePURL(c.purl)
		if !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("ValidatePURL(%s) = %v, want a not-found error", c.purl, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidatePURL(%s): error %q lacks %q", c.purl, err, c.want)
		}
		if strings.Contains(err.Error(), c.unwanted) {
			t.Errorf("ValidatePURL(%s): error %q names %s, a distribution of another type", c.purl, err, c.unwanted)
		}
	}
}

// TestDistroReleaseExampleOfNamespace checks that the example release in a
// distro message is one of the purl's own distribution.
func TestDistroReleaseExampleOfNamespace(t *testing.T) {
	cases := []struct{ purl, want string }{
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-banana", "distro=ubuntu-22.04"},
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian-banana", "distro=debian-12"},
		{"pkg:rpm/rocky/openssl@3.0.7-1?distro=rocky", "distro=rocky-9.3"},
	}
	for _, c := range cases {
		err := ValidatePURL(c.purl)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidatePURL(%s) = %v, want a message with %q", c.purl, err, c.want)
		}
	}
}

// TestLookupPURLMageiaOpenEuler checks that Mageia and openEuler rpm purls
// are looked up, with their releases compared.
func TestLookupPURLMageiaOpenEuler(t *testing.T) {
	db := purlTestDB(t,
		fixedIn("MGASA-9", "Mageia:9", "1.2-1.mga9", "mg"),
		fixedIn("MGASA-8", "Mageia:8", "", "mg"),
		fixedIn("OESA-2203", "openEuler:22.03-LTS-SP3", "2.0-1.oe2203sp3", "eul"),
		fixedIn("OESA-2403", "openEuler:24.03-LTS", "", "eul"),
	)
	checkLookups(t, db, []struct{ purl, want string }{
		{"pkg:rpm/mageia/mg@1.0-1.mga9?distro=mageia-9", "MGASA-9"},
		{"pkg:rpm/mageia/mg@1.0-1.mga8?distro=mageia-8", "MGASA-8"},
		{"pkg:rpm/mageia/mg@1.3-1.mga9?distro=mageia-9", ""},
		{"pkg:rpm/mageia/mg@1.0-1.mga9", "MGASA-8,MGASA-9"},
		{"pkg:rpm/openEuler/eul@1.0-1.oe2203sp3?distro=openEuler-22.03", "OESA-2203"},
		{"pkg:rpm/openeuler/eul@1.0-1?distro=openeuler-22.03-lts-sp4", "OESA-2203"},
		{"pkg:rpm/openeuler/eul@1.0-1?distro=openeuler-22.09", ""},
		{"pkg:rpm/openeuler/eul@1.0-1?distro=openeuler-24.03", "OESA-2403"},
		{"pkg:rpm/openeuler/eul@1.0-1", "OESA-2203,OESA-2403"},
	})
}

// TestResolvePackageWrongPURLType checks the build side of a purl whose
// type is not its distribution's package format: beside an ecosystem and
// name it is a mismatch, and alone it identifies no package.
func TestResolvePackageWrongPURLType(t *testing.T) {
	full := Package{Ecosystem: "Debian", Name: "openssl", PURL: "pkg:rpm/debian/openssl"}
	p := full
	reason, detail := resolvePackage(&p, nil)
	if reason != reasonPURLMismatch {
		t.Errorf("resolvePackage(%+v) reason = %q, want %q", full, reason, reasonPURLMismatch)
	}
	if want := "whose packages have purl type deb, not rpm"; !strings.Contains(detail, want) {
		t.Errorf("resolvePackage(%+v) detail = %q, want it to contain %q", full, detail, want)
	}
	if p != full {
		t.Errorf("resolvePackage(%+v) changed the package to %+v", full, p)
	}

	only := Package{PURL: "pkg:rpm/debian/openssl"}
	p = only
	if reason, _ := resolvePackage(&p, nil); reason != reasonUnresolvedPackage {
		t.Errorf("resolvePackage(%+v) reason = %q, want %q", only, reason, reasonUnresolvedPackage)
	}

	for _, purl := range []string{"pkg:rpm/mageia/mg?distro=mageia-9", "pkg:rpm/openeuler/eul"} {
		p := Package{PURL: purl}
		if reason, detail := resolvePackage(&p, nil); reason != "" {
			t.Errorf("resolvePackage(%s) reports %s: %s", purl, reason, detail)
		}
	}
}
