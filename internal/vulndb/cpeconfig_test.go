package vulndb

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/kv"
)

// CPE match criteria of the platform fixtures. The widget is the product,
// and Windows, macOS and Linux are platforms (vulnerable false), as NVD
// writes them in AND configurations.
const (
	widgetBelow2    = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}`
	widgetNoVersion = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}`
	widget15        = `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"}`
	onWindows       = `{"vulnerable":false,"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"}`
	onMacOS14       = `{"vulnerable":false,"criteria":"cpe:2.3:o:apple:macos:14.0:*:*:*:*:*:*:*"}`
	onLinux         = `{"vulnerable":false,"criteria":"cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*"}`
)

// nvdNodeJSON is an NVD node of the given CPE matches.
func nvdNodeJSON(operator string, negate bool, matches ...string) string {
	return fmt.Sprintf(`{"operator":%q,"negate":%v,"cpeMatch":[%s]}`, operator, negate, strings.Join(matches, ","))
}

// nvdConfigJSON is an NVD configuration of nodes. An empty operator is
// left out, as NVD does for a configuration of one node.
func nvdConfigJSON(operator string, nodes ...string) string {
	op := ""
	if operator != "" {
		op = fmt.Sprintf(`"operator":%q,`, operator)
	}
	return fmt.Sprintf(`{%s"nodes":[%s]}`, op, strings.Join(nodes, ","))
}

// nvdConfigPage is an NVD API 2.0 page of CVEs for acme:widget, each with
// the given configurations.
func nvdConfigPage(cves map[string][]string) string {
	var vulns []string
	for id, configs := range cves {
		vulns = append(vulns, fmt.Sprintf(`{"cve":{"id":%q,"published":"2030-01-01T00:00:00.000",
"lastModified":"2030-01-02T00:00:00.000","vulnStatus":"Analyzed",
"descriptions":[{"lang":"en","value":"A flaw in acme widget."}],
"configurations":[%s]}}`, id, strings.Join(configs, ",")))
	}
	return `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` + strings.Join(vulns, ",") + `]}`
}

// platformDB builds a DB of widget records whose configurations combine
// the widget with platforms.
func platformDB(t *testing.T) *DB {
	t.Helper()
	product := nvdNodeJSON("OR", false, widgetBelow2)
	windows := nvdNodeJSON("OR", false, onWindows)
	return configDB(t, map[string][]string{
		// Only on Windows.
		"CVE-2030-0101": {nvdConfigJSON("AND", product, windows)},
		// Only on Windows below 2.0, and on any platform at 1.5.
		"CVE-2030-0102": {nvdConfigJSON("AND", product, windows),
			nvdConfigJSON("", nvdNodeJSON("OR", false, widget15))},
		// An AND configuration of one node has no platform.
		"CVE-2030-0103": {nvdConfigJSON("AND", product)},
		// On Windows or on macOS 14.0.
		"CVE-2030-0104": {nvdConfigJSON("AND", product, nvdNodeJSON("OR", false, onWindows, onMacOS14))},
		// Without a version, only on Windows.
		"CVE-2030-0105": {nvdConfigJSON("AND", nvdNodeJSON("OR", false, widgetNoVersion), windows)},
		// On any platform but Linux.
		"CVE-2030-0106": {nvdConfigJSON("AND", product, nvdNodeJSON("OR", true, onLinux))},
		// Two nodes without an operator, as in configurations stored
		// without one, combine with OR.
		"CVE-2030-0107": {nvdConfigJSON("", product, windows)},
	})
}

// configDB builds a DB from an NVD page of acme:widget CVEs, each with the
// given configurations written as JSON.
func configDB(t *testing.T, cves map[string][]string) *DB {
	t.Helper()
	feed := t.TempDir()
	writeFile(t, feed, "page.json", nvdConfigPage(cves))
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: feed}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	return openBuilt(t, kv.NewMemory(), res, nil)
}

// possiblyByID returns the possibly-affected reason of each record by ID,
// "" for a confirmed one.
func possiblyByID(recs []Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[r.ID] = r.PossiblyAffected()
	}
	return out
}

