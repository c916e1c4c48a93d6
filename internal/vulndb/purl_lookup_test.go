package vulndb

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// purlTestDB indexes records into one in-memory layer and opens it.
func purlTestDB(t *testing.T, recs ...Record) *DB {
	t.Helper()
	l, err := newLayer(recs, LayerBase, "mixed", "purl test")
	if err != nil {
		t.Fatal(err)
	}
	store := kv.NewMemory()
	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(store, nil, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// fixedIn returns a record whose affected entries each cover every version
// of a package below fixed, or every version when fixed is empty.
func fixedIn(id, ecosystem, fixed string, names ...string) Record {
	events := []Event{{Introduced: "0"}}
	if fixed != "" {
		events = append(events, Event{Fixed: fixed})
	}
	r := Record{ID: id, Modified: "2026-01-01T00:00:00Z"}
	for _, n := range names {
		r.Affected = append(r.Affected, Affected{
			Package: Package{Ecosystem: ecosystem, Name: n},
			Ranges:  []Range{{Type: "ECOSYSTEM", Events: events}},
		})
	}
	return r
}

// checkLookups runs each purl through LookupPURL and compares the IDs.
func checkLookups(t *testing.T, db *DB, cases []struct{ purl, want string }) {
	t.Helper()
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupPURL(%s) = %q, want %q", c.purl, got, c.want)
		}
	}
}

// checkInvalidPURLs checks that LookupPURL rejects each purl with an
// invalid-argument error whose message contains the case's message.
func checkInvalidPURLs(t *testing.T, db *DB, cases []struct{ purl, message string }) {
	t.Helper()
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
}

func TestLookupPURLRedHatDistro(t *testing.T) {
	db := purlTestDB(t,
		fixedIn("RHSA-9", "Red Hat:enterprise_linux:9::baseos", "1:3.0.7-25.el9_3", "openssl"),
		fixedIn("RHSA-9EUS", "Red Hat:rhel_eus:9.2::baseos", "1:3.0.7-30.el9_2", "openssl"),
		fixedIn("RHSA-8", "Red Hat:enterprise_linux:8::baseos", "", "openssl"),
		fixedIn("RHSA-OCP", "Red Hat:openshift:4.14::el8", "", "openssl"),
	)
	const v = "pkg:rpm/redhat/openssl@3.0.7-24.el9?arch=x86_64&epoch=1&distro="
	checkLookups(t, db, []struct{ purl, want string }{
		{v + "rhel-9.3", "RHSA-9"},
		{v + "rhel-9.2", "RHSA-9,RHSA-9EUS"},
		{v + "rhel-9", "RHSA-9,RHSA-9EUS"},
		{v + "redhat-9", "RHSA-9,RHSA-9EUS"},
		{v + "el9", "RHSA-9,RHSA-9EUS"},
		{v + "9", "RHSA-9,RHSA-9EUS"},
		{v + "enterprise_linux:9", "RHSA-9,RHSA-9EUS"},
		{v + "rhel-8.10", "RHSA-8,RHSA-OCP"},
		{v + "rhel-7", ""},
		{"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1", "RHSA-8,RHSA-9,RHSA-9EUS,RHSA-OCP"},
	})
}

func TestReleaseMatchesRPMSuffixes(t *testing.T) {
	cases := []struct {
		ecosystem, distro string
		want              bool
	}{
		{"Red Hat:enterprise_linux:9::appstream", "rhel-9.3", true},
		{"Red Hat:enterprise_linux:9::appstream", "rhel-8.9", false},
		{"Red Hat:enterprise_linux:10.0", "rhel-10.1", true},
		{"Red Hat:rhel_aus:8.4::appstream", "rhel-8.4", true},
		{"Red Hat:rhel_aus:8.4::appstream", "rhel-8.6", false},
		{"Red Hat:rhel_aus:8.4::appstream", "rhel-8", true},
		{"Red Hat:rhel_els:7", "rhel-7.9", true},
		{"Red Hat:rhel_software_collections:3::el7", "rhel-7.9", true},
		{"Red Hat:rhel_software_collections:3::el7", "rhel-8.9", false},
		{"Red Hat:openshift:4.14", "rhel-9.3", true},
		{"Rocky Linux:9", "rocky-9.3", true},
		{"Rocky Linux:9", "rocky-8.9", false},
		{"AlmaLinux:8", "almalinux-8.9", true},
		{"AlmaLinux:8", "almalinux-9.3", false},
		{"SUSE:Linux Enterprise Server 15 SP5", "sles-15.5", true},
		{"SUSE:Linux Enterprise Server 15 SP5", "sles-15-sp5", true},
		{"SUSE:Linux Enterprise Server 15 SP5", "sles-15.4", false},
		{"SUSE:Linux Enterprise Server 15 SP5", "sles-15", true},
		{"SUSE:Linux Enterprise Server 12 SP5-LTSS", "sles-12.5", true},
		{"SUSE:Linux Enterprise Module for Python 3 15 SP5", "sles-15.5", true},
		{"SUSE:Linux Enterprise Server 15", "sles-15.5", false},
		{"openSUSE:Leap 15.5", "opensuse-leap-15.5", true},
		{"openSUSE:Leap 15.5", "opensuse-leap-15.4", false},
		{"openSUSE:Tumbleweed", "opensuse-tumbleweed-20240101", true},
		{"Debian:12", "debian-12", true},
		{"Alpine:v3.18", "alpine-3.18.4", true},
		{"Ubuntu:22.04:LTS", "ubuntu-22.04", true},
	}
	for _, c := range cases {
		base, _, _ := strings.Cut(c.ecosystem, ":")
		release := purlRelease(base, c.distro)
		if got := releaseMatches(c.ecosystem, release); got != c.want {
			t.Errorf("releaseMatches(%q, distro %q as %q) = %v, want %v", c.ecosystem, c.distro, release, got, c.want)
		}
	}
}

