package vulndb

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pep440 "github.com/aquasecurity/go-pep440-version"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	packageurl "github.com/package-url/packageurl-go"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
	"stella-ops.org/ouk/oci"
)

// addSeeds adds every file of a shared testdata folder to the corpus. When
// the folder is absent, only the inline seeds run.
func addSeeds(f *testing.F, sub string) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", sub)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseOSV(f *testing.F) {
	addSeeds(f, "osv")
	addSeeds(f, "ghsa")
	// NVD JSON given as an OSV feed must be rejected, not read as OSV.
	addSeeds(f, "nvd")
	f.Add([]byte(`[{"id":"A-1","modified":"2024-01-01T00:00:00Z"},{"id":""}]`))
	f.Add([]byte(`{"id":"A-1","modified":"2024-01-01","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`))
	// Packages given by deb, apk and rpm purls: a distro qualifier without
	// a release, an rpm release, and purl types that do not fit the
	// namespace, alone and beside an ecosystem and name.
	f.Add([]byte(`{"id":"A-2","modified":"2024-01-01T00:00:00Z","affected":[` +
		`{"package":{"purl":"pkg:deb/debian/x?distro=sid"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]},` +
		`{"package":{"purl":"pkg:rpm/redhat/y?distro=rhel-9.3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]},` +
		`{"package":{"purl":"pkg:apk/debian/z"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]},` +
		`{"package":{"ecosystem":"Debian","name":"w","purl":"pkg:rpm/debian/w"},"versions":["1.0-1"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, _ := parseOSV("fuzz.json", data)
		for _, s := range srcs {
			if !validID(s.rec.ID) || s.rec.Modified == "" {
				t.Fatalf("accepted record with id %q modified %q", s.rec.ID, s.rec.Modified)
			}
			checkPackageWarnings(t, s)
		}
		if len(srcs) > 0 {
			recs, _ := merge(srcs)
			if _, err := encodeRecords(recs); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkPackageWarnings fails unless each affected package of an accepted
// record either has an ecosystem and name that its purl does not
// contradict, or is named by a warning of the record. An entry without
// any package and without SEMVER or ECOSYSTEM ranges needs no warning.
func checkPackageWarnings(t *testing.T, s source) {
	t.Helper()
	reasons := map[string]bool{}
	for _, w := range s.warnings {
		reasons[w.Reason] = true
	}
	for _, a := range s.rec.Affected {
		p := a.Package
		if a.Unresolved() && !reasons[reasonUnresolvedPackage] {
			t.Fatalf("record %s keeps package %+v without a %s warning", s.rec.ID, p, reasonUnresolvedPackage)
		}
		if p.Ecosystem == "" || p.Name == "" {
			continue
		}
		if p.PURL == "" {
			continue
		}
		if q, err := purlQuery(p.PURL); err == nil && !identifiesPackage(q, p.Ecosystem, p.Name) && !reasons[reasonPURLMismatch] {
			t.Fatalf("record %s keeps package %+v, whose purl names %s/%s, without a %s warning",
				s.rec.ID, p, q.ecosystem, q.name, reasonPURLMismatch)
		}
	}
}

func FuzzParseNVD(f *testing.F) {
	addSeeds(f, "nvd")
	// OSV JSON given as an nvd feed must be rejected, not read as NVD.
	addSeeds(f, "osv")
	f.Add([]byte(nvdLodash))
	f.Add([]byte(`{"cve":{"id":"CVE-2020-1","lastModified":"2020-01-01T00:00:00"}}`))
	f.Add([]byte(`{"vulnerabilities":[null,{"cve":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, _ := parseNVD("fuzz.json", data)
		for _, s := range srcs {
			if !isCVE(s.rec.ID) {
				t.Fatalf("accepted non-CVE id %q", s.rec.ID)
			}
		}
	})
}

func FuzzIndexLayer(f *testing.F) {
	line := []byte(`{"id":"A-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-1"],"affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1"]}]}` + "\n")
	good, _ := compress(line, zstdLevel)
	f.Add(good)
	f.Add(line)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, data []byte) {
		desc := ocispec.Descriptor{MediaType: oci.MediaTypeDBLayer, Digest: digest.FromBytes(data), Size: int64(len(data))}
		store := kv.NewMemory()
		if err := IndexLayer(context.Background(), store, desc, bytes.NewReader(data)); err != nil {
			return
		}
		db, err := Open(store, nil, []ocispec.Descriptor{desc})
		if err != nil {
			t.Fatal(err)
		}
		db.LookupPURL("pkg:npm/a@1")
		db.Lookup("A-1")
	})
}

