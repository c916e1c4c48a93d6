package vulndb

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vectorCase is one "A OP B" line of a version-order vector file.
type vectorCase struct {
	line int
	a, b string
	op   string
}

func readVectors(t *testing.T, file string) []vectorCase {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir(t, "version-vectors"), file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vectorCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		out = append(out, vectorCase{line: n, a: fields[0], op: fields[1], b: fields[2]})
	}
	return out
}

// knownVectorGaps lists vector lines where the chosen library disagrees
// with the reference order. All are versions the ecosystem's current tools
// reject or never publish: PyPI versions that are not PEP 440, apk versions
// with invalid suffixes, SemVer numbers past 64 bits or with five parts,
// one Maven qualifier alias ("ga") and RPM versions with an empty release.
//
// NOTE: Most gaps make the order reject a version, which lookups report as
// possibly affected. Alpine lines 4, 5, 15 and 24, Maven line 100 and Red
// Hat lines 113 and 136 give a definite wrong order instead.
var knownVectorGaps = map[string]bool{
	"pypi-versions.txt:47":    true, // 0.1-bulbasaur < 0.1-charmander
	"pypi-versions.txt:48":    true, // 0.1-charmander < 0.9-doduo
	"pypi-versions.txt:49":    true, // 0.9-doduo < 0.9-eevee
	"pypi-versions.txt:50":    true, // 0.9-eevee < 0.9-fearow
	"pypi-versions.txt:51":    true, // 0.9-fearow < 0.9-gyarados
	"pypi-versions.txt:52":    true, // 0.9-gyarados < 0.9-horsea
	"pypi-versions.txt:53":    true, // 0.9-horsea < 0.9-ivysaur
	"pypi-versions.txt:54":    true, // 0.9-ivysaur < 1.0
	"pypi-versions.txt:56":    true, // -class.-jw.util.version.version-pre < 1.0
	"pypi-versions.txt:57":    true, // -class.-jw.util.version.version-preview < 1.0
	"pypi-versions.txt:58":    true, // -class.-jw.util.version.version-dev < 1.0
	"maven-versions.txt:100":  true, // 1-1 = 1-ga-1
	"alpine-versions.txt:4":   true, // 1-r-0 < 1-r0
	"alpine-versions.txt:5":   true, // 1-r-1 < 1-r0
	"alpine-versions.txt:15":  true, // 0.r1 < 0r2
	"alpine-versions.txt:24":  true, // 0.8.21.r2 < 0.8.21r2
	"alpine-versions.txt:27":  true, // 1.2.0A < 1.2.0d
	"alpine-versions.txt:28":  true, // 1.2.0D < 1.2.0d
	"alpine-versions.txt:40":  true, // 1 > 1-ruff
	"alpine-versions.txt:45":  true, // 1-ruff2 = 1-ruff1
	"alpine-versions.txt:47":  true, // 1-ruff2 = 1--ruff1
	"alpine-versions.txt:48":  true, // 1-r0-ruff2 = 1-r0-ruff1
	"alpine-versions.txt:50":  true, // 1.2 > 1.2_blah
	"alpine-versions.txt:58":  true, // 1.2_svn1 > 1.2_csv2
	"alpine-versions.txt:59":  true, // 1.2_cvs1 > 1.2_blah
	"alpine-versions.txt:72":  true, // 23_foo > 4_beta
	"alpine-versions.txt:74":  true, // 1.0 < 1.0bc
	"semver-versions.txt:87":  true, // 999999999999999999999999999991 < 999999999999999999999999999999
	"semver-versions.txt:88":  true, // 999999999999999999999999999991.999999999999999999999999999991.999999999999999999999999999991 < 999999999999999999999999999999.999999999999999999999999999991.999999999999999999999999999991
	"semver-versions.txt:92":  true, // 1.1.3.4.5 = 1.1.3.4.5
	"redhat-versions.txt:113": true, // 1 < 1- (an empty release)
	"redhat-versions.txt:136": true, // 1 < 1- (an empty release)
}