func TestLookupPURLRPMEpochQualifier(t *testing.T) {
	db := purlTestDB(t, fixedIn("RHSA-9", "Red Hat:enterprise_linux:9::baseos", "1:3.0.7-25.el9_3", "openssl"))
	checkLookups(t, db, []struct{ purl, want string }{
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=1", ""},
		{"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1", "RHSA-9"},
		{"pkg:rpm/redhat/openssl@1:3.0.7-27.el9", ""},
		{"pkg:rpm/redhat/openssl@1:3.0.7-27.el9?epoch=1", ""},
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=0", "RHSA-9"},
	})

	bad := []struct{ purl, message string }{
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=one", `epoch qualifier "one" is not a whole number`},
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=-1", `epoch qualifier "-1"`},
		{"pkg:rpm/redhat/openssl@2:3.0.7-27.el9?epoch=1", "has epoch 2 but the epoch qualifier is 1"},
	}
	checkInvalidPURLs(t, db, bad)
	for _, c := range bad {
		if err := ValidatePURL(c.purl); !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("ValidatePURL(%s) = %v, want ErrInvalidArgument", c.purl, err)
		}
	}
}

func TestLookupPURLUpstreamSource(t *testing.T) {
	db := purlTestDB(t,
		fixedIn("DSA-1", "Debian:12", "2.4-1", "openssl"),
		fixedIn("DSA-2", "Debian:12", "", "openssl", "libssl3"),
		fixedIn("DSA-3", "Debian:12", "2.0-1", "openssl"),
		fixedIn("CVE-2018-5407", "Alpine:v3.8", "1.0.2q-r0", "openssl"),
	)
	checkLookups(t, db, []struct{ purl, want string }{
		// DSA-2 names both packages and is returned once.
		{"pkg:deb/debian/libssl3@2.3-1?upstream=openssl&distro=debian-12", "DSA-1,DSA-2"},
		{"pkg:deb/debian/libssl3@2.3-1?distro=debian-12", "DSA-2"},
		// The source version in the qualifier wins over the binary version.
		{"pkg:deb/debian/libssl3@9.9-1?upstream=openssl%402.3-1&distro=debian-12", "DSA-1,DSA-2"},
		{"pkg:deb/debian/libssl3@1.9-1?upstream=openssl%402.5-1", "DSA-2"},
		{"pkg:deb/debian/openssl@2.3-1?upstream=openssl", "DSA-1,DSA-2"},
		{"pkg:apk/alpine/libcrypto1.0@1.0.2p-r0?upstream=openssl", "CVE-2018-5407"},
		{"pkg:apk/alpine/libcrypto1.0@1.0.2p-r0?upstream=openssl&distro=alpine-3.8.1", "CVE-2018-5407"},
		{"pkg:apk/alpine/libcrypto1.0@1.0.2q-r0?upstream=openssl", ""},
	})

	checkInvalidPURLs(t, db, []struct{ purl, message string }{
		{"pkg:deb/debian/libssl3@2.3-1?upstream=%401.0", "upstream qualifier"},
		{"pkg:deb/debian/libssl3@2.3-1?upstream=openssl%40", "upstream qualifier"},
	})
}

func TestLookupPURLUpstreamInvalidVersion(t *testing.T) {
	db := purlTestDB(t, fixedIn("DSA-1", "Debian:12", "2.4-1", "curl"))
	_, err := db.LookupPURL("pkg:deb/debian/libssl3@2.3-1?upstream=openssl%40not%20a%20version")
	if !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Fatalf("error = %v, want ErrInvalidArgument", err)
	}
	if !strings.Contains(err.Error(), "of package openssl") {
		t.Errorf("error %q does not name the source package", err)
	}
}

