package vulndb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

func TestCPEMatchAnyVersionQuery(t *testing.T) {
	const product = "cpe:2.3:a:v:p:%s:*:*:*:*:*:*:*"
	cases := []struct {
		name      string
		criterion nvdCPEMatch
		want      cpeMatch
	}{
		{"every version", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*")}, cpeMatchConfirmed},
		{"no version", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-")}, cpeMatchConfirmed},
		{"range", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0"}, cpeMatchAnyVersion},
		{"fixed version", nvdCPEMatch{Criteria: fmt.Sprintf(product, "1.2")}, cpeMatchAnyVersion},
		{"no version with a range", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-"), VersionStartIncluding: "1.0"}, cpeMatchAnyVersion},
	}
	for _, c := range cases {
		if got := matchVulnerable(t, fmt.Sprintf(product, "*"), c.criterion); got != c.want {
			t.Errorf("%s: version * against %+v = %s, want %s", c.name, c.criterion, cpeMatchNames[got], cpeMatchNames[c.want])
		}
	}
}

func TestCPEMatchIncomparableVersion(t *testing.T) {
	const product = "cpe:2.3:a:v:p:%s:*:*:*:*:*:*:*"
	long := strings.Repeat("1", 100000)
	cases := []struct {
		name, query string
		criterion   nvdCPEMatch
		want        cpeMatch
	}{
		{"number over 64 bits", long, nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0"}, cpeMatchIncomparable},
		{"unparsable query", "1.0_beta", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0"}, cpeMatchIncomparable},
		{"unparsable bound", "1.5", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0_rc1"}, cpeMatchIncomparable},
		{"other bound excludes", "2.5",
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionStartIncluding: "1.0_beta", VersionEndExcluding: "2.0"}, cpeNoMatch},
		{"equal text of an included bound", `12.2\(55\)se`,
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndIncluding: "12.2(55)se"}, cpeMatchConfirmed},
		{"equal text of an excluded bound", `12.2\(55\)se`,
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "12.2(55)se"}, cpeNoMatch},
		{"equal text of a fixed version", `12.2\(55\)se`, nvdCPEMatch{Criteria: fmt.Sprintf(product, `12.2\(55\)SE`)}, cpeMatchConfirmed},
		{"other text of a fixed version", `12.2\(55\)se`, nvdCPEMatch{Criteria: fmt.Sprintf(product, `12.2\(58\)se`)}, cpeNoMatch},
		{"no version criterion", "1.0_beta",
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "-"), VersionEndExcluding: "2.0"}, cpeMatchNoVersion},
		{"every version", "1.0_beta", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*")}, cpeMatchConfirmed},
	}
	for _, c := range cases {
		if got := matchVulnerable(t, fmt.Sprintf(product, c.query), c.criterion); got != c.want {
			t.Errorf("%s: %s against %+v = %s, want %s", c.name, shortVersion(c.query), c.criterion, cpeMatchNames[got], cpeMatchNames[c.want])
		}
	}
}

// widgetDB builds a DB of acme:widget records from NVD CPE matches, by
// CVE ID.
func widgetDB(t *testing.T, cves map[string][]string) *DB {
	t.Helper()
	feed := t.TempDir()
	writeFile(t, feed, "page.json", nvdWidgetPage(cves))
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: feed}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	return openBuilt(t, kv.NewMemory(), res, nil)
}

func TestLookupCPEAnyVersionPossiblyAffected(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0301": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`},
		"CVE-2030-0302": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"}`},
		"CVE-2030-0303": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:1.2:*:*:*:*:*:*:*"}`},
	})
	for _, query := range []string{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "cpe:/a:acme:widget"} {
		recs, err := db.LookupCPE(query)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"CVE-2030-0301": `no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected versions <2.0`,
			"CVE-2030-0302": "",
			"CVE-2030-0303": `no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected versions 1.2`,
		}
		got := possiblyByID(recs)
		if len(got) != len(want) {
			t.Errorf("LookupCPE(%s) = %s, want %d records", query, ids(recs), len(want))
		}
		for id, reason := range want {
			if r, ok := got[id]; !ok || r != reason {
				t.Errorf("LookupCPE(%s): %s found %v, possibly affected %q, want %q", query, id, ok, r, reason)
			}
		}
	}
	// With the version, the range decides.
	recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	if got := possiblyByID(recs); len(got) != 1 || got["CVE-2030-0302"] != "" {
		t.Errorf("LookupCPE(widget 2.5) = %v, want CVE-2030-0302 confirmed only", got)
	}
}

