package vulndb

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCompareCPEVersionTags(t *testing.T) {
	const unordered = 2
	cases := []struct {
		a, b string
		want int // -1, 0, 1, or unordered when ok must be false
	}{
		// A tag after "-" or "+" keeps the version at its base.
		{"1.1.1k-fips", "1.1.1", 1},
		{"1.1.1k-fips", "1.1.1k", unordered},
		{"1.1.1k-fips", "1.1.1l", -1},
		{"1.1.1k-fips", "1.1.1K-FIPS", 0},
		{"1.1.1k-1.el8", "1.1.1", 1},
		{"1.1.1k-1.el8", "1.1.1k", unordered},
		{"1.1.1k+dfsg", "1.1.1k", unordered},
		{"1.1.1k+dfsg", "1.1.1j", 1},
		{"1.1.1-1", "1.1.1", unordered},
		{"1.1.1-1", "1.1.1a", -1},
		{"1.1.1-1", "1.1.0", 1},
		{"1.2.3-ubuntu1", "1.2.3", unordered},
		{"1.2.3-ubuntu1", "1.2.4", -1},
		{"1.0.0final", "1.0.0", unordered},
		{"2.0+rc1", "2.0", unordered},
		// Pre-release words, after "-" or directly.
		{"1.0-rc1", "1.0", -1},
		{"1.0-beta.2", "1.0-beta.10", -1},
		{"1.0-SNAPSHOT", "1.0", -1},
		{"1.0-m1", "1.0", -1},
		{"1.0cr1", "1.0", -1},
		{"1.0.0-preview1", "1.0.0", -1},
		{"1.0-rc1+build5", "1.0-rc1", unordered},
		{"1.0-rc1+build5", "1.0", -1},
		// Case does not matter.
		{"2.0RC2", "2.0rc1", 1},
		{"2.0rc1", "2.0RC2", -1},
		{"2.0BETA", "2.0alpha", 1},
		// Letters.
		{"1.0-a", "1.0a", 0},
		{"1.0.0-k", "1.0.0k", 0},
		{"1.0a1", "1.0", -1},
		{"1.0a", "1.0", 1},
		{"2.0b1", "2.0", -1},
		{"2.0b", "2.0", unordered},
		{"2.0b", "2.0rc1", unordered},
		{"2.0b", "2.0c", -1},
		{"2.0b", "2.0a1", 1},
		{"v1.2", "1.2.0", 0},
		{"1.1.1", "1.1.1a", -1},
		{"1.1.1a", "1.1.1k", -1},
		{"1.1.1k", "1.1.1t", -1},
		{"1.1.1t", "1.1.2", -1},
		{"1.0.2z", "1.0.2za", -1},
		// Letters with a number span from the release to themselves.
		{"7.4p1", "7.4p2", -1},
		{"7.4p2", "7.4.0p2", 0},
		{"7.4p1", "7.4", unordered},
		{"8.4p1", "8.4", unordered},
		{"2.0sp1", "2.0", unordered},
		{"2.0sp1", "2.0sp2", -1},
		{"8u2", "8", unordered},
		{"7.4p1", "7.3", 1},
		{"7.4p1", "7.4rc1", 1},
		{"7.4p1", "7.5", -1},
		{"7.4p1", "7.4sp1", unordered},
		{"7.4p1-fips", "7.4p2", unordered},
		// A number after a pre-release word and "-" or "_" is its number.
		{"2.0.0-rc-2", "2.0.0-rc.1", 1},
		{"2.0.0-rc-2", "2.0.0-rc2", 0},
		{"2.0.0-rc_2", "2.0.0-rc.2", 0},
		{"1.0.0-beta-5", "1.0.0-beta.3", 1},
		{"1.0-beta-2", "1.0-beta2", 0},
		{"1.0-alpha-2", "1.0-alpha.10", -1},
		{"1.0-rc-2-fips", "1.0-rc2", unordered},
		// Maven qualifiers after ".": release words are the release,
		// pre-release words order before it, other words are a tag.
		{"5.3.0.RELEASE", "5.3.0", 0},
		{"5.3.20.RELEASE", "5.3.18", 1},
		{"5.3.0.RELEASE", "5.3.18", -1},
		{"4.2.1.Final", "4.2.1", 0},
		{"4.2.1-Final", "4.2.1.final", 0},
		{"2.3.GA", "2.3.0", 0},
		{"5.0.0.M1", "5.0.0", -1},
		{"5.0.0.M1", "5.0.0.RC2", -1},
		{"5.0.0.RC2", "5.0.0-rc2", 0},
		{"1.0.0.Beta1", "1.0.0.Alpha2", 1},
		{"3.6.0.CR1", "3.6.0.Final", -1},
		{"1.2.3.SP1", "1.2.3", unordered},
		{"1.2.3.SP1", "1.2.4", -1},
		{"1.0.0.BUILD-SNAPSHOT", "1.0.0", unordered},
		{"1.0.0.BUILD-SNAPSHOT", "0.9", 1},
		{"4.2.1.Final-redhat-00001", "4.2.1", unordered},
		{"4.2.1.Final-redhat-00001", "4.2.2", -1},
		{"1.0.a", "1.0", unordered},
		{"1.0.a", "1.0a", -1},
		{"1.0.final.1", "1.0", unordered},
		// After a single letter, "-" starts a tag, as in "1.0.2b-1".
		{"1.0.2b-1", "1.0.2b", unordered},
		{"1.0.2b-1", "1.0.2c", -1},
	}
	for _, c := range cases {
		got, ok := compareCPEVersion(c.a, c.b)
		switch {
		case c.want == unordered && ok:
			t.Errorf("compareCPEVersion(%q, %q) = %d, true, want not ordered", c.a, c.b, got)
		case c.want != unordered && (!ok || got != c.want):
			t.Errorf("compareCPEVersion(%q, %q) = %d, %v, want %d, true", c.a, c.b, got, ok, c.want)
		}
	}
}