// TestLookupPURLInvalidQueryVersion checks a version that its ecosystem
// cannot parse: records that list it exactly match, records whose ranges
// cannot be compared with it are possibly affected, and records of other
// packages never match.
func TestLookupPURLInvalidQueryVersion(t *testing.T) {
	entry := func(id, name string, versions []string, ranges ...Range) Record {
		return Record{ID: id, Modified: "2026-01-01T00:00:00Z", Affected: []Affected{{
			Package:  Package{Ecosystem: "npm", Name: name},
			Versions: versions,
			Ranges:   ranges,
		}}}
	}
	belowThree := []Event{{Introduced: "0"}, {Fixed: "3.0.0"}}
	db := purlTestDB(t,
		entry("LISTED", "tagged", []string{"2.0"}),
		entry("LISTED-AND-RANGE", "tagged", []string{"2.0"}, Range{Type: "ECOSYSTEM", Events: belowThree}),
		entry("RANGE", "tagged", nil, Range{Type: "ECOSYSTEM", Events: belowThree}),
		// SemVer parses "2.0" as 2.0.0, so SEMVER ranges are compared.
		entry("SEMVER-IN", "tagged", nil, Range{Type: "SEMVER", Events: belowThree}),
		entry("SEMVER-OUT", "tagged", nil, Range{Type: "SEMVER", Events: []Event{{Introduced: "2.1.0"}, {Fixed: "3.0.0"}}}),
		entry("GIT", "tagged", nil, Range{Type: "GIT", Events: []Event{{Introduced: "0"}, {Fixed: "abc123"}}}),
		entry("OTHER-LISTED", "tagged", []string{"1.0"}),
		entry("OTHER-PACKAGE", "other", nil, Range{Type: "ECOSYSTEM", Events: belowThree}),
		entry("LISTED-ONLY", "listed-only", []string{"1.0"}),
		entry("SEMVER-ONLY", "semver-only", nil, Range{Type: "SEMVER", Events: []Event{{Introduced: "2.1.0"}, {Fixed: "3.0.0"}}}),
	)

	recs, err := db.LookupPURL("pkg:npm/tagged@2.0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(recs), "LISTED,LISTED-AND-RANGE,RANGE,SEMVER-IN"; got != want {
		t.Fatalf("LookupPURL(tagged@2.0) = %q, want %q", got, want)
	}
	for _, r := range recs {
		reason := r.PossiblyAffected()
		if r.ID != "RANGE" {
			if reason != "" {
				t.Errorf("%s is marked possibly affected (%q), want a confirmed match", r.ID, reason)
			}
			continue
		}
		if want := `version "2.0" of tagged is not a valid npm version`; !strings.Contains(reason, want) {
			t.Errorf("reason of RANGE %q lacks %q", reason, want)
		}
	}

	recs, err = db.LookupPURL("pkg:npm/other@2.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recs); got != "OTHER-PACKAGE" {
		t.Errorf("LookupPURL(other@2.0) = %q, want OTHER-PACKAGE", got)
	} else if recs[0].PossiblyAffected() == "" {
		t.Errorf("OTHER-PACKAGE is not marked possibly affected")
	}

	// A SEMVER range compared the version and does not include it, so
	// the result is no record, not an invalid version.
	recs, err = db.LookupPURL("pkg:npm/semver-only@2.0")
	if err != nil || len(recs) != 0 {
		t.Errorf("LookupPURL(semver-only@2.0) = %q, %v; want no record and no error", ids(recs), err)
	}

	// With neither an exact entry nor a range, the version can never
	// match, which is an error rather than an empty result.
	checkInvalidPURLs(t, db, []struct{ purl, message string }{
		{"pkg:npm/listed-only@2.0", "not a valid npm version"},
		{"pkg:npm/nosuch@2.0", "not a valid npm version"},
	})
}

// TestPURLDistroWithoutRelease checks the release that distro qualifiers
// give, and that one without a release leaves the query without one.
func TestPURLDistroWithoutRelease(t *testing.T) {
	for purl, want := range map[string]string{
		"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-jammy": "22.04",
		"pkg:deb/debian/openssl@3.0.11-1?distro=bookworm":           "12",
		"pkg:rpm/opensuse/curl@8.0-1?distro=opensuse-tumbleweed":    "",
		"pkg:deb/debian/openssl@3.0.11-1?distro=debian-sid":         "",
		"pkg:deb/debian/openssl@3.0.11-1?distro=debian":             "",
		"pkg:rpm/redhat/openssl@1:1.0-1?distro=rhel":                "",
	} {
		q, err := purlQuery(purl)
		if err != nil {
			t.Errorf("purlQuery(%s): %v", purl, err)
			continue
		}
		if q.release != want {
			t.Errorf("purlQuery(%s) release %q, want %q", purl, q.release, want)
		}
	}
}