func TestVersionVectors(t *testing.T) {
	files := []struct {
		file      string
		ecosystem string
	}{
		{"pypi-versions.txt", "PyPI"},
		{"maven-versions.txt", "Maven"},
		{"debian-versions.txt", "Debian"},
		{"alpine-versions.txt", "Alpine"},
		{"semver-versions.txt", "Go"},
		{"packagist-versions.txt", "Packagist"},
		{"redhat-versions.txt", "Red Hat"},
	}
	for _, f := range files {
		t.Run(f.ecosystem, func(t *testing.T) {
			cmp := comparerFor(f.ecosystem)
			cases := readVectors(t, f.file)
			if len(cases) == 0 {
				t.Fatalf("no vectors in %s", f.file)
			}
			for _, c := range cases {
				name := fmt.Sprintf("%s:%d", f.file, c.line)
				got, err := cmp(c.a, c.b)
				ok := err == nil
				switch c.op {
				case "<":
					ok = ok && got < 0
				case ">":
					ok = ok && got > 0
				case "=":
					ok = ok && got == 0
				}
				if ok == knownVectorGaps[name] {
					t.Errorf("%s line %d: %s %s %s: compare = %d, err %v (known gap: %v)",
						f.file, c.line, c.a, c.op, c.b, got, err, knownVectorGaps[name])
				}
			}
		})
	}
}

