package vulndb

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/kv"
)

// onWindows10 is a CPE that the criterion onWindows covers for certain.
const onWindows10 = "cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*"

// widget15Contradiction starts the reason of a match of acme:widget 1.5
// through a negated configuration that excludes every system with the
// vulnerable criterion.
const widget15Contradiction = "the record contradicts itself about acme:widget 1.5, because its negated configuration "

// widgetBelow2Named ends the reason of such a match.
const widgetBelow2Named = " excludes acme:widget <2.0, which it names as vulnerable"

func TestNegatedConfigMatches(t *testing.T) {
	widget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2)}
	notWidget := nvdNode{Operator: "OR", Negate: true, CPEMatch: parseMatches(t, widgetBelow2)}
	windows := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onWindows)}
	notWindows := nvdNode{Operator: "OR", Negate: true, CPEMatch: parseMatches(t, onWindows)}
	windowsOrMacOS := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onWindows, onMacOS14)}
	widgetOnWindows := nvdNode{Operator: "AND", CPEMatch: parseMatches(t, widgetBelow2, onWindows)}
	const (
		widget15  = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
		widget25  = "cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*"
		anyWidget = "cpe:2.3:a:acme:widget"
	)
	checkConfigCases(t, []configCase{
		// "Not widget" excludes every system with the vulnerable widget.
		{"one node", nvdConfig{Negate: true, Nodes: []nvdNode{widget}}, widget15, nil, true,
			widget15Contradiction + "not (acme:widget <2.0)" + widgetBelow2Named},
		// The criterion names the vulnerable product, so a version outside
		// it is not affected, though the negated configuration is true there.
		{"one node outside the range", nvdConfig{Negate: true, Nodes: []nvdNode{widget}}, widget25, nil, false, ""},
		{"negated node", nvdConfig{Negate: true, Nodes: []nvdNode{notWidget}}, widget15, nil, true, ""},
		// "Not (widget and Windows)" is true for the widget off Windows.
		{"AND with a platform", nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, windows}},
			widget15, nil, true,
			"the record affects acme:widget 1.5 only when running on a platform other than microsoft:windows"},
		// With the widget and Windows both present for certain, the
		// configuration is false.
		{"AND with a present platform", nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, windows}},
			widget15, []string{onWindows10}, false, ""},
		// Whatever the version, the widget is either outside the criterion
		// or ruled out with Windows.
		{"AND with a present platform, query without version",
			nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, windows}},
			anyWidget, []string{onWindows10}, false, ""},
		{"OR with a platform", nvdConfig{Operator: "OR", Negate: true, Nodes: []nvdNode{widget, windows}},
			widget15, nil, true,
			widget15Contradiction + "not (acme:widget <2.0 or microsoft:windows)" + widgetBelow2Named},
		{"AND with a node of two platforms", nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, windowsOrMacOS}},
			widget15, nil, true,
			"the record affects acme:widget 1.5 only when running on a platform other than microsoft:windows or apple:macos 14.0"},
		{"query without version", nvdConfig{Negate: true, Nodes: []nvdNode{widget}}, anyWidget, nil, true,
			`no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected ` +
				"versions <2.0, and the record contradicts itself, because its negated configuration not (acme:widget <2.0)" +
				widgetBelow2Named},
		// "Neither widget nor Windows" rules out a system with Windows for
		// certain.
		{"OR with a present platform", nvdConfig{Operator: "OR", Negate: true, Nodes: []nvdNode{widget, windows}},
			widget15, []string{onWindows10}, false, ""},
		{"no operator with a present platform", nvdConfig{Negate: true, Nodes: []nvdNode{widget, windows}},
			widget15, []string{onWindows10}, false, ""},
		// "Not (widget and not Windows)" is true on Windows, so the widget
		// is affected there.
		{"AND with a negated platform", nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, notWindows}},
			widget15, nil, true, "the record affects acme:widget 1.5 only when running on microsoft:windows"},
		{"AND with a present negated platform", nvdConfig{Operator: "AND", Negate: true, Nodes: []nvdNode{widget, notWindows}},
			widget15, []string{onWindows10}, true, ""},
		// One AND node: "not (widget on Windows)".
		{"AND node", nvdConfig{Negate: true, Nodes: []nvdNode{widgetOnWindows}}, widget15, nil, true,
			"the record affects acme:widget 1.5 only when running on a platform other than microsoft:windows"},
		{"AND node with a present platform", nvdConfig{Negate: true, Nodes: []nvdNode{widgetOnWindows}},
			widget15, []string{onWindows10}, false, ""},
	})
}