func TestLookupPURLUnparsedRangeVersion(t *testing.T) {
	withEvents := func(id, name string, events ...Event) Record {
		return Record{ID: id, Modified: "2026-01-01T00:00:00Z", Affected: []Affected{{
			Package: Package{Ecosystem: "npm", Name: name},
			Ranges:  []Range{{Type: "ECOSYSTEM", Events: events}},
		}}}
	}
	db := purlTestDB(t,
		// npm versions have three numbers, so "2.0" and "1.x" do not parse.
		withEvents("A-1", "wp1", Event{Introduced: "0"}, Event{Fixed: "2.0"}),
		withEvents("A-2", "wp2", Event{Introduced: "1.x"}, Event{Fixed: "2.0.0"}),
		fixedIn("A-3", "npm", "2.0.0", "wp3"),
	)
	cases := []struct {
		purl     string
		want     string
		possibly bool
	}{
		{"pkg:npm/wp1@2.5.0", "A-1", true},
		{"pkg:npm/wp2@1.5.0", "A-2", true},
		{"pkg:npm/wp3@1.5.0", "A-3", false},
		{"pkg:npm/wp3@2.5.0", "", false},
	}
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupPURL(%s) = %q, want %q", c.purl, got, c.want)
			continue
		}
		if len(recs) == 0 {
			continue
		}
		reason := recs[0].PossiblyAffected()
		if got := reason != ""; got != c.possibly {
			t.Errorf("LookupPURL(%s): possibly affected = %v (%q), want %v", c.purl, got, reason, c.possibly)
		}
	}

	// The mark is added to a copy, so a record from the cache stays clean.
	recs, err := db.Lookup("A-1")
	if err != nil {
		t.Fatal(err)
	}
	if reason := recs[0].PossiblyAffected(); reason != "" {
		t.Errorf("Lookup(A-1) is marked possibly affected: %q", reason)
	}
	recs, err = db.LookupPURL("pkg:npm/wp1@2.5.0")
	if err != nil {
		t.Fatal(err)
	}
	if reason := recs[0].PossiblyAffected(); !strings.Contains(reason, `"2.0"`) {
		t.Errorf("reason %q does not name the range version 2.0", reason)
	}
}

// TestPURLDistroOfAnotherNamespace checks that a distro qualifier naming a
// release of another distribution than the purl's namespace is an error,
// since it would match nothing and read as not affected.
func TestPURLDistroOfAnotherNamespace(t *testing.T) {
	for _, purl := range []string{
		"pkg:deb/debian/openssl@3.0.11-1?distro=ubuntu-22.04",
		"pkg:apk/alpine/openssl@3.1.4-r0?distro=debian-12",
	} {
		_, err := purlQuery(purl)
		if !errors.Is(err, errdef.ErrInvalidArgument) || !strings.Contains(err.Error(), "make the two agree") {
			t.Errorf("purlQuery(%s) = %v; want an invalid-argument error naming the contradiction", purl, err)
		}
	}
	for _, purl := range []string{
		"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-22.04",
		"pkg:rpm/opensuse/curl@8.0-1?distro=opensuse-tumbleweed",
		"pkg:rpm/redhat/openssl@1:1.0-1?distro=rhel-9",
	} {
		if _, err := purlQuery(purl); err != nil {
			t.Errorf("purlQuery(%s): %v", purl, err)
		}
	}
}

// TestUnionByIDKeepsConfirmed checks that a record found possibly affected
// by one lookup and confirmed by the other comes out confirmed, whichever
// lookup confirmed it.
func TestUnionByIDKeepsConfirmed(t *testing.T) {
	confirmed := Record{ID: "DSA-1"}
	possibly := markPossiblyAffected(confirmed, "version could not be compared")
	other := Record{ID: "DSA-2"}
	for name, lists := range map[string][2][]Record{
		"binary possibly": {{possibly}, {confirmed, other}},
		"source possibly": {{confirmed, other}, {possibly}},
	} {
		got := unionByID(lists[0], lists[1])
		if len(got) != 2 || got[0].ID != "DSA-1" || got[1].ID != "DSA-2" {
			t.Fatalf("%s: got %d records %v, want DSA-1 and DSA-2", name, len(got), got)
		}
		if r := got[0].PossiblyAffected(); r != "" {
			t.Errorf("%s: DSA-1 is marked possibly affected (%q), want confirmed", name, r)
		}
	}
	only := unionByID([]Record{possibly}, nil)
	if len(only) != 1 || only[0].PossiblyAffected() == "" {
		t.Errorf("a record only one lookup found possibly affected lost its mark: %v", only)
	}
}