func TestEcosystemOrders(t *testing.T) {
	cases := []struct {
		ecosystem, a, b string
		want            int
	}{
		{"npm", "1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"npm", "4.17.21", "4.17.20", 1},
		{"npm", "v4.17.20", "4.17.20", 0},
		{"npm", "v4.17.21", "4.17.20", 1},
		{"crates.io", "1.6.0", "1.6.1", -1},
		{"Go", "1.7.0", "1.10.0", -1},
		{"RubyGems", "1.0.0.pre", "1.0.0", -1},
		{"RubyGems", "2.10", "2.9.1", 1},
		{"NuGet", "1.2.3.4", "1.2.3.10", -1},
		{"NuGet", "4.0.0-rc2", "4.0.0", -1},
		{"Debian", "1:1.0-1", "2.0-1", 1},
		{"Alpine", "1.0.2o-r0", "1.0.2q-r0", -1},
		{"Maven", "1.5.9.RELEASE", "1.5.10", -1},
		{"PyPI", "1.0.post1", "1.0", 1},
		{"Packagist", "5.4.0-beta1", "5.4.0", -1},
	}
	for _, c := range cases {
		got, err := comparerFor(c.ecosystem)(c.a, c.b)
		if err != nil {
			t.Errorf("%s: compare(%s, %s): %v", c.ecosystem, c.a, c.b, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", c.ecosystem, c.a, c.b, got, c.want)
		}
	}
}

func TestRangeEvents(t *testing.T) {
	ev := func(kind, v string) Event {
		switch kind {
		case "i":
			return Event{Introduced: v}
		case "f":
			return Event{Fixed: v}
		case "l":
			return Event{LastAffected: v}
		}
		return Event{Limit: v}
	}
	// Two affected spans, listed out of order: [1.0, 1.5) and [2.0, 2.3].
	events := []Event{ev("i", "2.0.0"), ev("l", "2.3.0"), ev("i", "1.0.0"), ev("f", "1.5.0")}
	cases := map[string]bool{
		"0.9.0": false, "1.0.0": true, "1.4.9": true, "1.5.0": false,
		"1.9.0": false, "2.0.0": true, "2.3.0": true, "2.3.1": false, "not-a-version": false,
	}
	for v, want := range cases {
		if got := inRange(events, v, compareSemver); got != want {
			t.Errorf("inRange(%s) = %v, want %v", v, got, want)
		}
	}
	if !inRange([]Event{ev("i", "0")}, "99.0.0", compareSemver) {
		t.Error(`introduced "0" without a fix does not cover every version`)
	}
	a := Affected{Versions: []string{"weird-tag"}}
	if !versionAffected(&a, "npm", "weird-tag") {
		t.Error("a version listed in versions is not affected")
	}
}

// TestRangeEqualEvents checks that of events at the same version, the one
// the record lists last decides, as a stable sort of the events leaves
// them.
func TestRangeEqualEvents(t *testing.T) {
	cases := []struct {
		name   string
		events []Event
		want   map[string]bool
	}{
		{"fixed then introduced again", []Event{{Introduced: "0"}, {Fixed: "1.0.0"}, {Introduced: "1.0.0"}, {Fixed: "1.0.1"}},
			map[string]bool{"0.9.0": true, "1.0.0": true, "1.0.1": false}},
		{"introduced then fixed", []Event{{Introduced: "1.0.0"}, {Fixed: "1.0.0"}},
			map[string]bool{"0.9.0": false, "1.0.0": false, "2.0.0": false}},
		{"last affected then introduced", []Event{{Introduced: "0"}, {LastAffected: "1.0.0"}, {Introduced: "1.0.0"}},
			map[string]bool{"1.0.0": true, "2.0.0": true}},
		{"introduced then last affected", []Event{{Introduced: "1.0.0"}, {LastAffected: "1.0.0"}},
			map[string]bool{"0.9.0": false, "1.0.0": true, "1.0.1": false}},
	}
	for _, c := range cases {
		for v, want := range c.want {
			if got := inRange(c.events, v, compareSemver); got != want {
				t.Errorf("%s: inRange(%s) = %v, want %v", c.name, v, got, want)
			}
		}
	}
}

// TestRangeLimitEvents checks the OSV rule for limit events: a version is
// in a range only when it is below one of its limits, and limits take no
// part in the walk over the other events.
func TestRangeLimitEvents(t *testing.T) {
	cases := []struct {
		name    string
		events  []Event
		version string
		want    bool
	}{
		// Several limits widen the range to the highest of them.
		{"below second limit", []Event{{Introduced: "1.0.0"}, {Limit: "2.0.0"}, {Limit: "3.0.0"}}, "2.5.0", true},
		{"above every limit", []Event{{Introduced: "1.0.0"}, {Limit: "2.0.0"}, {Limit: "3.0.0"}}, "3.0.0", false},
		{"below introduced", []Event{{Introduced: "1.0.0"}, {Limit: "2.0.0"}, {Limit: "3.0.0"}}, "0.9.0", false},
		// A limit below a later introduced event bounds it too.
		{"introduced above limit", []Event{{Introduced: "0"}, {Limit: "1.0.0"}, {Introduced: "2.0.0"}}, "2.5.0", false},
		{"below limit", []Event{{Introduced: "0"}, {Limit: "1.0.0"}, {Introduced: "2.0.0"}}, "0.5.0", true},
		{"at limit", []Event{{Introduced: "1.0.0"}, {Limit: "2.0.0"}}, "2.0.0", false},
		{"fixed below limit", []Event{{Introduced: "1.0.0"}, {Fixed: "1.5.0"}, {Limit: "3.0.0"}}, "1.7.0", false},
		{"no limit", []Event{{Introduced: "1.0.0"}, {Limit: "*"}}, "99.0.0", true},
		{"no limit and a limit", []Event{{Introduced: "1.0.0"}, {Limit: "2.0.0"}, {Limit: "*"}}, "5.0.0", true},
	}
	for _, c := range cases {
		if got := inRange(c.events, c.version, compareSemver); got != c.want {
			t.Errorf("%s: inRange(%v, %s) = %v, want %v", c.name, c.events, c.version, got, c.want)
		}
	}
}

// TestRangeLimitStar checks that a limit "*", which no version order
// parses, sets no bound: the range is decided, and the build gives no
// warning for it.
func TestRangeLimitStar(t *testing.T) {
	events := []Event{{Introduced: "1.0.0"}, {Limit: "*"}}
	m := newVersionMatcher("npm", "2.0.0").matches(&pkgAffected{Ranges: []pkgRange{{Type: "ECOSYSTEM", Events: events}}})
	if !m.affected || m.unevaluated != "" {
		t.Errorf("npm 2.0.0 in >=1.0.0 with limit *: %+v, want affected", m)
	}
	r := Record{Affected: []Affected{{Package: Package{Ecosystem: "npm", Name: "a"},
		Ranges: []Range{{Type: "SEMVER", Events: events}}}}}
	if got := unparsedRangeVersions(&r); len(got) != 0 {
		t.Errorf("unparsedRangeVersions = %q, want none", got)
	}
}

// TestListedVersionEquality checks that a versions list matches a version
// that the ecosystem's order compares equal to a listed one, and only equal
// text where the order is not known or does not parse both.
func TestListedVersionEquality(t *testing.T) {
	cases := []struct {
		ecosystem, listed, version string
		want                       bool
	}{
		{"PyPI", "0.0.1", "0.0.01", true},
		{"PyPI", "0.0.1", "v0.0.1", true},
		{"PyPI", "0.0.1", "0.0.1.0", true},
		{"PyPI", "3.0", "3.0.0", true},
		{"PyPI", "1.0.post1", "1.0-post1", true},
		{"PyPI", "0.0.1", "0.0.2", false},
		{"PyPI", "0.0.1", "0.0.1+local", false},
		{"npm", "v2.0.0", "2.0.0", true},
		{"npm", "2.0.0", "v2.0.0", true},
		{"npm", "2.0.0", "2.0.1", false},
		{"Maven", "1.5", "1.5.0", true},
		{"Go", "1.2.0", "v1.2.0", true},
		// An ecosystem without a known order compares text, and keeps
		// matching a queried "v" against a listed version without it.
		{"CRAN", "1.0", "1.0.0", false},
		{"CRAN", "1.0.0", "v1.0.0", true},
		{"GIT", "1.0", "1.0.0", false},
		// Text that the order cannot parse matches only itself.
		{"npm", "weird-tag", "weird-tag", true},
		{"npm", "2.0", "2.0.0", false},
	}
	for _, c := range cases {
		a := Affected{Versions: []string{c.listed}}
		if got := versionAffected(&a, c.ecosystem, c.version); got != c.want {
			t.Errorf("%s: listed %q, queried %q: affected = %v, want %v", c.ecosystem, c.listed, c.version, got, c.want)
		}
	}
}

// TestListedVersionsParsedOnce checks that a prepared entry's parsed
// versions are used, so a lookup does not parse the list again.
func TestListedVersionsParsedOnce(t *testing.T) {
	e := pkgAffected{Ecosystem: "PyPI", Versions: []string{"0.0.1", "0.0.2"}}
	var cache versionCache
	e.versionsOrder, e.parsedVersions = pypiOrder.name, parseVersions(pypiOrder, e.Versions, &cache)
	// A parsed list that disagrees with the text shows which one is used.
	e.parsedVersions[0] = e.parsedVersions[1]
	if !newVersionMatcher("PyPI", "0.0.02").matches(&e).affected {
		t.Error("0.0.02 does not match the parsed list")
	}
	e.versionsOrder = npmOrder.name
	if got := newVersionMatcher("PyPI", "0.0.01").matches(&e).affected; !got {
		t.Error("a list parsed in another order is used for PyPI")
	}
}

// TestDebianVersionValidity checks the versions dpkg rejects: an empty
// revision after the hyphen and characters outside the upstream version's
// alphabet.
func TestDebianVersionValidity(t *testing.T) {
	for _, v := range []string{"1.0", "1.0-1", "2:1.2~rc1-3+deb12u1", "1.0-a-b"} {
		if _, err := debianOrder.parse(v); err != nil {
			t.Errorf("Debian version %q rejected: %v", v, err)
		}
	}
	for _, v := range []string{"1.0-", "1_0", "abc", "a:1.0", ""} {
		if _, err := debianOrder.parse(v); err == nil {
			t.Errorf("Debian version %q accepted; dpkg rejects it", v)
		}
	}
}

// TestComposerDigitsOfOtherScripts checks versions with decimal digits of
// scripts other than Latin, which PHP does not count as digits and which
// once reached a nil big.Int.
func TestComposerDigitsOfOtherScripts(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"0", "\u07c2"},     // NKo digit two
		{"\u0661", "1"},     // Arabic-Indic digit one
		{"1.\uff11", "1.1"}, // fullwidth digit one
	} {
		got, err := compareComposer(c.a, c.b)
		if err != nil {
			t.Fatalf("compareComposer(%q, %q): %v", c.a, c.b, err)
		}
		if got == 0 {
			t.Errorf("compareComposer(%q, %q) = 0, want the versions to differ", c.a, c.b)
		}
	}
}