const (
	onlyOnWindows  = "the record affects acme:widget 1.5 only when running on microsoft:windows"
	widgetNoVerWhy = `the record names acme:widget without a version (CPE version "-"), so version 1.5 could not be compared`
)

func TestLookupCPEPlatformPossiblyAffected(t *testing.T) {
	db := platformDB(t)
	const query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	recs, err := db.LookupCPE(query)
	if err != nil {
		t.Fatal(err)
	}
	checkPossiblyAffected(t, "LookupCPE("+query+")", recs, map[string]string{
		"CVE-2030-0101": onlyOnWindows,
		"CVE-2030-0102": "",
		"CVE-2030-0103": "",
		"CVE-2030-0104": "the record affects acme:widget 1.5 only when running on microsoft:windows or apple:macos 14.0",
		"CVE-2030-0105": widgetNoVerWhy + ", and the record affects it only when running on microsoft:windows",
		"CVE-2030-0106": "the record affects acme:widget 1.5 only when running on a platform other than linux:linux_kernel",
		"CVE-2030-0107": "",
	})
}

// checkPossiblyAffected checks that recs, the output of call, are exactly
// the records in want, each with its possibly-affected reason, where "" is
// a confirmed match.
func checkPossiblyAffected(t *testing.T, call string, recs []Record, want map[string]string) {
	t.Helper()
	got := possiblyByID(recs)
	if len(got) != len(want) {
		t.Errorf("%s = %s, want %d records", call, ids(recs), len(want))
	}
	for id, reason := range want {
		r, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s lacks %s", call, id)
		case r != reason:
			t.Errorf("%s: %s possibly affected = %q, want %q", call, id, r, reason)
		}
	}
}

func TestLookupCPEPlatformVersionRange(t *testing.T) {
	db := platformDB(t)
	// 2.5 is outside every range. Only the criterion without a version
	// still matches, and its platform stays in the reason.
	recs, err := db.LookupCPE("cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recs); got != "CVE-2030-0105" {
		t.Fatalf("LookupCPE(widget 2.5) = %q, want CVE-2030-0105", got)
	}
	if r := recs[0].PossiblyAffected(); !strings.Contains(r, "version 2.5 could not be compared") ||
		!strings.Contains(r, "only when running on microsoft:windows") {
		t.Errorf("CVE-2030-0105 reason %q lacks the version or the platform", r)
	}
	// A platform alone is never a finding: its criteria are not vulnerable.
	recs, err = db.LookupCPE("cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("LookupCPE(windows 10) = %q, want none", ids(recs))
	}
}

func TestLookupCPEOnPresentPlatform(t *testing.T) {
	db := platformDB(t)
	const query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	// A platform CPE that does not parse is left out of the set.
	windows := NewCPESet([]string{"cpe:/o:microsoft:windows:10", "not a cpe"})
	recs, err := db.LookupCPEOn(query, windows)
	if err != nil {
		t.Fatal(err)
	}
	got := possiblyByID(recs)
	for _, id := range []string{"CVE-2030-0101", "CVE-2030-0104"} {
		if r, ok := got[id]; !ok || r != "" {
			t.Errorf("LookupCPEOn(%s, windows 10): %s found %v, possibly affected %q; want confirmed", query, id, ok, r)
		}
	}
	if r := got["CVE-2030-0105"]; r != widgetNoVerWhy {
		t.Errorf("LookupCPEOn(%s, windows 10): CVE-2030-0105 reason %q, want only the version reason %q", query, r, widgetNoVerWhy)
	}
	if r := got["CVE-2030-0106"]; !strings.Contains(r, "other than linux:linux_kernel") {
		t.Errorf("LookupCPEOn(%s, windows 10): CVE-2030-0106 reason %q, want the Linux exclusion", query, r)
	}

	// Linux is present, and CVE-2030-0106 excludes it.
	recs, err = db.LookupCPEOn(query, NewCPESet([]string{"cpe:2.3:o:linux:linux_kernel:6.1:*:*:*:*:*:*:*"}))
	if err != nil {
		t.Fatal(err)
	}
	got = possiblyByID(recs)
	if _, ok := got["CVE-2030-0106"]; ok {
		t.Errorf("LookupCPEOn(%s, linux 6.1) returns CVE-2030-0106, which excludes Linux", query)
	}
	if r := got["CVE-2030-0101"]; r != onlyOnWindows {
		t.Errorf("LookupCPEOn(%s, linux 6.1): CVE-2030-0101 reason %q, want %q", query, r, onlyOnWindows)
	}
}