func FuzzLookupQueries(f *testing.F) {
	f.Add("pkg:npm/lodash@4.17.20", "cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*")
	f.Add("pkg:deb/debian/nginx@1.2?distro=bookworm", "cpe:/a:x:y:1")
	f.Add("pkg:maven/g/a@1", `cpe:2.3:a:ven\:dor:prod:*`)
	f.Add("pkg:npm/lodash@", "cpe:2.3:x:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*")
	f.Add("pkg:npm/lodash@4.17.20@x", "cpe:2.3:a:webm project:libwebp:1.3.1:*:*:*:*:*:*:*")
	f.Add("pkg:npm/lodash@4.17.20", "cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*")
	f.Add("pkg:npm/lodash@4.17.20", "cpe:2.3:a:apache:log4j:2.0-beta9:*:*:*:*:*:*:*")
	f.Add("pkg:rpm/debian/libfoo3@1.0-1", "cpe:/a:x:y:1")
	f.Add("pkg:rpm/mageia/mg@1.0-1.mga9?distro=mageia-9", "cpe:/a:x:y:1")
	f.Add("pkg:rpm/openEuler/eul@1.0-1?distro=openEuler-22.03-LTS-SP3&epoch=2", "cpe:/a:x:y:1")
	f.Add("pkg:deb/debian/openssl@3.0.11-1?distro=debian-sid&upstream=openssl", "cpe:/a:x:y:1")
	f.Add("pkg:apk/alpine/openssl@3.1.4-r0?distro=alpine-edge", "cpe:/a:x:y:1")
	f.Add("pkg:rpm/redhat/openssl@1.0-1?distro=rhel&epoch=1", "cpe:/a:x:y:1")
	db := fuzzPURLDB(f)
	f.Fuzz(func(t *testing.T, purl, cpe string) {
		// A query is either valid or rejected as an invalid argument or as
		// not found (a type with no OSV ecosystem), never with another error.
		if err := ValidatePURL(purl); err != nil && !errors.Is(err, errdef.ErrInvalidArgument) && !errors.Is(err, errdef.ErrNotFound) {
			t.Fatalf("ValidatePURL(%q) = %v, which is neither an invalid argument nor not found", purl, err)
		}
		if err := ValidateCPE(cpe); err != nil && !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Fatalf("ValidateCPE(%q) = %v, which is not an invalid argument", cpe, err)
		}
		if q, err := purlQuery(purl); err == nil && q.ecosystem == "" {
			t.Fatalf("purl %q parsed without an ecosystem", purl)
		} else if err == nil && q.unknownRelease != "" && q.release != "" {
			t.Fatalf("purl %q has release %q and a distro qualifier %q without one", purl, q.release, q.unknownRelease)
		}
		if _, err := db.LookupPURL(purl); err != nil && !errors.Is(err, errdef.ErrInvalidArgument) && !errors.Is(err, errdef.ErrNotFound) {
			t.Fatalf("LookupPURL(%q) = %v, which is neither an invalid argument nor not found", purl, err)
		}
		if p, err := packageurl.FromString(purl); err == nil && (p.Type == "deb" || p.Type == "apk" || p.Type == "rpm") {
			// A distribution's purls have the type of its package format.
			d := distributions[strings.ToLower(p.Namespace)]
			if _, err := purlQuery(purl); err == nil && d.purlType != p.Type {
				t.Fatalf("purl %q of type %s parsed as %s, whose packages are %s", purl, p.Type, d.ecosystem, d.purlType)
			}
		}
		if c, err := parseCPEQuery(cpe); err == nil {
			m := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:" + c.Vendor + ":" + c.Product + ":*",
				VersionStartIncluding: "1.0", VersionEndExcluding: "2.0"}
			m.match(c)
			// A criterion with a version and an update, which a query may
			// write joined into its version.
			withUpdate := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:" + c.Vendor + ":" + c.Product + ":7.4:p1"}
			withUpdate.match(c)
			joined := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:" + c.Vendor + ":" + c.Product + ":7.4p1"}
			joined.match(c)
		}
	})
}