func TestCPEMatchTaggedVersion(t *testing.T) {
	const widget = "cpe:2.3:a:acme:widget:%s:*:*:*:*:*:*:*"
	fromK := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",
		VersionStartIncluding: "1.1.1", VersionEndExcluding: "1.1.1l"}
	belowK := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", VersionEndExcluding: "1.1.1k"}
	fixedK := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:1.1.1k:*:*:*:*:*:*:*"}
	belowRC1 := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", VersionEndExcluding: "2.0rc1"}
	below2 := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", VersionEndExcluding: "2.0"}
	cases := []struct {
		version   string
		criterion nvdCPEMatch
		want      cpeMatch
	}{
		{"1.1.1k-fips", fromK, cpeMatchConfirmed},
		{"1.1.1k-1.el8", fromK, cpeMatchConfirmed},
		{"1.1.1k+dfsg", fromK, cpeMatchConfirmed},
		{"1.1.1-1", fromK, cpeMatchIncomparable},
		{"1.1.1l-fips", fromK, cpeMatchIncomparable},
		{"1.1.1m-fips", fromK, cpeNoMatch},
		{"1.1.1k-fips", belowK, cpeMatchIncomparable},
		{"1.1.1k-fips", fixedK, cpeMatchIncomparable},
		{"1.1.1j-fips", fixedK, cpeNoMatch},
		{"2.0RC2", belowRC1, cpeNoMatch},
		{"2.0b", below2, cpeMatchIncomparable},
		{"2.0b1", below2, cpeMatchConfirmed},
		{"2.0a", below2, cpeNoMatch},
		{"2.0p1", below2, cpeMatchIncomparable},
		{"1.9p1", below2, cpeMatchConfirmed},
	}
	for _, c := range cases {
		q := mustParseQuery(t, strings.Replace(widget, "%s", c.version, 1))
		if got := c.criterion.match(q); got != c.want {
			t.Errorf("%s against %s %v = %s, want %s", c.version, c.criterion.Criteria, c.criterion.bounds(),
				cpeMatchNames[got], cpeMatchNames[c.want])
		}
	}
	// "1.0-a" in a criterion names the same version as "1.0a".
	dashed := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:1.0-a:*:*:*:*:*:*:*"}
	if got := dashed.match(mustParseQuery(t, "cpe:2.3:a:acme:widget:1.0a")); got != cpeMatchConfirmed {
		t.Errorf("1.0a against criterion 1.0-a = %s, want confirmed", cpeMatchNames[got])
	}
}