func TestLookupCPEIncomparableVersion(t *testing.T) {
	db := widgetDB(t, map[string][]string{
		"CVE-2030-0401": {`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`},
	})
	long := strings.Repeat("1", 100000)
	recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:" + long + ":*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("LookupCPE(widget %s) = %q, want CVE-2030-0401 possibly affected", shortVersion(long), ids(recs))
	}
	reason := recs[0].PossiblyAffected()
	if !strings.Contains(reason, "could not be compared with the affected versions <2.0") {
		t.Errorf("reason %q does not say that the range could not be compared", reason)
	}
	if !strings.Contains(reason, "(100000 characters)") {
		t.Errorf("reason %q does not shorten the version and give its length", reason)
	}
	if len(reason) > 400 {
		t.Errorf("reason is %d bytes long, want the version shortened", len(reason))
	}

	recs, err = db.LookupCPE("cpe:2.3:a:acme:widget:1.0_beta:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	want := `version 1.0_beta of acme:widget could not be compared with the affected versions <2.0, ` +
		`because the CPE version order cannot parse "1.0_beta"`
	if len(recs) != 1 || recs[0].PossiblyAffected() != want {
		t.Errorf("LookupCPE(widget 1.0_beta) = %v, want CVE-2030-0401 possibly affected with %q", possiblyByID(recs), want)
	}
}

func TestCPESetWithoutVersionCoversNoRange(t *testing.T) {
	db := platformDB(t)
	const query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	// Windows with version "*" covers the criterion with version "-".
	recs, err := db.LookupCPEOn(query, NewCPESet([]string{"cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*"}))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := possiblyByID(recs)["CVE-2030-0101"]; !ok || r != "" {
		t.Errorf("CVE-2030-0101 with Windows of any version present: found %v, possibly affected %q; want confirmed", ok, r)
	}
	// macOS with version "*" does not show that 14.0 is present.
	recs, err = db.LookupCPEOn(query, NewCPESet([]string{"cpe:2.3:o:apple:macos:*:*:*:*:*:*:*:*"}))
	if err != nil {
		t.Fatal(err)
	}
	if r := possiblyByID(recs)["CVE-2030-0104"]; !strings.Contains(r, "apple:macos 14.0") {
		t.Errorf("CVE-2030-0104 with macOS of any version present: possibly affected %q, want the platform named", r)
	}
}

func TestWithCPEVersion(t *testing.T) {
	cases := []struct{ cpe, version, want string }{
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "2.5", "cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*"},
		{"cpe:2.3:a:acme:widget", "2.5", "cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*"},
		{"cpe:/a:acme:widget", "2.5", "cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*"},
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "1.0+build:7", `cpe:2.3:a:acme:widget:1.0\+build\:7:*:*:*:*:*:*:*`},
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "1.*", `cpe:2.3:a:acme:widget:1.\*:*:*:*:*:*:*:*`},
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "-", `cpe:2.3:a:acme:widget:\-:*:*:*:*:*:*:*`},
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "1.0_rc-1", "cpe:2.3:a:acme:widget:1.0_rc-1:*:*:*:*:*:*:*"},
	}
	for _, c := range cases {
		got, err := WithCPEVersion(c.cpe, c.version)
		if err != nil {
			t.Errorf("WithCPEVersion(%s, %q): %v", c.cpe, c.version, err)
			continue
		}
		if got != c.want {
			t.Errorf("WithCPEVersion(%s, %q) = %s, want %s", c.cpe, c.version, got, c.want)
		}
		if err := ValidateCPE(got); err != nil {
			t.Errorf("WithCPEVersion(%s, %q) = %s, which ValidateCPE rejects: %v", c.cpe, c.version, got, err)
		}
		if v, isAny, err := CPEVersion(got); err != nil || isAny || v != c.version {
			t.Errorf("CPEVersion(%s) = %q, %v, %v; want %q", got, v, isAny, err, c.version)
		}
	}
	for _, version := range []string{"", "1.0 beta", "1.0\t", "1.0é"} {
		_, err := WithCPEVersion("cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", version)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("WithCPEVersion(%q) error = %v, want one wrapping ErrInvalidArgument", version, err)
		}
	}
}