// fuzzPURLDB returns a DB with records of one package in several
// distributions and releases, with and without a release suffix, for
// FuzzLookupQueries to look purls up in.
func fuzzPURLDB(f *testing.F) *DB {
	var recs []Record
	for i, eco := range []string{"Debian", "Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.18", "Wolfi",
		"Red Hat:enterprise_linux:9::baseos", "Rocky Linux:9", "SUSE:Linux Enterprise Server 15 SP5",
		"openSUSE:Tumbleweed", "Mageia:9", "openEuler:22.03-LTS-SP3"} {
		recs = append(recs, fixedIn(fmt.Sprintf("FUZZ-%02d", i), eco, "2.0-1", "openssl"))
	}
	l, err := newLayer(recs, LayerBase, "mixed", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	store := kv.NewMemory()
	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		f.Fatal(err)
	}
	db, err := Open(store, nil, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		f.Fatal(err)
	}
	return db
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("npm", "1.0.0", "1.0.1")
	f.Add("Packagist", "1.0-dev", "1.0.#.beta")
	f.Add("Alpine", "1.2.0_rc1-r3", "1.2.0")
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		// The fuzzed ecosystem name reaches the fallback order, and every
		// order of its own is checked on each input too.
		for _, e := range []string{eco, "npm", "PyPI", "Maven", "RubyGems", "Debian", "Alpine", "Red Hat",
			"Packagist", "NuGet", "Go", "crates.io", "Hex", "Pub"} {
			cmp := comparerFor(e)
			x, errA := cmp(a, b)
			y, errB := cmp(b, a)
			if errA == nil && errB == nil && sign(x) != -sign(y) {
				t.Fatalf("%s: compare(%q,%q)=%d but compare(%q,%q)=%d", e, a, b, x, b, a, y)
			}
		}
	})
}

func FuzzDecodePkgValue(f *testing.F) {
	f.Add(encodePkgValue([]pkgAffected{{Ecosystem: "PyPI", Versions: []string{"1.0"},
		Ranges: []pkgRange{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: "2.0"}}}}}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := decodePkgValue(data)
		if err != nil {
			return
		}
		// A value that decodes encodes back to the same entries.
		again, err := decodePkgValue(encodePkgValue(entries))
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(entries) {
			t.Fatalf("round trip changed %v to %v", entries, again)
		}
	})
}

// sortedInRange is the direct reading of OSV range semantics: sort the
// events other than limits by version, walk them and let the last one at or
// below the version decide. When the range has limit events, the version
// must also be below one of them, or one must be "*". inRange must agree
// with it.
func sortedInRange(events []Event, version string, cmp compareFunc) bool {
	if _, err := cmp(version, version); err != nil {
		return false
	}
	type sorted struct {
		kind    int
		version string
	}
	var evs []sorted
	var limits []string
	for _, e := range events {
		ev, ok := newRangeEvent(e)
		if !ok {
			continue
		}
		if ev.kind == pkgEventLimit {
			limits = append(limits, ev.version)
			continue
		}
		if ev.kind == 0 && ev.version == "0" {
			evs = append(evs, sorted{kind: 0})
			continue
		}
		if _, err := cmp(ev.version, ev.version); err != nil {
			// A version that cannot be placed leaves the range undecided.
			return false
		}
		evs = append(evs, sorted{ev.kind, ev.version})
	}
	slices.SortStableFunc(evs, func(a, b sorted) int {
		switch {
		case a.version == "" && b.version == "":
		case a.version == "":
			return -1
		case b.version == "":
			return 1
		default:
			if c, _ := cmp(a.version, b.version); c != 0 {
				return c
			}
		}
		return 0
	})
	affected := false
	for _, e := range evs {
		c := 1
		if e.version != "" {
			c, _ = cmp(version, e.version)
		}
		switch {
		case e.kind == 0 && c >= 0:
			affected = true
		case e.kind == 1 && c > 0, e.kind == 2 && c >= 0:
			affected = false
		}
	}
	return affected && beforeLimits(limits, version, cmp)
}