func TestCPECriteriaNamePlatform(t *testing.T) {
	db := platformDB(t)
	recs, err := db.Lookup("CVE-2030-0101")
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0].PossiblyAffected(); r != "" {
		t.Errorf("Lookup(CVE-2030-0101) is marked possibly affected: %q", r)
	}
	want := "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:* <2.0 when running on microsoft:windows"
	if got := recs[0].CPECriteria(); len(got) != 1 || got[0] != want {
		t.Errorf("CVE-2030-0101 criteria = %q, want [%q]", got, want)
	}
	recs, err = db.Lookup("CVE-2030-0107")
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].CPECriteria(); len(got) != 1 || got[0] != "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:* <2.0" {
		t.Errorf("CVE-2030-0107 criteria = %q, want the widget criterion without a platform", got)
	}
}

func TestDescribeNodeCountsRest(t *testing.T) {
	var matches []nvdCPEMatch
	for i := range 7 {
		matches = append(matches, nvdCPEMatch{Criteria: fmt.Sprintf("cpe:2.3:h:acme:board_%d:-:*:*:*:*:*:*:*", i)})
	}
	got := describeNode(nvdNode{Operator: "OR", CPEMatch: matches}, nil)
	want := "acme:board_0 or acme:board_1 or acme:board_2 or acme:board_3 or acme:board_4 or 2 other platforms"
	if got != want {
		t.Errorf("describeNode = %q, want %q", got, want)
	}
}

func TestAndCompanionCriteriaInNode(t *testing.T) {
	// An AND node needs all of its criteria, so its other criterion is a
	// platform of the match.
	c := nvdConfig{Nodes: []nvdNode{{Operator: "AND", CPEMatch: []nvdCPEMatch{
		{Vulnerable: true, Criteria: "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"},
		{Criteria: "cpe:2.3:h:acme:board:-:*:*:*:*:*:*:*"},
	}}}}
	q, err := parseCPEQuery("cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	check := &platformCheck{query: q}
	confirmed, alternatives := check.matchConfigs([]nvdConfig{c})
	if confirmed || len(alternatives) != 1 || alternatives[0].platforms != "acme:board" {
		t.Errorf("matchConfigs = %v, %+v, want one alternative on acme:board", confirmed, alternatives)
	}
	check.present = NewCPESet([]string{"cpe:2.3:h:acme:board:2:*:*:*:*:*:*:*"})
	if confirmed, _ := check.matchConfigs([]nvdConfig{c}); !confirmed {
		t.Error("matchConfigs with acme:board present is not confirmed")
	}
}

// TestLookupCPERealPlatformRecords builds the real NVD records and looks
// up every vulnerable criterion at a version inside it. A criterion of a
// configuration without platforms must be confirmed. One that a
// configuration combines with a platform by AND must be possibly affected
// and name the platform, unless another configuration names the product
// without one.
func TestLookupCPERealPlatformRecords(t *testing.T) {
	dir := testdataDir(t, "nvd")
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)
	platformCases := 0
	for _, rec := range allRecords(t, res) {
		configs := recordConfigs(&rec)
		plainKeys := map[string]bool{}
		for _, c := range configs {
			if isAND(c.Operator) && len(c.Nodes) > 1 {
				continue
			}
			for _, n := range c.Nodes {
				for _, m := range n.CPEMatch {
					if name, err := parseCPE(m.Criteria); err == nil && m.Vulnerable {
						plainKeys[name.key()] = true
					}
				}
			}
		}
		for _, c := range configs {
			onPlatform := isAND(c.Operator) && len(c.Nodes) > 1
			for _, n := range c.Nodes {
				for _, m := range n.CPEMatch {
					query, key, ok := queryInside(m)
					if !ok || !m.Vulnerable {
						continue
					}
					found, err := db.LookupCPE(query)
					if err != nil {
						t.Fatalf("LookupCPE(%s): %v", query, err)
					}
					reason, hit := possiblyByID(found)[rec.ID]
					switch {
					case !hit:
						t.Errorf("LookupCPE(%s) lacks %s", query, rec.ID)
					case !onPlatform && reason != "":
						t.Errorf("LookupCPE(%s): %s possibly affected %q, want confirmed", query, rec.ID, reason)
					case onPlatform && !plainKeys[key]:
						platformCases++
						if !strings.Contains(reason, "only when running on ") {
							t.Errorf("LookupCPE(%s): %s reason %q does not name a platform", query, rec.ID, reason)
						}
					}
				}
			}
		}
	}
	if platformCases == 0 {
		entries, _ := os.ReadDir(dir)
		t.Skipf("no record in %s (%d files) has an AND configuration with a platform; "+
			"only records without platforms were checked", filepath.Base(dir), len(entries))
	}
}

