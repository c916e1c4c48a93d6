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
	checkInvalidPURLs(t, db, []struct{ purl, message string }{
		{"pkg:rpm/debian/libfoo3@1.0-1", `namespace "debian" is Debian, whose packages have purl type deb, not rpm; write it as pkg:deb/debian/libfoo3`},
		{"pkg:apk/debian/libfoo3@1.0-1", "whose packages have purl type deb, not apk"},
		{"pkg:deb/redhat/openssl@1.0", `namespace "redhat" is Red Hat, whose packages have purl type rpm, not deb`},
		{"pkg:deb/alpine/musl@1.2.4-r2", "whose packages have purl type apk, not deb"},
	})
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

// TestLookupPURLDistroWithoutRelease checks a distro qualifier that gives
// no release, as SBOM tools write for Debian sid or Alpine edge: the purl
// is looked up in every release, and a record that only entries of a
// release match is possibly affected.
func TestLookupPURLDistroWithoutRelease(t *testing.T) {
	db := purlTestDB(t,
		fixedIn("DSA-12", "Debian:12", "3.0.12-1", "openssl"),
		fixedIn("DSA-11", "Debian:11", "3.0.10-1", "openssl"),
		fixedIn("DEB-ALL", "Debian", "3.0.12-1", "openssl"),
		fixedIn("RHSA-9", "Red Hat:enterprise_linux:9::baseos", "1:1.1-1", "openssl"),
		fixedIn("ALPINE-318", "Alpine:v3.18", "3.1.5-r0", "openssl"),
		fixedIn("USN-1", "Ubuntu:22.04:LTS", "", "openssl"),
	)
	cases := []struct {
		purl     string
		want     string // record IDs
		possibly string // the IDs among want that are possibly affected
	}{
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian-sid", "DEB-ALL,DSA-12", "DSA-12"},
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian", "DEB-ALL,DSA-12", "DSA-12"},
		{"pkg:deb/debian/openssl@3.0.11-1?distro=trixie%2Fsid", "DEB-ALL,DSA-12", "DSA-12"},
		{"pkg:deb/debian/openssl@3.0.11-1?distro=garbage", "DEB-ALL,DSA-12", "DSA-12"},
		{"pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl&distro=sid", "DEB-ALL,DSA-12", "DSA-12"},
		// Without a version every record of the package matches.
		{"pkg:deb/debian/openssl?distro=sid", "DEB-ALL,DSA-11,DSA-12", "DSA-11,DSA-12"},
		// A release, or no distro qualifier at all, leaves every match confirmed.
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian-12", "DEB-ALL,DSA-12", ""},
		{"pkg:deb/debian/openssl@3.0.11-1", "DEB-ALL,DSA-12", ""},
		{"pkg:rpm/redhat/openssl@1.0-1?epoch=1&distro=rhel", "RHSA-9", "RHSA-9"},
		{"pkg:rpm/redhat/openssl@1.0-1?epoch=1&distro=rhel-x", "RHSA-9", "RHSA-9"},
		{"pkg:apk/alpine/openssl@3.1.4-r0?distro=alpine-edge", "ALPINE-318", "ALPINE-318"},
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-banana", "USN-1", "USN-1"},
	}
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupPURL(%s) = %q, want %q", c.purl, got, c.want)
		}
		var possibly []string
		for _, r := range recs {
			if r.PossiblyAffected() != "" {
				possibly = append(possibly, r.ID)
			}
		}
		if got := strings.Join(possibly, ","); got != c.possibly {
			t.Errorf("LookupPURL(%s) possibly affected %q, want %q", c.purl, got, c.possibly)
		}
	}

	reasons := []struct{ purl, want string }{
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian-sid",
			`the purl's distro qualifier "debian-sid" gives no Debian release number, so the record's entries for every Debian release were compared. ` +
				"A qualifier with the release, such as distro=debian-12, compares only that release's entries"},
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-banana", "such as distro=ubuntu-22.04,"},
		{"pkg:rpm/redhat/openssl@1.0-1?epoch=1&distro=rhel", "such as distro=rhel-9.3,"},
	}
	for _, c := range reasons {
		recs, err := db.LookupPURL(c.purl)
		if err != nil || len(recs) == 0 {
			t.Errorf("LookupPURL(%s) = %q, %v; want a record", c.purl, ids(recs), err)
			continue
		}
		if reason := recs[len(recs)-1].PossiblyAffected(); !strings.Contains(reason, c.want) {
			t.Errorf("LookupPURL(%s): reason %q lacks %q", c.purl, reason, c.want)
		}
	}
}

// TestLookupPURLOnlyRPMRelease checks that an rpm package given only by a
// purl with a distro qualifier matches lookups of its major release only.
func TestLookupPURLOnlyRPMRelease(t *testing.T) {
	var recs []Record
	for _, c := range []struct{ id, purl string }{
		{"RH-9", "pkg:rpm/redhat/openssl?distro=rhel-9.3"},
		{"ROCKY-9", "pkg:rpm/rocky/openssl?distro=rocky-9.3"},
		{"SUSE-15", "pkg:rpm/suse/openssl?distro=sles-15.5"},
	} {
		r := fixedIn(c.id, "", "1:3.0.7-25", "")
		r.Affected[0].Package = Package{PURL: c.purl}
		if problems := resolvePackages(&r); len(problems) != 0 {
			t.Fatalf("resolvePackages(%s) = %v", c.purl, problems)
		}
		recs = append(recs, r)
	}
	db := purlTestDB(t, recs...)
	checkLookups(t, db, []struct{ purl, want string }{
		{"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1&distro=rhel-9.2", "RH-9"},
		{"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1&distro=rhel-9", "RH-9"},
		{"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1", "RH-9"},
		{"pkg:rpm/redhat/openssl@3.0.7-26.el8?epoch=1&distro=rhel-8.6", ""},
		{"pkg:rpm/redhat/openssl@3.0.7-26.el9?epoch=1&distro=rhel-9.3", ""},
		{"pkg:rpm/rocky/openssl@3.0.7-24.el9?epoch=1&distro=rocky-9.1", "ROCKY-9"},
		{"pkg:rpm/rocky/openssl@3.0.7-24.el8?epoch=1&distro=rocky-8.9", ""},
		// SUSE keeps no release, so the entry covers every release.
		{"pkg:rpm/suse/openssl@3.0.7-24?epoch=1&distro=sles-12.5", "SUSE-15"},
	})
}