// beforeLimits reports whether version is below one of limits or one of
// them is "*", or limits is empty. A limit that cannot be placed leaves the
// range undecided, so it reports false.
func beforeLimits(limits []string, version string, cmp compareFunc) bool {
	below := len(limits) == 0
	for _, l := range limits {
		if l == "*" {
			below = true
			continue
		}
		c, err := cmp(version, l)
		if err != nil {
			return false
		}
		below = below || c < 0
	}
	return below
}

// FuzzInRange checks the unsorted range walk against sortedInRange, and a
// SEMVER range against sortedInRange in SemVer order for a SemVer version
// and in the ecosystem's order for any other version. The input is a
// version and a list of events written as kind letters and versions:
// "i1.0.0 f1.5.0 l2.3.0 x3.0.0" (x is limit).
func FuzzInRange(f *testing.F) {
	f.Add("1.4.9", "i2.0.0 l2.3.0 i1.0.0 f1.5.0")
	f.Add("2.3.0", "i2.0.0 l2.3.0 i1.0.0 f1.5.0")
	f.Add("1.0.0", "i0 f1.0.0 i1.0.0")
	f.Add("1.0.0", "i1.0.0 f1.0.0")
	f.Add("1.0.0", "l1.0.0 i1.0.0 x2.0.0")
	f.Add("2.5.0", "i1.0.0 x2.0.0 x3.0.0")
	f.Add("2.5.0", "i0 x1.0.0 i2.0.0")
	f.Add("2.5.0", "i1.0.0 x*")
	f.Add("2.5.0", "x3.0.0 i1.0.0 f2.0.0 i2.2.0 x2.1.0")
	f.Add("3.0.0", "i0 i1.0.0 f2.0.0 i2.5.0")
	f.Add("1.0.0", "i1.0 f1.0.0")
	f.Add("1.0.post1", "i1.0.0 f1.1.0")
	f.Add("1.2.3.4", "i0 l1.2.3 i1.2.3.1 f1.2.4")
	f.Add("1.0.0.Final", "i0 f1.0.0-x.7.z.92")
	f.Add("1.9", "i2.0.0.Final f2.0.2")
	f.Add("2.0.1", "i2.0.0.Final f2.0.2")
	f.Add("1.0", "i1.0.post1 f2.0")
	f.Fuzz(func(t *testing.T, version, spec string) {
		var events []Event
		for _, w := range strings.Fields(spec) {
			switch w[0] {
			case 'i':
				events = append(events, Event{Introduced: w[1:]})
			case 'f':
				events = append(events, Event{Fixed: w[1:]})
			case 'l':
				events = append(events, Event{LastAffected: w[1:]})
			case 'x':
				events = append(events, Event{Limit: w[1:]})
			}
		}
		for _, eco := range []string{"npm", "PyPI", "Packagist", "Maven", "Debian", "RubyGems", "NuGet", "Go"} {
			cmp := comparerFor(eco)
			order := orderFor(eco).name
			all := append(eventVersions(events), version)
			// NOTE: The Packagist and Maven orders are not transitive on
			// some versions. PHP's version_compare ranks the special form
			// "#" equal to every number, so "#0" equals "0+0" but is above
			// "1", which is above "0+0". The Maven library
			// (github.com/masahiro331/go-mvn-version) orders "1-0" equal to
			// "1" and "1" below "1.A", but "1-0" above "1.A". A walk that
			// does not sort the events can then disagree with a sorted
			// one, and neither is right, so inputs on which these two
			// orders are not transitive are skipped.
			if (eco == "Packagist" || eco == "Maven") && !totalPreorderOn(cmp, all) {
				continue
			}
			got, want := inRange(events, version, cmp), sortedInRange(events, version, cmp)
			if got != want {
				t.Fatalf("%s: inRange(%q, %q) = %v, sorted walk gives %v", eco, spec, version, got, want)
			}

			// SEMVER ranges compare in SemVer, or in the ecosystem's
			// order when SemVer rejects the version, or when SemVer
			// rejects a range version and that order parses the version
			// and every range version. The ecosystem's order is used
			// only when every version that SemVer rejects is plausible,
			// and otherwise the range is undecided and includes nothing.
			semverCmp := compareSemver
			switch {
			case eco == "Go":
			case !versionsParse(compareSemver, version):
				semverCmp = cmp
				if !allPlausible(order, all...) {
					semverCmp = rejectAll
				}
			case !versionsParse(compareSemver, eventVersions(events)...) &&
				allPlausible(order, all...) && versionsParse(cmp, all...):
				semverCmp = cmp
			}
			m := newVersionMatcher(eco, version).matches(&pkgAffected{Ranges: []pkgRange{{Type: "SEMVER", Events: events}}})
			if want := sortedInRange(events, version, semverCmp); m.affected != want {
				t.Fatalf("%s: SEMVER range %q includes %q: %v, sorted walk gives %v", eco, spec, version, m.affected, want)
			}
		}
	})
}