// queryInside returns a CPE that the criterion m covers with a concrete
// version, and the criterion's vendor:product, or ok false when the
// criterion gives no version to pick.
func queryInside(m nvdCPEMatch) (query, key string, ok bool) {
	c, err := parseCPE(m.Criteria)
	if err != nil {
		return "", "", false
	}
	version := c.Version
	switch {
	case version != "*" && version != "-":
	case m.VersionStartIncluding != "":
		version = m.VersionStartIncluding
	case m.VersionEndIncluding != "":
		version = m.VersionEndIncluding
	default:
		return "", "", false
	}
	attrs := append([]string{c.Part, c.Vendor, c.Product, version, c.Update}, c.rest[:]...)
	return "cpe:2.3:" + strings.Join(attrs, ":"), c.key(), true
}

// TestPlatformConfigsStoredJSON checks that a record whose stored
// configurations the fast reader leaves to encoding/json still keeps its
// AND structure.
func TestPlatformConfigsStoredJSON(t *testing.T) {
	// encoding/json reads the key "Operator" into the operator, and the
	// fast reader leaves such keys to it.
	raw := `{"nvd_configurations":[{"Operator":"AND","nodes":[` + nvdNodeJSON("OR", false, widgetBelow2) + `,` +
		nvdNodeJSON("OR", false, onWindows) + `]}]}`
	if _, _, ok := stellaopsFast([]byte(raw), true, nil); ok {
		t.Fatal("the fast reader decodes the key \"Operator\"; pick another input that it leaves to encoding/json")
	}
	rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(raw)}}
	q, err := parseCPEQuery("cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*")
	if err != nil {
		t.Fatal(err)
	}
	confirmed, alternatives := (&platformCheck{query: q}).matchConfigs(recordConfigs(&rec))
	if confirmed || len(alternatives) != 1 {
		t.Errorf("matchConfigs = %v, %+v, want one alternative on microsoft:windows", confirmed, alternatives)
	}
}

// parseMatches parses CPE match criteria written as NVD JSON.
func parseMatches(t *testing.T, matches ...string) []nvdCPEMatch {
	t.Helper()
	out := make([]nvdCPEMatch, len(matches))
	for i, m := range matches {
		if err := json.Unmarshal([]byte(m), &out[i]); err != nil {
			t.Fatalf("criterion %s: %v", m, err)
		}
	}
	return out
}

// mustParseQuery parses a CPE query or fails the test.
func mustParseQuery(t testing.TB, cpe string) cpeName {
	t.Helper()
	q, err := parseCPEQuery(cpe)
	if err != nil {
		t.Fatalf("parseCPEQuery(%s): %v", cpe, err)
	}
	return q
}