// TestNPMLeadingV checks that the npm order reads a version as node-semver's
// strict parse does: one leading lowercase "v" is ignored, and "=", "V" or
// a second "v" make the version invalid.
func TestNPMLeadingV(t *testing.T) {
	for _, v := range []string{"v4.17.20", "v1.0.0-beta.2"} {
		if _, err := npmOrder.parse(v); err != nil {
			t.Errorf("npm version %q rejected: %v", v, err)
		}
	}
	for _, v := range []string{"=4.17.20", "V4.17.20", "vv4.17.20", "v", "v4.17"} {
		if _, err := npmOrder.parse(v); err == nil {
			t.Errorf("npm version %q accepted; node-semver's strict parse rejects it", v)
		}
	}

	ranges := []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: "4.17.21"}}}}
	for v, want := range map[string]bool{"v4.17.20": true, "v4.17.21": false} {
		if got := versionAffected(&Affected{Ranges: ranges}, "npm", v); got != want {
			t.Errorf("npm range <4.17.21: version %s affected = %v, want %v", v, got, want)
		}
	}
	listed := Affected{Versions: []string{"4.17.20"}}
	if !versionAffected(&listed, "npm", "v4.17.20") {
		t.Error(`npm version "v4.17.20" does not match the listed version 4.17.20`)
	}
	if versionAffected(&listed, "npm", "v4.17.21") {
		t.Error(`npm version "v4.17.21" matches the listed version 4.17.20`)
	}
	if versionAffected(&Affected{Versions: []string{"weird-tag"}}, "npm", "vweird-tag") {
		t.Error(`npm version "vweird-tag", which is not valid, matches the listed version weird-tag`)
	}
}

