package vulndb

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/kv"
)

// matchVulnerable returns the outcome of matching criterion, marked
// vulnerable, against the CPE query.
func matchVulnerable(t *testing.T, query string, criterion nvdCPEMatch) cpeMatch {
	t.Helper()
	q, err := parseCPEQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	criterion.Vulnerable = true
	return criterion.match(q)
}

var cpeMatchNames = map[cpeMatch]string{
	cpeNoMatch:           "cpeNoMatch",
	cpeMatchNoVersion:    "cpeMatchNoVersion",
	cpeMatchAnyVersion:   "cpeMatchAnyVersion",
	cpeMatchIncomparable: "cpeMatchIncomparable",
	cpeMatchConfirmed:    "cpeMatchConfirmed",
}

func TestCPEMatchCriterionWithoutVersion(t *testing.T) {
	const product = "cpe:2.3:a:v:p:%s:*:*:*:*:*:*:*"
	cases := []struct {
		name      string
		query     string
		criterion nvdCPEMatch
		want      cpeMatch
	}{
		{"no version, concrete query", "1.2", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-")}, cpeMatchNoVersion},
		{"no version, query outside its bounds", "1.2",
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "-"), VersionStartIncluding: "2.0"}, cpeNoMatch},
		{"no version, any-version query", "*", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-")}, cpeMatchConfirmed},
		{"no version, not-applicable query", "-", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-")}, cpeMatchConfirmed},
		{"any version", "1.2", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*")}, cpeMatchConfirmed},
		{"range containing the version", "1.2",
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0"}, cpeMatchConfirmed},
		{"range without the version", "1.2",
			nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionStartIncluding: "2.0"}, cpeNoMatch},
		{"equal fixed version", "1.2", nvdCPEMatch{Criteria: fmt.Sprintf(product, "1.2")}, cpeMatchConfirmed},
		{"other fixed version", "1.2", nvdCPEMatch{Criteria: fmt.Sprintf(product, "1.3")}, cpeNoMatch},
		{"other product", "1.2", nvdCPEMatch{Criteria: "cpe:2.3:a:v:other:-:*:*:*:*:*:*:*"}, cpeNoMatch},
	}
	for _, c := range cases {
		if got := matchVulnerable(t, fmt.Sprintf(product, c.query), c.criterion); got != c.want {
			t.Errorf("%s: version %s against %+v = %s, want %s",
				c.name, c.query, c.criterion, cpeMatchNames[got], cpeMatchNames[c.want])
		}
	}
}

// nvdWidgetPage is an NVD API 2.0 page of CVEs for acme:widget, each with
// one OR node of the given vulnerable CPE matches, written as JSON.
func nvdWidgetPage(cves map[string][]string) string {
	var vulns []string
	for id, matches := range cves {
		vulns = append(vulns, fmt.Sprintf(`{"cve":{"id":%q,"published":"2030-01-01T00:00:00.000",
"lastModified":"2030-01-02T00:00:00.000","vulnStatus":"Analyzed",
"descriptions":[{"lang":"en","value":"A flaw in acme widget."}],
"configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[%s]}]}]}}`, id, strings.Join(matches, ",")))
	}
	return `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` + strings.Join(vulns, ",") + `]}`
}

func TestLookupCPECriterionWithoutVersion(t *testing.T) {
	const (
		noVersion = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}`
		below2    = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`
		exact3    = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:3.0:*:*:*:*:*:*:*"}`
	)
	feed := t.TempDir()
	writeFile(t, feed, "page.json", nvdWidgetPage(map[string][]string{
		"CVE-2030-0001": {noVersion},
		"CVE-2030-0002": {noVersion, below2},
		"CVE-2030-0003": {exact3, noVersion},
	}))
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: feed}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)

	// possibly lists the records returned as possibly affected.
	cases := []struct{ version, want, possibly string }{
		{"1.2", "CVE-2030-0001,CVE-2030-0002,CVE-2030-0003", "CVE-2030-0001,CVE-2030-0003"},
		{"3.0", "CVE-2030-0001,CVE-2030-0002,CVE-2030-0003", "CVE-2030-0001,CVE-2030-0002"},
		{"*", "CVE-2030-0001,CVE-2030-0002,CVE-2030-0003", ""},
		{"-", "CVE-2030-0001,CVE-2030-0002,CVE-2030-0003", ""},
	}
	for _, c := range cases {
		cpe := "cpe:2.3:a:acme:widget:" + c.version + ":*:*:*:*:*:*:*"
		recs, err := db.LookupCPE(cpe)
		if err != nil {
			t.Errorf("LookupCPE(%s): %v", cpe, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupCPE(%s) = %q, want %q", cpe, got, c.want)
		}
		var possibly []string
		for _, r := range recs {
			reason := r.PossiblyAffected()
			if reason == "" {
				continue
			}
			possibly = append(possibly, r.ID)
			if !strings.Contains(reason, "acme:widget without a version") {
				t.Errorf("LookupCPE(%s): %s reason %q does not say the record names the product without a version",
					cpe, r.ID, reason)
			}
			if !strings.Contains(reason, "version "+c.version+" ") {
				t.Errorf("LookupCPE(%s): %s reason %q does not name the queried version", cpe, r.ID, reason)
			}
		}
		if got := strings.Join(possibly, ","); got != c.possibly {
			t.Errorf("LookupCPE(%s) possibly affected = %q, want %q", cpe, got, c.possibly)
		}
	}

	// The mark belongs to one lookup's result and never reaches the DB.
	recs, err := db.Lookup("CVE-2030-0001")
	if err != nil {
		t.Fatal(err)
	}
	if reason := recs[0].PossiblyAffected(); reason != "" {
		t.Errorf("Lookup(CVE-2030-0001) after a CPE lookup is marked possibly affected: %q", reason)
	}
	if len(recs[0].CPECriteria()) != 1 {
		t.Errorf("Lookup(CVE-2030-0001) criteria = %v, want the one stored", recs[0].CPECriteria())
	}
}