func TestNegatedCPECriteria(t *testing.T) {
	widget := nvdNodeJSON("OR", false, widgetBelow2)
	notWidget := nvdNodeJSON("OR", true, widgetBelow2)
	windows := nvdNodeJSON("OR", false, onWindows)
	gadget := nvdNodeJSON("OR", false, `{"vulnerable":true,"criteria":"cpe:2.3:a:acme:gadget:*:*:*:*:*:*:*:*"}`)
	const widgetLine = "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:* <2.0"
	cases := []struct {
		name   string
		config string
		want   []string
	}{
		{"negated configuration", `{"negate":true,"nodes":[` + widget + `]}`,
			[]string{widgetLine + " inside the negated configuration not (acme:widget <2.0)"}},
		{"negated AND configuration", `{"operator":"AND","negate":true,"nodes":[` + widget + `,` + windows + `]}`,
			[]string{widgetLine + " inside the negated configuration not (acme:widget <2.0 and microsoft:windows)"}},
		// "Neither widget nor Windows" is no widget range with a platform.
		{"negated OR configuration", `{"operator":"OR","negate":true,"nodes":[` + widget + `,` + windows + `]}`,
			[]string{widgetLine + " inside the negated configuration not (acme:widget <2.0 or microsoft:windows)"}},
		// "Not (not widget, or Windows)" is the widget off Windows.
		{"negated node in a negated configuration", `{"operator":"OR","negate":true,"nodes":[` + notWidget + `,` + windows + `]}`,
			[]string{widgetLine + " when running on a platform other than microsoft:windows"}},
		{"negated node", `{"nodes":[` + notWidget + `]}`, []string{widgetLine + " inside a negated node"}},
		{"negated node with a product", `{"operator":"AND","nodes":[` + gadget + `,` + notWidget + `]}`,
			[]string{"cpe:2.3:a:acme:gadget:*:*:*:*:*:*:*:* when running on a platform other than acme:widget <2.0",
				widgetLine + " inside a negated node, when running on acme:gadget"}},
	}
	for _, tc := range cases {
		checkCPECriteria(t, tc.name, tc.config, tc.want)
	}
}

// checkCPECriteria checks the CPECriteria lines of a record whose only NVD
// configuration is config, written as JSON.
func checkCPECriteria(t *testing.T, name, config string, want []string) {
	t.Helper()
	raw := `{"nvd_configurations":[` + config + `]}`
	rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(raw)}}
	got := rec.CPECriteria()
	if len(got) != len(want) {
		t.Errorf("%s: CPECriteria = %q, want %q", name, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: CPECriteria line %d\n%q, want\n%q", name, i, got[i], want[i])
		}
	}
}

func TestLookupCPENegatedConfig(t *testing.T) {
	product := nvdNodeJSON("OR", false, widgetBelow2)
	windows := nvdNodeJSON("OR", false, onWindows)
	db := configDB(t, map[string][]string{
		"CVE-2030-0201": {`{"negate":true,"nodes":[` + product + `]}`},
		"CVE-2030-0202": {`{"operator":"AND","negate":true,"nodes":[` + product + `,` + windows + `]}`},
		"CVE-2030-0203": {`{"operator":"OR","negate":true,"nodes":[` + product + `,` + windows + `]}`},
		// negate false is the plain configuration.
		"CVE-2030-0204": {`{"operator":"AND","negate":false,"nodes":[` + product + `,` + windows + `]}`},
	})

	const query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	recs, err := db.LookupCPEOn(query, NewCPESet([]string{onWindows10}))
	if err != nil {
		t.Fatal(err)
	}
	// With Windows present, only the configuration "not widget" leaves
	// the widget possibly affected, and only because it contradicts
	// itself.
	checkPossiblyAffected(t, "LookupCPEOn("+query+")", recs, map[string]string{
		"CVE-2030-0201": widget15Contradiction + "not (acme:widget <2.0)" + widgetBelow2Named,
		"CVE-2030-0204": "",
	})
}