func TestNegatedNodeExcludesOnlyDefiniteMatch(t *testing.T) {
	widget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2)}
	negated := func(criterion string) []nvdConfig {
		return []nvdConfig{{Operator: "AND", Nodes: []nvdNode{widget,
			{Operator: "OR", Negate: true, CPEMatch: parseMatches(t, criterion)}}}}
	}
	kernel5 := negated(`{"vulnerable":false,"criteria":"cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*",` +
		`"versionStartIncluding":"5.0","versionEndExcluding":"5.10"}`)
	kernelARM := negated(`{"vulnerable":false,"criteria":"cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:arm64:*"}`)
	windows1809 := negated(`{"vulnerable":false,"criteria":"cpe:2.3:o:microsoft:windows_10:1809:sp1:*:*:*:*:*:*"}`)
	widgetNot15 := negated(widget15)
	cases := []struct {
		name    string
		configs []nvdConfig
		query   string
		present []string
		matched bool
	}{
		{"kernel in range", kernel5, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:linux:linux_kernel:5.4"}, false},
		{"kernel outside range", kernel5, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:linux:linux_kernel:6.1"}, true},
		{"kernel URI without version", kernel5, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:/o:linux:linux_kernel"}, true},
		{"kernel version ANY", kernel5, "cpe:2.3:a:acme:widget:1.5",
			[]string{"cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*"}, true},
		{"kernel without version attribute", kernel5, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:linux:linux_kernel"}, true},
		{"target hardware given", kernelARM, "cpe:2.3:a:acme:widget:1.5",
			[]string{"cpe:2.3:o:linux:linux_kernel:6.1:*:*:*:*:*:arm64:*"}, false},
		{"target hardware ANY", kernelARM, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:linux:linux_kernel:6.1"}, true},
		{"update given", windows1809, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:microsoft:windows_10:1809:sp1"}, false},
		{"update in version", windows1809, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:microsoft:windows_10:1809sp1"}, false},
		{"update ANY", windows1809, "cpe:2.3:a:acme:widget:1.5", []string{"cpe:2.3:o:microsoft:windows_10:1809"}, true},
		{"query at excluded version", widgetNot15, "cpe:2.3:a:acme:widget:1.5", nil, false},
		{"query without version", widgetNot15, "cpe:2.3:a:acme:widget", nil, true},
		{"query with version ANY", widgetNot15, "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", nil, true},
	}
	for _, tc := range cases {
		check := &platformCheck{query: mustParseQuery(t, tc.query), present: NewCPESet(tc.present)}
		confirmed, alternatives := check.matchConfigs(tc.configs)
		if matched := confirmed || len(alternatives) > 0; matched != tc.matched {
			t.Errorf("%s: %s on %q matched = %v, want %v", tc.name, tc.query, tc.present, matched, tc.matched)
		}
	}
}

func TestEmptyNodeConstrainsNothing(t *testing.T) {
	widget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2)}
	windows := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onWindows)}
	q := mustParseQuery(t, "cpe:2.3:a:acme:widget:1.5")
	check := &platformCheck{query: q}
	for _, empty := range []nvdNode{{Operator: "OR"}, {Operator: "AND"}, {Operator: "OR", Negate: true, CPEMatch: []nvdCPEMatch{}}} {
		configs := []nvdConfig{{Operator: "AND", Nodes: []nvdNode{widget, empty}}}
		if confirmed, alternatives := check.matchConfigs(configs); !confirmed {
			t.Errorf("matchConfigs(widget AND empty %+v) = %v, %+v, want confirmed", empty, confirmed, alternatives)
		}
		configs = []nvdConfig{{Operator: "AND", Nodes: []nvdNode{widget, empty, windows}}}
		confirmed, alternatives := check.matchConfigs(configs)
		if confirmed || len(alternatives) == 0 {
			t.Fatalf("matchConfigs(widget AND empty %+v AND windows) = %v, %+v, want possibly affected", empty, confirmed, alternatives)
		}
		if r := possibleReason(q, alternatives); r != onlyOnWindows {
			t.Errorf("widget AND empty %+v AND windows: reason %q, want %q", empty, r, onlyOnWindows)
		}
	}

	raw := `{"nvd_configurations":[` + nvdConfigJSON("AND", nvdNodeJSON("OR", false, widgetBelow2), nvdNodeJSON("OR", false)) + `]}`
	rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(raw)}}
	want := "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:* <2.0"
	if got := rec.CPECriteria(); len(got) != 1 || got[0] != want {
		t.Errorf("CPECriteria with an empty node = %q, want [%q]", got, want)
	}
}

