package main

import (
	"encoding/json"
	"strings"
	"testing"

	packageurl "github.com/package-url/packageurl-go"

	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
)

func TestSummaryLineFallsBackToDetails(t *testing.T) {
	cases := []struct {
		rec  vulndb.Record
		want string
	}{
		{vulndb.Record{Summary: "Heap overflow in libwebp", Details: "Long text."}, "Heap overflow in libwebp"},
		{vulndb.Record{Details: "Heap buffer overflow in libwebp\nin Google Chrome  prior to 116."}, "Heap buffer overflow in libwebp in Google Chrome prior to 116."},
		{vulndb.Record{Summary: "harmless\nlodash  4.17.21\tforged", Details: "Long text."}, "harmless lodash 4.17.21 forged"},
		{vulndb.Record{}, ""},
	}
	for _, c := range cases {
		if got := summaryLine(c.rec); got != c.want {
			t.Errorf("summaryLine(%+v) = %q, want %q", c.rec, got, c.want)
		}
	}
}

func TestScanSummaryNamesOneFinding(t *testing.T) {
	rep := &scanReport{Packages: 1, SBOM: "sbom.json", Findings: []finding{{Package: "lodash", Version: "4.17.20", ID: "GHSA-35jh-r3h4-6jhm"}}}
	var b strings.Builder
	if err := printScan(&b, rep); err != nil {
		t.Fatal(err)
	}
	if line, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(line, ": 1 finding, 0 skipped") {
		t.Errorf("summary line %q does not name one finding in the singular", line)
	}
}

func TestLookupTextListsEverySeverity(t *testing.T) {
	rec := vulndb.Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []vulndb.Severity{
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{Type: "CVSS_V4", Score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
	}}
	var b strings.Builder
	if err := printRecords(&b, []vulndb.Record{rec}); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Severity {
		if !strings.Contains(b.String(), "severity   "+s.Score) {
			t.Errorf("lookup text lacks the %s score:\n%s", s.Type, b.String())
		}
	}
}

func TestLookupTextCutDetailsPointToJSON(t *testing.T) {
	for details, want := range map[string]string{
		"A short description.":      "  details    A short description.\n",
		strings.Repeat("word ", 40): " (full text with -o json)\n",
	} {
		var b strings.Builder
		if err := printRecords(&b, []vulndb.Record{{ID: "CVE-2030-0001", Details: details}}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("lookup text of %d characters of details lacks %q:\n%s", len(details), want, b.String())
		}
	}
}

func TestMirrorTargetNamesDigestOnce(t *testing.T) {
	d := "sha256:" + strings.Repeat("b", 64)
	for target, want := range map[string]string{
		"reg.local/a:1.0":  "reg.local/a:1.0@" + d,
		"reg.local/a@" + d: "reg.local/a@" + d,
	} {
		if got := withDigest(target, d); got != want {
			t.Errorf("withDigest(%q) = %q, want %q", target, got, want)
		}
	}
}

func TestWithPURLVersionEncodes(t *testing.T) {
	cases := []struct{ purl, version, want string }{
		{"pkg:npm/lodash", "1.0@x", "pkg:npm/lodash@1.0%40x"},
		{"pkg:npm/lodash?foo=bar#sub", "1.0 beta", "pkg:npm/lodash@1.0%20beta?foo=bar#sub"},
		{"pkg:deb/debian/tar", "1:1.34+dfsg-1", "pkg:deb/debian/tar@1:1.34%2Bdfsg-1"},
		{"pkg:generic/x", "a/b?c#d%e", "pkg:generic/x@a%2Fb%3Fc%23d%25e"},
		{"pkg:npm/lodash", "4.17.21", "pkg:npm/lodash@4.17.21"},
	}
	for _, c := range cases {
		got := withPURLVersion(c.purl, c.version)
		if got != c.want {
			t.Errorf("withPURLVersion(%s, %q) = %s, want %s", c.purl, c.version, got, c.want)
		}
		p, err := packageurl.FromString(got)
		if err != nil {
			t.Errorf("withPURLVersion(%s, %q) = %s, which does not parse: %v", c.purl, c.version, got, err)
			continue
		}
		if p.Version != c.version {
			t.Errorf("withPURLVersion(%s, %q) parses back to version %q", c.purl, c.version, p.Version)
		}
	}
}