// negateConfigurations sets negate on every configuration in the decoded
// NVD JSON value v and returns how many it set.
func negateConfigurations(v any) int {
	count := 0
	switch v := v.(type) {
	case map[string]any:
		for key, member := range v {
			configs, ok := member.([]any)
			if key != "configurations" || !ok {
				count += negateConfigurations(member)
				continue
			}
			for _, c := range configs {
				if config, ok := c.(map[string]any); ok {
					config["negate"] = true
					count++
				}
			}
		}
	case []any:
		for _, member := range v {
			count += negateConfigurations(member)
		}
	}
	return count
}

// TestLookupCPERealRecordsNegated builds the real NVD records with every
// configuration negated and looks up every vulnerable criterion at a
// version inside it. No lookup may confirm a record, since no platform is
// known to be absent. Each record stays possibly affected, because it
// either contradicts itself or needs a platform other than those it names.
func TestLookupCPERealRecordsNegated(t *testing.T) {
	dir := testdataDir(t, "nvd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	feed := t.TempDir()
	negated := 0
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		negated += negateConfigurations(v)
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, feed, e.Name(), string(out))
	}
	if negated == 0 {
		t.Skipf("no record in %s has a configuration", dir)
	}
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedNVD, Path: feed}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)

	lookups := 0
	for _, rec := range allRecords(t, res) {
		for _, c := range recordConfigs(&rec) {
			if !c.Negate {
				t.Errorf("%s: a configuration lost its negate flag in the build", rec.ID)
			}
			for _, n := range c.Nodes {
				for _, m := range n.CPEMatch {
					query, _, ok := queryInside(m)
					if !ok || !m.Vulnerable {
						continue
					}
					found, err := db.LookupCPE(query)
					if err != nil {
						t.Fatalf("LookupCPE(%s): %v", query, err)
					}
					lookups++
					reason, hit := possiblyByID(found)[rec.ID]
					switch {
					case !hit:
						t.Errorf("LookupCPE(%s) lacks %s, whose negated configuration is undecided", query, rec.ID)
					case !strings.Contains(reason, "negated configuration") && !strings.Contains(reason, "a platform other than"):
						t.Errorf("LookupCPE(%s): %s reason %q, want possibly affected through a negated configuration",
							query, rec.ID, reason)
					}
				}
			}
		}
	}
	if lookups == 0 {
		t.Skipf("no record in %s has a vulnerable criterion with a version to look up", dir)
	}
}

// Criteria of the exception "widget below 2.0 but not 1.5": widget 1.5 as
// NVD writes it in a negated node, with vulnerable false and true, and
// only on arm64 hardware.
const (
	notWidget15           = `{"vulnerable":false,"criteria":"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"}`
	notWidget15Vulnerable = widget15
	notWidget15ARM        = `{"vulnerable":false,"criteria":"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:arm64:*"}`
)