func TestPossibleReasonKeepsEachDoubt(t *testing.T) {
	q := mustParseQuery(t, "cpe:2.3:a:acme:widget:1.5")
	windows := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onWindows)}
	macOS := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onMacOS14)}
	ranged := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2)}
	noVersion := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetNoVersion)}
	both := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2, widgetNoVersion)}
	cases := []struct {
		name    string
		configs []nvdConfig
		want    string
	}{
		{"ranged and without version on other platforms",
			[]nvdConfig{{Operator: "AND", Nodes: []nvdNode{ranged, windows}}, {Operator: "AND", Nodes: []nvdNode{noVersion, macOS}}},
			onlyOnWindows + ", or " + widgetNoVerWhy + ", and the record affects it only when running on apple:macos 14.0"},
		{"ranged on a platform and without version on any",
			[]nvdConfig{{Operator: "AND", Nodes: []nvdNode{ranged, windows}}, {Nodes: []nvdNode{noVersion}}},
			onlyOnWindows + ", or " + widgetNoVerWhy},
		{"ranged and without version on the same platform",
			[]nvdConfig{{Operator: "AND", Nodes: []nvdNode{both, windows}}},
			onlyOnWindows},
		{"without version on two platforms",
			[]nvdConfig{{Operator: "AND", Nodes: []nvdNode{noVersion, windows}}, {Operator: "AND", Nodes: []nvdNode{noVersion, macOS}}},
			widgetNoVerWhy + ", and the record affects it only when running on microsoft:windows, or on apple:macos 14.0"},
	}
	for _, tc := range cases {
		confirmed, alternatives := (&platformCheck{query: q}).matchConfigs(tc.configs)
		if confirmed || len(alternatives) == 0 {
			t.Errorf("%s: matchConfigs = %v, %+v, want possibly affected", tc.name, confirmed, alternatives)
			continue
		}
		if got := possibleReason(q, alternatives); got != tc.want {
			t.Errorf("%s: reason\n%q, want\n%q", tc.name, got, tc.want)
		}
	}
}

// wideConfig is an AND configuration of n fixed versions of a router OS
// and a platform node of n router models.
func wideConfig(n int) []nvdConfig {
	var versions, models []nvdCPEMatch
	for i := range n {
		versions = append(versions, nvdCPEMatch{Vulnerable: true,
			Criteria: fmt.Sprintf("cpe:2.3:o:acme:router_os:16.%d.%d:*:*:*:*:*:*:*", i/10, i%10)})
		models = append(models, nvdCPEMatch{Criteria: fmt.Sprintf("cpe:2.3:h:acme:router_%d:-:*:*:*:*:*:*:*", i)})
	}
	return []nvdConfig{{Operator: "AND", Nodes: []nvdNode{{Operator: "OR", CPEMatch: versions}, {Operator: "OR", CPEMatch: models}}}}
}

func TestPossibleReasonWideConfigCounts(t *testing.T) {
	q := mustParseQuery(t, "cpe:2.3:o:acme:router_os")
	confirmed, alternatives := (&platformCheck{query: q}).matchConfigs(wideConfig(8))
	if confirmed || len(alternatives) != 1 {
		t.Fatalf("matchConfigs = %v, %d alternatives, want one group of matches", confirmed, len(alternatives))
	}
	want := `no version of acme:router_os was given (CPE version "*"), so it could not be compared with the affected versions ` +
		`16.0.0, 16.0.1, 16.0.2, 16.0.3, 16.0.4 or 3 other versions, and the record affects it only when running on ` +
		`acme:router_0 or acme:router_1 or acme:router_2 or acme:router_3 or acme:router_4 or 3 other platforms`
	if got := possibleReason(q, alternatives); got != want {
		t.Errorf("reason\n%q, want\n%q", got, want)
	}
}