// allPlausible reports whether every version of vs is valid SemVer or
// accepted by plausibleVersion in the named order.
func allPlausible(order string, vs ...string) bool {
	for _, v := range vs {
		if _, err := compareSemver(v, v); err != nil && !plausibleVersion(order, v) {
			return false
		}
	}
	return true
}

// totalPreorderOn reports whether compare orders the versions of vs that it
// accepts as a total preorder: sorted, and every pair compares, in both
// directions, as their positions and groups of equal neighbours imply.
func totalPreorderOn(compare compareFunc, vs []string) bool {
	var valid []string
	for _, v := range vs {
		if versionsParse(compare, v) {
			valid = append(valid, v)
		}
	}
	slices.SortStableFunc(valid, func(a, b string) int {
		c, _ := compare(a, b)
		return c
	})
	group := make([]int, len(valid))
	for i := 1; i < len(valid); i++ {
		group[i] = group[i-1]
		if c, _ := compare(valid[i-1], valid[i]); c < 0 {
			group[i]++
		}
	}
	for i := range valid {
		for j := range valid {
			c, _ := compare(valid[i], valid[j])
			if cmp.Compare(c, 0) != cmp.Compare(group[i], group[j]) {
				return false
			}
		}
	}
	return true
}

// rejectAll is a compareFunc for which no version is valid.
func rejectAll(a, b string) (int, error) {
	return 0, fmt.Errorf("versions %q and %q are not compared", a, b)
}

// versionsParse reports whether cmp accepts every version of vs.
func versionsParse(cmp compareFunc, vs ...string) bool {
	for _, v := range vs {
		if _, err := cmp(v, v); err != nil {
			return false
		}
	}
	return true
}

// eventVersions returns the versions of range events, leaving out the
// introduced "0" and the limit "*", which are never parsed.
func eventVersions(events []Event) []string {
	var out []string
	for _, e := range events {
		if ev, ok := newRangeEvent(e); ok && !ev.skipsParse() {
			out = append(out, ev.version)
		}
	}
	return out
}

// FuzzPEP440Compare checks the plain-release shortcut of pep440Version
// against the PEP 440 library's own Compare.
func FuzzPEP440Compare(f *testing.F) {
	f.Add("1.0", "1.0.0")
	f.Add("1.2.3", "1.10")
	f.Add("2.0", "2.0rc1")
	f.Add("0.0", "0")
	f.Add("01.2", "1.2.0")
	f.Add("1.2.999999999999999999", "1.2.1000000000000000000")
	f.Fuzz(func(t *testing.T, a, b string) {
		x, errA := parsePEP440(a)
		y, errB := parsePEP440(b)
		if errA != nil || errB != nil {
			return
		}
		lx, errA := pep440.Parse(a)
		ly, errB := pep440.Parse(b)
		if errA != nil || errB != nil {
			t.Fatalf("parsePEP440 accepts %q and %q, the library rejects one: %v, %v", a, b, errA, errB)
		}
		if got, want := x.Compare(y), lx.Compare(ly); got != want {
			t.Fatalf("compare(%q, %q) = %d, the library gives %d", a, b, got, want)
		}
	})
}