func TestLookupCPETaggedVersionReason(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0601": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"1.1.1k"}`},
		"CVE-2030-0602": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`},
	})
	cases := []struct{ version, id, reason string }{
		{"1.1.1k-fips", "CVE-2030-0601", `version 1.1.1k-fips of acme:widget could not be compared with the affected ` +
			`versions <1.1.1k, because the CPE version order cannot place "-fips" in "1.1.1k-fips" before or after 1.1.1k`},
		{"2.0b", "CVE-2030-0602", `version 2.0b of acme:widget could not be compared with the affected versions <2.0, ` +
			`because "b" in "2.0b" may mark a beta before 2.0 or the release after 2.0a`},
	}
	for _, c := range cases {
		recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:" + c.version)
		if err != nil {
			t.Fatal(err)
		}
		got := possiblyByID(recs)
		if reason, ok := got[c.id]; !ok || reason != c.reason {
			t.Errorf("LookupCPE(widget %s): %s found %v, possibly affected %q, want %q", c.version, c.id, ok, reason, c.reason)
		}
	}
}

// randomCPEVersion returns a version-like string built from the parts
// that the CPE version order treats differently.
func randomCPEVersion(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(10) == 0 {
		b.WriteString("v")
	}
	for i := range 1 + r.IntN(3) {
		if i > 0 {
			b.WriteString(".")
		}
		b.WriteString([]string{"0", "1", "2", "00"}[r.IntN(4)])
	}
	suffixes := []string{"", "", "a", "b", "k", "z", "za", "rc", "RC", "beta", "alpha", "dev", "m", "p", "sp", "u", "fips", "final", "_x",
		".RELEASE", ".Final", ".M", ".RC", ".SP", ".a", ".GA", "-final"}
	b.WriteString(suffixes[r.IntN(len(suffixes))])
	if r.IntN(3) == 0 {
		b.WriteString([]string{"1", "2", ".1", "0", "-1", "_2"}[r.IntN(6)])
	}
	if r.IntN(3) == 0 {
		tails := []string{"-1", "-rc1", "-RC2", "-a", "-b", "-fips", "+dfsg", "-1.el8", "-beta.2", "-rc-2", "-beta_1", "-p1", "-", "+"}
		b.WriteString(tails[r.IntN(len(tails))])
	}
	return b.String()
}

func TestCompareCPEVersionOrderProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		a, b, c := randomCPEVersion(r), randomCPEVersion(r), randomCPEVersion(r)
		checkCPEOrderTriple(t, a, b, c)
	}
}

// checkCPEOrderTriple checks that compareCPEVersion is antisymmetric on a
// and b and transitive on a, b and c.
func checkCPEOrderTriple(t *testing.T, a, b, c string) {
	t.Helper()
	ab, okAB := compareCPEVersion(a, b)
	ba, okBA := compareCPEVersion(b, a)
	if okAB != okBA || (okAB && ab != -ba) {
		t.Fatalf("compareCPEVersion(%q, %q) = %d, %v but compareCPEVersion(%q, %q) = %d, %v", a, b, ab, okAB, b, a, ba, okBA)
	}
	bc, okBC := compareCPEVersion(b, c)
	if !okAB || !okBC || (ab != bc && ab != 0 && bc != 0) {
		return
	}
	want := ab
	if want == 0 {
		want = bc
	}
	if ac, okAC := compareCPEVersion(a, c); !okAC || ac != want {
		t.Fatalf("compareCPEVersion: %q vs %q = %d and %q vs %q = %d, but %q vs %q = %d, %v, want %d, true",
			a, b, ab, b, c, bc, a, c, ac, okAC, want)
	}
}

func FuzzCompareCPEVersion(f *testing.F) {
	f.Add("1.1.1k-fips", "1.1.1k", "1.1.1l")
	f.Add("2.0b", "2.0", "2.0RC1")
	f.Add("1.0-a", "1.0a", "1.0a1")
	f.Add("1.1.1-1", "1.1.1", "1.1.1a")
	f.Add("8.4p1", "8.4", "8.4p2")
	f.Add("2.0sp1", "2.0.0sp1", "2.0a")
	f.Add("2.0.0-rc-2", "2.0.0-rc.1", "2.0.0-rc_3")
	f.Add("5.3.0.RELEASE", "5.3.0", "5.0.0.M1")
	f.Add("4.2.1.Final-redhat-1", "1.2.3.SP1", "1.0.a")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkCPEOrderTriple(t, a, b, c)
		if got, ok := compareCPEVersion(a, a); !ok || got != 0 {
			t.Fatalf("compareCPEVersion(%q, %q) = %d, %v, want 0, true", a, a, got, ok)
		}
	})
}

func TestLookupCPEPatchThroughRelease(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0611": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",` +
			`"versionStartIncluding":"5.7","versionEndIncluding":"8.4"}`},
		"CVE-2030-0612": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndIncluding":"7.3"}`},
		"CVE-2030-0613": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndIncluding":"2.0"}`},
		"CVE-2030-0614": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"8.4"}`},
	})
	cases := []struct {
		version string
		// possibly maps the records that must be possibly affected to
		// their reason. confirmed lists the confirmed ones.
		possibly  map[string]string
		confirmed []string
	}{
		{"8.4p1", map[string]string{
			"CVE-2030-0611": `version 8.4p1 of acme:widget could not be compared with the affected versions >=5.7 <=8.4, ` +
				`because "p1" in "8.4p1" may mark a patch that counts as 8.4 itself or a later release`,
			"CVE-2030-0614": `version 8.4p1 of acme:widget could not be compared with the affected versions <8.4, ` +
				`because "p1" in "8.4p1" may mark a patch that counts as 8.4 itself or a later release`,
		}, nil},
		{"7.3p1", map[string]string{
			"CVE-2030-0612": `version 7.3p1 of acme:widget could not be compared with the affected versions <=7.3, ` +
				`because "p1" in "7.3p1" may mark a patch that counts as 7.3 itself or a later release`,
		}, []string{"CVE-2030-0611", "CVE-2030-0614"}},
		{"2.0sp1", map[string]string{
			"CVE-2030-0613": `version 2.0sp1 of acme:widget could not be compared with the affected versions <=2.0, ` +
				`because "sp1" in "2.0sp1" may mark a patch that counts as 2.0 itself or a later release`,
		}, []string{"CVE-2030-0612", "CVE-2030-0614"}},
	}
	for _, c := range cases {
		recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:" + c.version + ":*:*:*:*:*:*:*")
		if err != nil {
			t.Fatal(err)
		}
		got := possiblyByID(recs)
		if len(got) != len(c.possibly)+len(c.confirmed) {
			t.Errorf("LookupCPE(widget %s) = %v, want %d records", c.version, got, len(c.possibly)+len(c.confirmed))
		}
		for id, want := range c.possibly {
			if reason, ok := got[id]; !ok || reason != want {
				t.Errorf("LookupCPE(widget %s): %s found %v, possibly affected %q, want %q", c.version, id, ok, reason, want)
			}
		}
		for _, id := range c.confirmed {
			if reason, ok := got[id]; !ok || reason != "" {
				t.Errorf("LookupCPE(widget %s): %s found %v, possibly affected %q, want confirmed", c.version, id, ok, reason)
			}
		}
	}
}

func TestLookupCPEPreReleaseNumberAfterHyphen(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0621": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",` +
			`"versionStartIncluding":"2.0.0-rc.1","versionEndExcluding":"2.0.1"}`},
		"CVE-2030-0622": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"1.0.0-beta.3"}`},
		"CVE-2030-0623": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:1.0-beta-2:*:*:*:*:*:*:*"}`},
	})
	cases := []struct {
		version string
		want    []string // confirmed records
	}{
		{"2.0.0-rc-2", []string{"CVE-2030-0621"}},
		{"1.0.0-beta-5", nil},
		{"1.0.0-beta-2", []string{"CVE-2030-0622", "CVE-2030-0623"}},
		{"1.0-beta2", []string{"CVE-2030-0622", "CVE-2030-0623"}},
	}
	for _, c := range cases {
		checkWidgetConfirmed(t, db, c.version, c.want)
	}
}