func TestNegatedNodeVulnerableCriterion(t *testing.T) {
	configs := []nvdConfig{{Nodes: []nvdNode{{Operator: "OR", Negate: true, CPEMatch: parseMatches(t, widgetBelow2)}}}}
	q := mustParseQuery(t, "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*")
	confirmed, alternatives := (&platformCheck{query: q}).matchConfigs(configs)
	if confirmed {
		t.Errorf("matchConfigs confirmed a criterion inside a negated node, want possibly affected")
	}
	if len(alternatives) != 1 {
		t.Fatalf("matchConfigs = %+v, want one alternative", alternatives)
	}
	want := "the record excludes acme:widget <2.0 in a negated node, so whether acme:widget 1.5 is affected could not be decided"
	if got := possibleReason(q, alternatives); got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

// TestNegatedNodeCarvesOnlyANDedProduct checks that a negated node with a
// vulnerable criterion rules a query out only when its configuration ANDs
// it with a vulnerable criterion for the same product.
func TestNegatedNodeCarvesOnlyANDedProduct(t *testing.T) {
	gadget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t,
		`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:gadget:*:*:*:*:*:*:*:*"}`)}
	widget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, `{"vulnerable":true,`+
		`"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"3.0"}`)}
	notBelow2 := nvdNode{Operator: "OR", Negate: true, CPEMatch: parseMatches(t, widgetBelow2)}
	const reason = "the record excludes acme:widget <2.0 in a negated node, so whether acme:widget 1.5 is affected could not be decided"
	cases := []struct {
		name    string
		config  nvdConfig
		matched bool
		reason  string
	}{
		{"OR with another product", nvdConfig{Operator: "OR", Nodes: []nvdNode{gadget, notBelow2}}, true, reason},
		{"no operator with another product", nvdConfig{Nodes: []nvdNode{gadget, notBelow2}}, true, reason},
		{"AND with another product", nvdConfig{Operator: "AND", Nodes: []nvdNode{gadget, notBelow2}}, true,
			reason + ", and the record affects it only when running on acme:gadget"},
		{"OR with the same product", nvdConfig{Operator: "OR", Nodes: []nvdNode{widget, notBelow2}}, true, ""},
		{"AND with the same product", nvdConfig{Operator: "AND", Nodes: []nvdNode{widget, notBelow2}}, false, ""},
	}
	q := mustParseQuery(t, "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*")
	for _, tc := range cases {
		// An empty reason means that another node confirms 1.5.
		checkConfigMatch(t, tc.name, &platformCheck{query: q}, tc.config, tc.matched, tc.reason)
	}
}

// configCase is a configuration, a query and the platforms present, with
// the expected outcome of matchConfigs.
type configCase struct {
	name    string
	config  nvdConfig
	query   string
	present []string
	matched bool
	// reason is the possibly-affected reason, or "" for a confirmed match.
	reason string
}

// checkConfigCases runs checkConfigMatch on each case.
func checkConfigCases(t *testing.T, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		check := &platformCheck{query: mustParseQuery(t, tc.query), present: NewCPESet(tc.present)}
		checkConfigMatch(t, tc.name, check, tc.config, tc.matched, tc.reason)
	}
}

// checkConfigMatch checks the result of matchConfigs of config for check:
// whether it matched, and, for a match, that it is confirmed when reason
// is empty and otherwise possible for that reason.
func checkConfigMatch(t *testing.T, name string, check *platformCheck, config nvdConfig, matched bool, reason string) {
	t.Helper()
	confirmed, alternatives := check.matchConfigs([]nvdConfig{config})
	if got := confirmed || len(alternatives) > 0; got != matched {
		t.Errorf("%s: matched = %v, want %v", name, got, matched)
		return
	}
	if !matched {
		return
	}
	if confirmed != (reason == "") {
		t.Errorf("%s: confirmed = %v, want %v", name, confirmed, reason == "")
		return
	}
	if got := possibleReason(check.query, alternatives); reason != "" && got != reason {
		t.Errorf("%s: reason\n%q, want\n%q", name, got, reason)
	}
}