func TestNegatedNodeExceptsSameProduct(t *testing.T) {
	widget := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, widgetBelow2)}
	except := func(operator string, criteria ...string) nvdConfig {
		return nvdConfig{Operator: "AND", Nodes: []nvdNode{widget,
			{Operator: operator, Negate: true, CPEMatch: parseMatches(t, criteria...)}}}
	}
	windows := nvdNode{Operator: "OR", CPEMatch: parseMatches(t, onWindows)}
	withWindows := except("OR", notWidget15)
	withWindows.Nodes = append(withWindows.Nodes, windows)
	const (
		widget14Query = "cpe:2.3:a:acme:widget:1.4:*:*:*:*:*:*:*"
		widget15Query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
		anyWidget     = "cpe:2.3:a:acme:widget"
	)
	checkConfigCases(t, []configCase{
		{"outside the exception", except("OR", notWidget15), widget14Query, nil, true, ""},
		{"outside a vulnerable exception", except("OR", notWidget15Vulnerable), widget14Query, nil, true, ""},
		{"inside the exception", except("OR", notWidget15), widget15Query, nil, false, ""},
		// Another component with widget 1.5 leaves the queried 1.4 outside
		// the exception.
		{"excepted version present", except("OR", notWidget15), widget14Query, []string{widget15Query}, true, ""},
		// "Not (widget 1.5 and Windows)" is true for widget 1.4 anywhere.
		{"AND node with a platform", except("AND", notWidget15, onWindows), widget14Query, nil, true, ""},
		{"with a platform", withWindows, widget14Query, nil, true,
			"the record affects acme:widget 1.4 only when running on microsoft:windows"},
		{"query without version", except("OR", notWidget15), anyWidget, nil, true,
			`no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected ` +
				"versions <2.0, and the record excludes acme:widget 1.5 from the affected versions"},
		{"query without version, vulnerable exception", except("OR", notWidget15Vulnerable), anyWidget, nil, true,
			`no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected ` +
				"versions <2.0, and the record excludes acme:widget 1.5 from the affected versions, or " +
				`no version of acme:widget was given (CPE version "*"), so it could not be compared with the affected ` +
				"versions 1.5, and the record excludes acme:widget 1.5 in a negated node, as an exception of acme:widget <2.0"},
		// The query leaves the target hardware open, so it may be the
		// excepted arm64 build.
		{"exception on other hardware", except("OR", notWidget15ARM), widget15Query, nil, true,
			"the record affects acme:widget <2.0 except acme:widget 1.5, and whether acme:widget 1.5 lies in " +
				"that exception could not be decided"},
		{"outside an exception on other hardware", except("OR", notWidget15ARM), widget14Query, nil, true, ""},
	})
}

func TestCPECriteriaSameProductException(t *testing.T) {
	widget := nvdNodeJSON("OR", false, widgetBelow2)
	windows := nvdNodeJSON("OR", false, onWindows)
	const widgetLine = "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:* <2.0"
	cases := []struct {
		name   string
		config string
		want   []string
	}{
		{"exception", nvdConfigJSON("AND", widget, nvdNodeJSON("OR", true, notWidget15)),
			[]string{widgetLine + " except acme:widget 1.5"}},
		{"vulnerable exception", nvdConfigJSON("AND", widget, nvdNodeJSON("OR", true, notWidget15Vulnerable)),
			[]string{widgetLine + " except acme:widget 1.5",
				"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:* inside a negated node that excepts it from acme:widget <2.0"}},
		{"exception with a platform", nvdConfigJSON("AND", widget, nvdNodeJSON("OR", true, notWidget15), windows),
			[]string{widgetLine + " except acme:widget 1.5, when running on microsoft:windows"}},
	}
	for _, tc := range cases {
		checkCPECriteria(t, tc.name, tc.config, tc.want)
	}
}

func TestLookupCPESameProductException(t *testing.T) {
	widget := nvdNodeJSON("OR", false, widgetBelow2)
	db := configDB(t, map[string][]string{
		"CVE-2030-0211": {nvdConfigJSON("AND", widget, nvdNodeJSON("OR", true, notWidget15))},
		"CVE-2030-0212": {nvdConfigJSON("AND", widget, nvdNodeJSON("OR", true, notWidget15Vulnerable))},
	})

	const widget14Query = "cpe:2.3:a:acme:widget:1.4:*:*:*:*:*:*:*"
	recs, err := db.LookupCPEOn(widget14Query, NewCPESet([]string{onWindows10}))
	if err != nil {
		t.Fatal(err)
	}
	// Both records confirm widget 1.4.
	checkPossiblyAffected(t, "LookupCPEOn("+widget14Query+")", recs, map[string]string{
		"CVE-2030-0211": "",
		"CVE-2030-0212": "",
	})

	const widget15Query = "cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"
	recs, err = db.LookupCPE(widget15Query)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("LookupCPE(%s) = %s, want none, because 1.5 is the exception", widget15Query, ids(recs))
	}
}