func TestCPEVersionDoubtsTaggedPatch(t *testing.T) {
	want := `the CPE version order cannot place "-fips" in "8.4p1-fips" before or after 8.4p1, ` +
		`and "p1" in "8.4p1-fips" may mark a patch that counts as 8.4 itself or a later release`
	if got := cpeVersionDoubts("8.4p1-fips", []string{"8.4"}); got != want {
		t.Errorf("cpeVersionDoubts(8.4p1-fips, 8.4) = %q, want %q", got, want)
	}
	want = `"sp1" in "V2.0SP1" may mark a patch that counts as 2.0 itself or a later release`
	if got := cpeVersionDoubts("V2.0SP1", []string{"2.0"}); got != want {
		t.Errorf("cpeVersionDoubts(V2.0SP1, 2.0) = %q, want %q", got, want)
	}
}

// Maven-style versions, as scan writes them into CPEs from a Java SBOM,
// get definite results against NVD ranges.
func TestLookupCPEMavenQualifiers(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0631": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",` +
			`"versionStartIncluding":"5.3.0","versionEndExcluding":"5.3.18"}`},
		"CVE-2030-0632": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:4.2.1:*:*:*:*:*:*:*"}`},
	})
	cases := []struct {
		version string
		want    []string // confirmed records
	}{
		{"5.3.20.RELEASE", nil},
		{"5.3.0.RELEASE", []string{"CVE-2030-0631"}},
		{"5.3.17.Final", []string{"CVE-2030-0631"}},
		{"5.3.0.M1", nil},
		{"5.3.18.RC1", []string{"CVE-2030-0631"}},
		{"4.2.1.Final", []string{"CVE-2030-0632"}},
		{"4.2.1.GA", []string{"CVE-2030-0632"}},
	}
	for _, c := range cases {
		checkWidgetConfirmed(t, db, c.version, c.want)
	}
}

// checkWidgetConfirmed checks that a lookup of acme:widget at version
// returns exactly the records want, each confirmed.
func checkWidgetConfirmed(t *testing.T, db *DB, version string, want []string) {
	t.Helper()
	recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:" + version + ":*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	got := possiblyByID(recs)
	if len(got) != len(want) {
		t.Errorf("LookupCPE(widget %s) = %v, want confirmed %v", version, got, want)
	}
	for _, id := range want {
		if reason, ok := got[id]; !ok || reason != "" {
			t.Errorf("LookupCPE(widget %s): %s found %v, possibly affected %q, want confirmed", version, id, ok, reason)
		}
	}
}