func TestCPEVersion(t *testing.T) {
	cases := []struct {
		cpe, version string
		isAny        bool
	}{
		{"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "*", true},
		{"cpe:2.3:a:acme:widget", "*", true},
		{"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*", "-", false},
		{`cpe:2.3:a:acme:widget:\*:*:*:*:*:*:*:*`, "*", false},
		{"cpe:/a:acme:widget:1.3%2b2", "1.3+2", false},
	}
	for _, c := range cases {
		v, isAny, err := CPEVersion(c.cpe)
		if err != nil || v != c.version || isAny != c.isAny {
			t.Errorf("CPEVersion(%s) = %q, %v, %v; want %q, %v", c.cpe, v, isAny, err, c.version, c.isAny)
		}
	}
}

func TestCompareCPEVersionLetterSuffix(t *testing.T) {
	chains := [][]string{
		{"1.1.1", "1.1.1a", "1.1.1k", "1.1.1t", "1.1.2"},
		{"1.0.2", "1.0.2k", "1.0.2z", "1.0.2za", "1.0.2zg", "1.0.3"},
		{"9.3", "9.3a", "9.3c", "9.4"},
		{"1.1.1-beta", "1.1.1", "1.1.1k"},
		{"2.0rc1", "2.0rc2", "2.0", "2.0a"},
		{"1.0-beta2", "1.0"},
		{"1.0alpha", "1.0beta", "1.0rc", "1.0"},
		{"2.0dev", "2.0"},
		{"2.0pre1", "2.0"},
	}
	for _, chain := range chains {
		for i := range chain {
			for j := range chain {
				want := sign(i - j)
				got, ok := compareCPEVersion(chain[i], chain[j])
				if !ok || got != want {
					t.Errorf("compareCPEVersion(%q, %q) = %d, %v, want %d, true", chain[i], chain[j], got, ok, want)
				}
			}
		}
	}
	if got, ok := compareCPEVersion("1.1.1K", "1.1.1k"); !ok || got != 0 {
		t.Errorf(`compareCPEVersion("1.1.1K", "1.1.1k") = %d, %v, want 0, true`, got, ok)
	}
	for _, v := range []string{"1.0_beta", "r13", "1.0_k"} {
		if _, ok := compareCPEVersion(v, "1.0"); ok {
			t.Errorf("compareCPEVersion(%q, \"1.0\") is ok, want not comparable", v)
		}
	}
}

func TestCPEMatchOpenSSLLetterRange(t *testing.T) {
	criterion := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*",
		VersionStartIncluding: "1.1.1", VersionEndExcluding: "1.1.1t"}
	cases := map[string]cpeMatch{
		"1.1.1":  cpeMatchConfirmed,
		"1.1.1k": cpeMatchConfirmed,
		"1.1.1s": cpeMatchConfirmed,
		"1.1.1t": cpeNoMatch,
		"1.1.1w": cpeNoMatch,
		"1.1.0l": cpeNoMatch,
		"3.0.8":  cpeNoMatch,
	}
	for version, want := range cases {
		q := mustParseQuery(t, "cpe:2.3:a:openssl:openssl:"+version)
		if got := criterion.match(q); got != want {
			t.Errorf("openssl %s against >=1.1.1 <1.1.1t = %s, want %s", version, cpeMatchNames[got], cpeMatchNames[want])
		}
	}
}

// TestCPEVersionOrderRealRanges checks the CPE version order on the
// ranges of the real NVD records: each range's start sorts before its end.
func TestCPEVersionOrderRealRanges(t *testing.T) {
	dir := testdataDir(t, "nvd")
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	ranges := 0
	for _, rec := range allRecords(t, res) {
		for _, c := range recordConfigs(&rec) {
			for _, n := range c.Nodes {
				for _, m := range n.CPEMatch {
					start := cmp.Or(m.VersionStartIncluding, m.VersionStartExcluding)
					end := cmp.Or(m.VersionEndIncluding, m.VersionEndExcluding)
					if start == "" || end == "" {
						continue
					}
					ranges++
					if order, ok := compareCPEVersion(start, end); !ok || order >= 0 {
						t.Errorf("%s: range of %s starts at %q and ends at %q, but compareCPEVersion = %d, %v",
							rec.ID, m.Criteria, start, end, order, ok)
					}
				}
			}
		}
	}
	if ranges == 0 {
		t.Skipf("no record in %s has a range with both bounds", dir)
	}
}