func TestCPEMatchUpdateInQueryVersion(t *testing.T) {
	cases := []struct {
		name      string
		criterion string
		query     string
		want      cpeMatch
	}{
		{"patch joined directly", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"patch in upper case", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4P1:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"patch with trailing zero", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4.0p1:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"other patch", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p2:*:*:*:*:*:*:*", cpeNoMatch},
		{"other release", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.5p1:*:*:*:*:*:*:*", cpeNoMatch},
		{"tagged release stays open", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4-fips:*:*:*:*:*:*:*", cpeMatchIncomparable},
		{"release with update ANY", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"update given apart", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*", cpeMatchConfirmed},
		{"joined version and other update", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p1:p2:*:*:*:*:*:*", cpeNoMatch},
		{"pre-release joined with hyphen", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0-beta9:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"pre-release joined directly", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0beta9:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"pre-release joined with dot", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0.beta9:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"pre-release with dotted number", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0-beta.9:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"other pre-release", "cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0-beta10:*:*:*:*:*:*:*", cpeNoMatch},
		{"unparsed update joined with underscore", "cpe:2.3:a:v:p:1.0:build_7:*:*:*:*:*:*",
			"cpe:2.3:a:v:p:1.0_build_7:*:*:*:*:*:*:*", cpeMatchConfirmed},
		{"criterion update NA", "cpe:2.3:a:openbsd:openssh:7.4:-:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4-:*:*:*:*:*:*:*", cpeNoMatch},
		{"criterion update NA, patch query", "cpe:2.3:a:openbsd:openssh:7.4:-:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*", cpeMatchIncomparable},
		{"query update NA", "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p1:-:*:*:*:*:*:*", cpeNoMatch},
		{"criterion version ANY", "cpe:2.3:a:openbsd:openssh:*:p1:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*", cpeMatchConfirmed},
		// A criterion may write the update into its version, and the query
		// give it apart.
		{"criterion patch joined, query update apart", "cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*", cpeMatchConfirmed},
		{"criterion pre-release joined, query update apart", "cpe:2.3:a:apache:log4j:2.0-beta9:*:*:*:*:*:*:*",
			"cpe:2.3:a:apache:log4j:2.0:beta9:*:*:*:*:*:*", cpeMatchConfirmed},
		{"criterion patch joined, query other update", "cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:p2:*:*:*:*:*:*", cpeNoMatch},
		{"criterion patch joined, query without update", "cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:*:*:*:*:*:*:*", cpeMatchIncomparable},
		{"criterion release, query update apart", "cpe:2.3:a:openbsd:openssh:7.4:*:*:*:*:*:*:*",
			"cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*", cpeMatchConfirmed},
	}
	for _, tc := range cases {
		q := mustParseQuery(t, tc.query)
		m := nvdCPEMatch{Vulnerable: true, Criteria: tc.criterion}
		if got := m.match(q); got != tc.want {
			t.Errorf("%s: %s against %s = %s, want %s", tc.name, tc.query, tc.criterion, cpeMatchNames[got], cpeMatchNames[tc.want])
		}
	}
}

func TestCPEMatchUpdateWithRange(t *testing.T) {
	// A queried update narrows within the version, so a criterion with a
	// version range and update ANY compares the version alone.
	m := nvdCPEMatch{Vulnerable: true, Criteria: "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*", VersionEndIncluding: "7.4"}
	cases := []struct {
		query string
		want  cpeMatch
	}{
		{"cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*", cpeMatchConfirmed},
		{"cpe:2.3:a:openbsd:openssh:7.5:p1:*:*:*:*:*:*", cpeNoMatch},
	}
	for _, tc := range cases {
		if got := m.match(mustParseQuery(t, tc.query)); got != tc.want {
			t.Errorf("%s against <=7.4 = %s, want %s", tc.query, cpeMatchNames[got], cpeMatchNames[tc.want])
		}
	}
}