func TestPackageLookupsVersions(t *testing.T) {
	const anyCPE = "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"
	cases := []struct {
		name                  string
		pkg                   sbom.Package
		query, version, shown string
	}{
		{"purl with the SBOM version", sbom.Package{Version: "1.0@x", PURLs: []string{"pkg:npm/a"}}, "pkg:npm/a@1.0%40x", "1.0@x", "1.0@x"},
		{"purl with its own version", sbom.Package{Version: "4.17.21", PURLs: []string{"pkg:npm/lodash@4.17.20"}},
			"pkg:npm/lodash@4.17.20", "4.17.20", "4.17.20"},
		{"rpm purl with an epoch", sbom.Package{Version: "1:3.0.7-27.el9", PURLs: []string{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=1"}},
			"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=1", "1:3.0.7-27.el9", "1:3.0.7-27.el9"},
		{"CPE with the SBOM version", sbom.Package{Version: "2.5", CPEs: []string{anyCPE}},
			"cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*", "2.5", "2.5"},
		{"CPE without any version", sbom.Package{CPEs: []string{anyCPE}}, anyCPE, "", ""},
		{"CPE with version NA", sbom.Package{Version: "2.5", CPEs: []string{"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*"}},
			"cpe:2.3:a:acme:widget:-:*:*:*:*:*:*:*", "", "2.5"},
		{"CPE with its own version", sbom.Package{Version: "2.5", CPEs: []string{"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*"}},
			"cpe:2.3:a:acme:widget:1.5:*:*:*:*:*:*:*", "1.5", "1.5"},
		{"Go toolchain purl", sbom.Package{Version: "go1.18.10", PURLs: []string{"pkg:golang/stdlib@1.18.10"}},
			"pkg:golang/stdlib@1.18.10", "1.18.10", "go1.18.10"},
		{"Go toolchain CPE", sbom.Package{Version: "go1.18.10", CPEs: []string{"cpe:2.3:a:golang:go:1.18.10:-:*:*:*:*:*:*"}},
			"cpe:2.3:a:golang:go:1.18.10:-:*:*:*:*:*:*", "1.18.10", "go1.18.10"},
	}
	for _, c := range cases {
		lookups := packageLookups(c.pkg)
		if len(lookups) != 1 {
			t.Fatalf("%s: %d lookups, want 1", c.name, len(lookups))
		}
		l := lookups[0]
		if l.err != nil {
			t.Errorf("%s: %v", c.name, l.err)
		}
		if l.query != c.query {
			t.Errorf("%s: query %s, want %s", c.name, l.query, c.query)
		}
		if l.version != c.version {
			t.Errorf("%s: version %q, want %q", c.name, l.version, c.version)
		}
		if got := l.shownVersion(c.pkg.Version); got != c.shown {
			t.Errorf("%s: shown version %q, want %q", c.name, got, c.shown)
		}
	}
	// A version with a space cannot be written into a CPE, so the CPE is
	// looked up at its leading part and with version "*".
	lookups := packageLookups(sbom.Package{Version: "1.0 beta", CPEs: []string{anyCPE}})
	if len(lookups) != 2 {
		t.Fatalf("CPE with version \"1.0 beta\": %d lookups, want 2", len(lookups))
	}
	wantQueries := []string{"cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*", anyCPE}
	for i, l := range lookups {
		if l.err != nil || l.query != wantQueries[i] || !strings.Contains(l.versionDoubt, `"1.0 beta"`) {
			t.Errorf("CPE with version \"1.0 beta\", lookup %d: query %s, error %v, doubt %q; want %s and a doubt naming the version",
				i, l.query, l.err, l.versionDoubt, wantQueries[i])
		}
	}
}

func TestVersionMismatchesOncePerVersion(t *testing.T) {
	p := sbom.Package{Name: "widget", Version: "2.5", PURLs: []string{"pkg:generic/widget@2.4"},
		CPEs: []string{"cpe:2.3:a:acme:widget:2.4:*:*:*:*:*:*:*", "cpe:2.3:a:acme:widget:2.5:*:*:*:*:*:*:*",
			"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*"}}
	got := versionMismatches(p, packageLookups(p))
	if len(got) != 1 || got[0].Identifier != p.PURLs[0] || got[0].Version != "2.4" {
		t.Errorf("versionMismatches = %+v, want one for the purl's 2.4", got)
	}
	if got := versionMismatches(sbom.Package{PURLs: []string{"pkg:npm/a@1.0"}},
		packageLookups(sbom.Package{PURLs: []string{"pkg:npm/a@1.0"}})); len(got) != 0 {
		t.Errorf("versionMismatches without an SBOM version = %+v, want none", got)
	}
}

func TestScanTextMarksPossiblyAndMismatch(t *testing.T) {
	rep := &scanReport{Packages: 1, SBOM: "sbom.json", Findings: []finding{{Package: "widget", Version: "1.5", ID: "CVE-2030-0001",
		Summary: "acme widget overflow", PossiblyAffected: "some reason"}},
		VersionMismatches: []versionMismatch{{Package: "widget", SBOMVersion: "1.6", Identifier: "pkg:generic/widget@1.5", Version: "1.5"}}}
	var b strings.Builder
	if err := printScan(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(possibly) acme widget overflow", "possibly affected widget 1.5 by CVE-2030-0001: some reason",
		"version mismatch widget 1.6: pkg:generic/widget@1.5 names version 1.5, which was looked up, " +
			"and records that affect only the SBOM's version 1.6 are listed as possibly affected"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("scan text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestVersionMismatchesEqualInEcosystem(t *testing.T) {
	cases := []sbom.Package{
		{Name: "mod", Version: "1.4.0", PURLs: []string{"pkg:golang/example.com/mod@v1.4.0"}},
		{Name: "stdlib", Version: "go1.22.4", PURLs: []string{"pkg:golang/stdlib@1.22.4"}},
		{Name: "stdlib", Version: "1.22.4", PURLs: []string{"pkg:golang/stdlib@go1.22.4"}},
		{Name: "stdlib", Version: "go1.22.4", PURLs: []string{"pkg:golang/stdlib@v1.22.4"}},
		{Name: "go", Version: "1.22.4", CPEs: []string{"cpe:2.3:a:golang:go:go1.22.4:*:*:*:*:*:*:*"}},
		{Name: "post", Version: "1.0.POST1", PURLs: []string{"pkg:pypi/post@1.0.post1"}},
		{Name: "post", Version: "1.0-post1", PURLs: []string{"pkg:pypi/post@1.0.post1"}},
		{Name: "post", Version: "1.0.post.1", PURLs: []string{"pkg:pypi/post@1.0.post1"}},
		{Name: "post", Version: "v1.0.post1", PURLs: []string{"pkg:pypi/post@1.0.post1"}},
		{Name: "lo", Version: "4.17.20", PURLs: []string{"pkg:npm/lodash@v4.17.20"}},
		{Name: "lo", Version: "v4.17.20", PURLs: []string{"pkg:npm/lodash@4.17.20"}},
		{Name: "openssl", Version: "3.0.7-27.el9", PURLs: []string{"pkg:rpm/redhat/openssl@3.0.7-27.el9?epoch=0"}},
		{Name: "widget", Version: "1.0", CPEs: []string{"cpe:2.3:a:acme:widget:1.0.0:*:*:*:*:*:*:*"}},
		{Name: "openssl", Version: "1.1.1K", CPEs: []string{"cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*"}},
	}
	for _, p := range cases {
		if got := versionMismatches(p, packageLookups(p)); len(got) != 0 {
			t.Errorf("%s %s: versionMismatches = %+v, want none", strings.Join(append(p.PURLs, p.CPEs...), " "), p.Version, got)
		}
	}
	differ := []sbom.Package{
		{Name: "mod", Version: "1.4.1", PURLs: []string{"pkg:golang/example.com/mod@v1.4.0"}},
		{Name: "stdlib", Version: "go1.22.5", PURLs: []string{"pkg:golang/stdlib@v1.22.4"}},
		{Name: "stdlib", Version: "1.22.5", PURLs: []string{"pkg:golang/stdlib@go1.22.4"}},
		{Name: "post", Version: "1.0.post2", PURLs: []string{"pkg:pypi/post@1.0.post1"}},
		{Name: "lo", Version: "4.17.21", PURLs: []string{"pkg:npm/lodash@v4.17.20"}},
		{Name: "lo", Version: "=4.17.20", PURLs: []string{"pkg:npm/lodash@4.17.20"}},
		{Name: "widget", Version: "1.1", CPEs: []string{"cpe:2.3:a:acme:widget:1.0.0:*:*:*:*:*:*:*"}},
	}
	for _, p := range differ {
		if got := versionMismatches(p, packageLookups(p)); len(got) != 1 {
			t.Errorf("%s %s: versionMismatches = %+v, want one", strings.Join(append(p.PURLs, p.CPEs...), " "), p.Version, got)
		}
	}
}

func TestWithSBOMVersionReplacesVersion(t *testing.T) {
	cases := []struct {
		pkg  sbom.Package
		want string
	}{
		{sbom.Package{Version: "1.5", PURLs: []string{"pkg:npm/hidden@2.5"}}, "pkg:npm/hidden@1.5"},
		{sbom.Package{Version: "1.0@x", PURLs: []string{"pkg:npm/%40scope/hidden@2.5?arch=x86#sub"}}, "pkg:npm/%40scope/hidden@1.0%40x?arch=x86#sub"},
		{sbom.Package{Version: "1.5", CPEs: []string{"cpe:2.3:a:acme:hidden:2.5:*:*:*:*:*:*:*"}}, "cpe:2.3:a:acme:hidden:1.5:*:*:*:*:*:*:*"},
	}
	for _, c := range cases {
		l := packageLookups(c.pkg)[0]
		got, err := l.withSBOMVersion(c.pkg.Version)
		if err != nil {
			t.Errorf("%s: %v", l.written, err)
		}
		if got != c.want {
			t.Errorf("%s with SBOM version %q = %s, want %s", l.written, c.pkg.Version, got, c.want)
		}
	}
}

// Record text comes from the feeds, so the text output must not pass on
// terminal escapes, such as one that sets the window title or clears the
// screen.
func TestTextOutputReplacesControlCharacters(t *testing.T) {
	const hostile = "overflow\x1b]0;owned\x07\x1b[2J\u202e"
	var scan strings.Builder
	rep := &scanReport{Packages: 1, SBOM: "sbom.json", Findings: []finding{{Package: "widget", Version: "1.5",
		ID: "CVE-2030-0001", Summary: hostile}}}
	if err := printScan(&scan, rep); err != nil {
		t.Fatal(err)
	}
	var lookup strings.Builder
	if err := printRecords(&lookup, []vulndb.Record{{ID: "CVE-2030-0001", Summary: hostile, Details: hostile}}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"scan": scan.String(), "lookup": lookup.String()} {
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%s text passes on control characters: %q", name, out)
		}
		if !strings.Contains(out, "overflow?]0;owned??[2J?") {
			t.Errorf("%s text does not mark the replaced characters: %q", name, out)
		}
	}
}

// A line break or tab in record or SBOM text would start a line that
// reads as a finding of its own, or shift the table's columns.
func TestTextOutputKeepsFieldsOnOneLine(t *testing.T) {
	const forged = "harmless\nlodash  4.17.21  CVE-FAKE  10.0 CRITICAL\tforged\r\vrow"
	var scan strings.Builder
	rep := &scanReport{Packages: 1, SBOM: "sbom.json",
		Findings: []finding{{Package: "widget\nx", Version: "1.5\t", ID: "CVE-2030-0001", Summary: forged,
			PossiblyAffected: forged}},
		Skipped:           []skipped{{Package: "odd\npkg", Reason: forged}},
		VersionMismatches: []versionMismatch{{Package: "w", SBOMVersion: "1\n6", Identifier: "pkg:npm/w@1.5\nx", Version: "1.5"}}}
	if err := printScan(&scan, rep); err != nil {
		t.Fatal(err)
	}
	var lookup strings.Builder
	if err := printRecords(&lookup, []vulndb.Record{{ID: "CVE-2030-0001\nX", Aliases: []string{"GHSA\n1"}, Summary: forged}}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		out   string
		lines int
	}{"scan": {scan.String(), 6}, "lookup": {lookup.String(), 2}} {
		if strings.ContainsAny(c.out, "\t\v") {
			t.Errorf("%s text passes on a tab: %q", name, c.out)
		}
		if got := strings.Count(c.out, "\n"); got != c.lines {
			t.Errorf("%s text has %d lines, want %d:\n%s", name, got, c.lines, c.out)
		}
	}
}

func TestWriteJSONEscapesC1Controls(t *testing.T) {
	var b strings.Builder
	in := map[string]string{"summary": "a\u009b2Jb\u0085c é"}
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\u009b\u0085") {
		t.Errorf("JSON output passes C1 controls through: %q", b.String())
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(b.String()), &out); err != nil || out["summary"] != in["summary"] {
		t.Errorf("JSON output %q decodes to %q (%v), want the same text", b.String(), out["summary"], err)
	}
}