// TestSortEvents checks that SortEvents orders events as lookups walk
// them, and keeps the record's order where a version could sort anywhere.
func TestSortEvents(t *testing.T) {
	cases := []struct {
		name, ecosystem, rangeType string
		events, want               []Event
	}{
		{"semver", "npm", "SEMVER",
			[]Event{{Limit: "*"}, {Fixed: "2.0.0"}, {Introduced: "1.0.0"}, {Introduced: "0"}, {Limit: "1.5.0"}},
			[]Event{{Introduced: "0"}, {Introduced: "1.0.0"}, {Limit: "1.5.0"}, {Fixed: "2.0.0"}, {Limit: "*"}}},
		{"equal versions in record order", "npm", "SEMVER",
			[]Event{{Fixed: "1.0.0"}, {Introduced: "0"}, {LastAffected: "1.0.0"}, {Introduced: "1.0.0"}},
			[]Event{{Introduced: "0"}, {Fixed: "1.0.0"}, {LastAffected: "1.0.0"}, {Introduced: "1.0.0"}}},
		// PEP 440 puts 1.0rc1 below 1.0, and SemVer cannot parse it.
		{"semver in ecosystem order", "PyPI", "SEMVER",
			[]Event{{Fixed: "1.0"}, {Introduced: "1.0rc1"}},
			[]Event{{Introduced: "1.0rc1"}, {Fixed: "1.0"}}},
		{"release suffix", "Alpine:v3.18", "ECOSYSTEM",
			[]Event{{Fixed: "1.10-r0"}, {Introduced: "1.9-r0"}},
			[]Event{{Introduced: "1.9-r0"}, {Fixed: "1.10-r0"}}},
		{"unparsed version keeps order", "npm", "ECOSYSTEM",
			[]Event{{Fixed: "2.0.0"}, {Introduced: "1.x"}},
			[]Event{{Fixed: "2.0.0"}, {Introduced: "1.x"}}},
		{"git keeps order", "npm", "GIT",
			[]Event{{Fixed: "b"}, {Introduced: "a"}},
			[]Event{{Fixed: "b"}, {Introduced: "a"}}},
	}
	for _, c := range cases {
		in := slices.Clone(c.events)
		if got := SortEvents(c.ecosystem, c.rangeType, c.events); !slices.Equal(got, c.want) {
			t.Errorf("%s: SortEvents = %v, want %v", c.name, got, c.want)
		}
		if !slices.Equal(c.events, in) {
			t.Errorf("%s: SortEvents changed its input to %v", c.name, c.events)
		}
	}
}