// FuzzConfigurationsFast checks the fast reader of NVD configurations
// against encoding/json on the raw value of database_specific.stellaops.
func FuzzConfigurationsFast(f *testing.F) {
	f.Add(`{"sources":[{"feed":"nvd","id":"CVE-2023-4863"}],"nvd_configurations":[{"nodes":[{"operator":"OR","negate":false,` +
		`"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:webmproject:libwebp:*:*:*:*:*:*:*:*","versionEndExcluding":"1.3.2"}]}]}]}`)
	f.Add(`{"nvd_configurations":null}`)
	f.Add(`{"nvd_configurations":[{"nodes":[{"cpeMatch":[null]}]}]}`)
	f.Add(`{"NVD_configurations":[]}`)
	f.Add(`{"tombstone":true}`)
	f.Add(`{"nvd_configurations":[{"nodes":[{"cpeMatch":[{"criteria":"cpe:2.3:a:x\u0041:y:*:*:*:*:*:*:*:*","vulnerable":false}]}]}]}`)
	f.Add(`{"nvd_configurations":[{"operator":"AND","negate":false,"nodes":[{"operator":"OR","negate":false,"cpeMatch":[` +
		`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}]},` +
		`{"operator":"OR","negate":true,"cpeMatch":[{"vulnerable":false,"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"}]}]}]}`)
	f.Add(`{"nvd_configurations":[{"operator":null,"negate":null,"nodes":[{"operator":"AND","negate":null,"cpeMatch":[]}]}]}`)
	f.Add(`{"nvd_configurations":[{"operator":"OR","negate":true,"nodes":[{"operator":"OR","negate":true,"cpeMatch":[` +
		`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}]}]},` +
		`{"negate":false,"nodes":[]},{"negate":true,"negate":false,"nodes":[]}]}`)
	f.Add(`{"nvd_configurations":[{"operator":"\u0041ND","nodes":[]}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		_, fast, ok := stellaopsFast([]byte(raw), true, nil)
		if !ok {
			return
		}
		rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(raw)}}
		slow := recordConfigsJSON(&rec)
		// %+v prints nil and empty slices alike, as the callers treat them.
		if f, s := fmt.Sprintf("%+v", fast), fmt.Sprintf("%+v", slow); f != s {
			t.Fatalf("fast reader gives %s, encoding/json %s", f, s)
		}
	})
}

// sign returns -1, 0 or 1 by the sign of c.
func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// zipSeed returns a zip archive of the .json files of dir, the form of an
// OSV all.zip, or nil when dir cannot be read.
func zipSeed(f *testing.F, dir string) []byte {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		w, err := zw.Create(e.Name())
		if err != nil {
			f.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadFeedZip reads a zip archive as an OSV feed, as a feed of kind
// osv reads all.zip. A damaged archive or entry stops the feed with an
// error that names the archive, and a malformed record is a rejection
// that names it too.
func FuzzReadFeedZip(f *testing.F) {
	for _, dir := range []string{
		filepath.Join("..", "..", "testdata", "feeds", "osv"),
		filepath.Join("..", "..", "..", "shared", "testdata", "osv"),
		filepath.Join("..", "..", "..", "shared", "testdata", "ghsa"),
	} {
		if seed := zipSeed(f, dir); seed != nil {
			f.Add(seed)
		}
	}
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "all.zip")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var srcs []source
		fr := &feedReader{feed: Feed{Kind: FeedOSV, Path: path},
			emit: func(s source) { srcs = append(srcs, s) },
			reject: func(e *RecordError) {
				if !strings.HasPrefix(e.File, path) {
					t.Fatalf("rejection names file %q, not the archive %s: %v", e.File, path, e)
				}
			}}
		if err := fr.read(context.Background()); err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the archive %s: %v", path, err)
			}
			return
		}
		for _, s := range srcs {
			if !validID(s.rec.ID) || s.rec.Modified == "" {
				t.Fatalf("accepted record with id %q modified %q", s.rec.ID, s.rec.Modified)
			}
		}
	})
}
