package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// readAll reads one feed and returns its records and rejections.
func readAll(t testing.TB, f Feed) ([]source, []*RecordError) {
	t.Helper()
	var srcs []source
	var rejected []*RecordError
	fr := &feedReader{feed: f,
		emit:   func(s source) { srcs = append(srcs, s) },
		reject: func(e *RecordError) { rejected = append(rejected, e) }}
	if err := fr.read(context.Background()); err != nil {
		t.Fatalf("reading %s feed %s: %v", f.Kind, f.Path, err)
	}
	return srcs, rejected
}

func byID(srcs []source) map[string]source {
	out := map[string]source{}
	for _, s := range srcs {
		out[s.rec.ID] = s
	}
	return out
}

func TestReadOSVFolder(t *testing.T) {
	dir := testdataDir(t, "osv")
	srcs, rejected := readAll(t, Feed{Kind: FeedOSV, Path: dir})
	if len(rejected) != 0 {
		t.Errorf("rejected real OSV records: %v", rejected)
	}
	got := byID(srcs)
	for _, id := range []string{"GO-2020-0001", "PYSEC-2023-74", "MAL-2024-10238", "CVE-2018-5407",
		"RUSTSEC-2021-0003", "DSA-3029-1"} {
		if _, ok := got[id]; !ok {
			t.Errorf("record %s not read from %s", id, dir)
		}
	}
	if s := got["GO-2020-0001"]; s.feed != FeedOSV {
		t.Errorf("feed = %q, want osv", s.feed)
	}
}

func TestReadGHSATree(t *testing.T) {
	src := testdataDir(t, "ghsa")
	root := t.TempDir()
	data, err := os.ReadFile(filepath.Join(src, "GHSA-35jh-r3h4-6jhm.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "advisories/github-reviewed/2021/05/GHSA-35jh-r3h4-6jhm/GHSA-35jh-r3h4-6jhm.json", string(data))
	writeFile(t, root, ".git/objects/x.json", "not json")
	srcs, rejected := readAll(t, Feed{Kind: FeedGHSA, Path: root})
	if len(rejected) != 0 {
		t.Errorf("rejected: %v", rejected)
	}
	if len(srcs) != 1 || srcs[0].rec.ID != "GHSA-35jh-r3h4-6jhm" {
		t.Fatalf("records = %d, want GHSA-35jh-r3h4-6jhm only", len(srcs))
	}
	if got := srcs[0].rec.Aliases; len(got) != 1 || got[0] != "CVE-2021-23337" {
		t.Errorf("aliases = %v, want [CVE-2021-23337]", got)
	}
}

func TestReadOSVZip(t *testing.T) {
	dir := testdataDir(t, "osv")
	zpath := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range []string{"GO-2020-0001.json", "DSA-3029-1.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(name)
		w.Write(data)
	}
	w, _ := zw.Create("broken.json")
	w.Write([]byte(`{"id": 7}`))
	zw.Close()
	f.Close()

	srcs, rejected := readAll(t, Feed{Kind: FeedOSV, Path: zpath})
	if len(srcs) != 2 {
		t.Errorf("records = %d, want 2", len(srcs))
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "all.zip!broken.json") {
		t.Errorf("rejections = %v, want one naming all.zip!broken.json", rejected)
	}
}

func TestReadNVDForms(t *testing.T) {
	dir := testdataDir(t, "nvd")
	srcs, rejected := readAll(t, Feed{Kind: FeedNVD, Path: dir})
	if len(rejected) != 0 {
		t.Errorf("rejected: %v", rejected)
	}
	got := byID(srcs)
	webp, ok := got["CVE-2023-4863"]
	if !ok {
		t.Fatal("CVE-2023-4863 (API response) not read")
	}
	if !strings.Contains(webp.rec.Details, "libwebp") {
		t.Errorf("details = %q, want the English description", webp.rec.Details)
	}
	if len(webp.rec.Severity) == 0 || webp.rec.Severity[0].Type != "CVSS_V3" {
		t.Errorf("severity = %v, want a CVSS_V3 vector", webp.rec.Severity)
	}
	if !strings.Contains(string(webp.config), "cpe:2.3:a:webmproject:libwebp") {
		t.Errorf("configurations lack the libwebp criteria")
	}
	if len(webp.cwes) == 0 || webp.cwes[0] != "CWE-787" {
		t.Errorf("cwes = %v, want [CWE-787]", webp.cwes)
	}

	bare, ok := got["CVE-2024-5732"]
	if !ok {
		t.Fatal("CVE-2024-5732 (bare cve object) not read")
	}
	var v4 string
	for _, s := range bare.rec.Severity {
		if s.Type == "CVSS_V4" {
			v4 = s.Score
		}
	}
	if v4 == "" {
		t.Errorf("severity = %v, want a CVSS_V4 vector", bare.rec.Severity)
	}
	// NVD publishes baseScore 6.9 and baseSeverity MEDIUM for this vector.
	if got := ScoreVector(v4); got.Score == nil || *got.Score != 6.9 || got.Rating != "MEDIUM" {
		t.Errorf("ScoreVector(%q) = %s, want 6.9 MEDIUM as NVD publishes", v4, describeRating(got))
	}
	// The record has a CVSS v3.1 vector too, which is preferred.
	if got := bare.rec.SeverityRating(); got.Score == nil || *got.Score != 9.8 || got.CVSSVersion != "3.1" {
		t.Errorf("SeverityRating = %s, want 9.8 from CVSS 3.1", describeRating(got))
	}
	if bare.rec.Published != "2024-06-07T10:15:12.293Z" {
		t.Errorf("published = %q, want UTC RFC 3339", bare.rec.Published)
	}
}

func TestReadMalformedRecordsGoOn(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.json", `{"id":"GHSA-aaaa-bbbb-cccc","modified":"2024-01-01T00:00:00Z"}`)
	writeFile(t, dir, "b.json", `{"id":"X-1","modified":"yesterday"}`)
	writeFile(t, dir, "c.json", `{not json`)
	writeFile(t, dir, "d.json", `{"id":"X-2","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`)
	srcs, rejected := readAll(t, Feed{Kind: FeedOSV, Path: dir})
	if len(srcs) != 1 {
		t.Errorf("records = %d, want 1", len(srcs))
	}
	reasons := map[string]bool{}
	for _, e := range rejected {
		reasons[e.Reason] = true
		if !errors.Is(e, errdef.ErrInvalidRecord) {
			t.Errorf("%v does not wrap ErrInvalidRecord", e)
		}
	}
	for _, r := range []string{"invalid-time", "invalid-json", "invalid-range"} {
		if !reasons[r] {
			t.Errorf("no rejection with reason %s in %v", r, rejected)
		}
	}
	for _, e := range rejected {
		if e.Reason == "invalid-time" && (!strings.Contains(e.Error(), "b.json") || e.Record != "X-1") {
			t.Errorf("rejection %q does not name b.json and X-1", e)
		}
	}
}

func TestReadNVDBadEntryInPage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "page.json", `{"vulnerabilities":[{"cve":{"id":"CVE-2020-0001","lastModified":"2020-01-01T00:00:00"}},{"cve":{"id":"CVE-2020-0002","lastModified":"bad"}},{"cve":{"id":"GHSA-x","lastModified":"2020-01-01T00:00:00"}}]}`)
	srcs, rejected := readAll(t, Feed{Kind: FeedNVD, Path: dir})
	if len(srcs) != 1 || srcs[0].rec.ID != "CVE-2020-0001" {
		t.Errorf("records = %v, want CVE-2020-0001 only", srcs)
	}
	if len(rejected) != 2 {
		t.Fatalf("rejections = %v, want 2", rejected)
	}
	if rejected[0].Record != "CVE-2020-0002" || rejected[1].Reason != "not-cve" {
		t.Errorf("rejections = %v", rejected)
	}
}

func TestRegionalFeedTagged(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "BDU-2024-1.json", `{"id":"BDU-2024-1","modified":"2024-01-01T00:00:00Z","summary":"Уязвимость","aliases":["CVE-2021-23337"]}`)
	srcs, _ := readAll(t, Feed{Kind: FeedRegional, Name: "fstec-bdu", Path: dir})
	if len(srcs) != 1 || srcs[0].catalogue != "fstec-bdu" || srcs[0].feed != FeedRegional {
		t.Fatalf("regional records = %+v, want one tagged fstec-bdu", srcs)
	}
	if err := (Feed{Kind: FeedRegional, Path: dir}).Validate(); err == nil {
		t.Error("regional feed without a name passed validation")
	}
}

func TestReadFolderFollowsLinks(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, outside, "B-1.json", `{"id":"B-1","modified":"2024-01-01T00:00:00Z"}`)
	other := t.TempDir()
	linked := writeFile(t, other, "A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z"}`)
	dir := t.TempDir()
	writeFile(t, dir, "C-1.json", `{"id":"C-1","modified":"2024-01-01T00:00:00Z"}`)
	links := map[string]string{
		"a.json":         linked,                             // a file outside the feed
		"again.json":     filepath.Join(dir, "C-1.json"),     // a file read already
		"sub":            outside,                            // a folder outside the feed
		"sub2":           outside,                            // the same folder again
		"loop":           dir,                                // the feed itself
		"missing.json":   filepath.Join(dir, "nothing.json"), // no target
		".hidden-folder": outside,
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Skipf("symbolic links are not supported here: %v", err)
		}
	}

	// A relative feed path must be recognised as the target of "loop".
	t.Chdir(filepath.Dir(dir))
	srcs, rejected := readAll(t, Feed{Kind: FeedOSV, Path: filepath.Base(dir)})

	var ids []string
	for _, s := range srcs {
		ids = append(ids, s.rec.ID)
	}
	slices.Sort(ids)
	if got := strings.Join(ids, ","); got != "A-1,B-1,C-1" {
		t.Errorf("records read = %s, want A-1,B-1,C-1, each once", got)
	}

	if len(rejected) != 1 {
		t.Fatalf("rejections = %v, want one for the broken link", rejected)
	}
	if rejected[0].Reason != "broken-link" {
		t.Errorf("reason = %q, want broken-link", rejected[0].Reason)
	}
	if !strings.Contains(rejected[0].Error(), "missing.json") {
		t.Errorf("rejection %q does not name missing.json", rejected[0])
	}
}

func TestReadRejectsOtherFeedKind(t *testing.T) {
	osvRecord := `{"id":"CVE-2030-0001","modified":"2030-01-01T00:00:00Z",` +
		`"affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`
	bareCVE := `{"id":"CVE-2030-0001","published":"2030-01-01T00:00:00","lastModified":"2030-01-02T00:00:00",` +
		`"descriptions":[{"lang":"en","value":"x"}]}`
	cases := []struct {
		name, kind, content, want string
	}{
		{"OSV record as nvd", FeedNVD, osvRecord, `OSV JSON (it has "affected")`},
		{"OSV array as nvd", FeedNVD, "[" + osvRecord + "]", "OSV JSON (an array of records"},
		{"schema_version as nvd", FeedNVD, `{"schema_version":"1.6.0","id":"X-1"}`, `it has "schema_version"`},
		{"NVD page as osv", FeedOSV, nvdLodash, `NVD CVE API 2.0 JSON (it has "vulnerabilities")`},
		{"NVD wrapper as ghsa", FeedGHSA, `{"cve":` + bareCVE + `}`, `NVD CVE API 2.0 JSON (it has "cve")`},
		{"bare NVD cve as osv", FeedOSV, bareCVE, `NVD CVE API 2.0 JSON (it has "lastModified")`},
		{"NVD 1.1 feed as osv", FeedOSV, `{"CVE_data_type":"CVE","CVE_Items":[]}`, "NVD JSON 1.1 data feed"},
	}
	for _, c := range cases {
		path := writeFile(t, t.TempDir(), "x.json", c.content)
		srcs, rejected := readAll(t, Feed{Kind: c.kind, Name: "n", Path: path})
		if len(srcs) != 0 {
			t.Errorf("%s: accepted %d records, want none", c.name, len(srcs))
		}
		if len(rejected) != 1 {
			t.Errorf("%s: rejections = %v, want 1", c.name, rejected)
			continue
		}
		msg := rejected[0].Error()
		if rejected[0].Reason != "wrong-feed-kind" {
			t.Errorf("%s: reason = %q, want wrong-feed-kind", c.name, rejected[0].Reason)
		}
		if !strings.Contains(msg, path) {
			t.Errorf("%s: rejection %q does not name the file", c.name, msg)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: rejection %q does not contain %q", c.name, msg, c.want)
		}
		wantKind := "--feed osv=PATH"
		if c.kind != FeedNVD {
			wantKind = "--feed nvd=PATH"
		}
		if !strings.Contains(msg, wantKind) {
			t.Errorf("%s: rejection %q does not name %s", c.name, msg, wantKind)
		}
	}
}

func TestReadRejectsNVD11FeedAsNVD(t *testing.T) {
	content := `{"CVE_data_type":"CVE","CVE_data_format":"MITRE","CVE_data_version":"4.0",` +
		`"CVE_Items":[{"cve":{"CVE_data_meta":{"ID":"CVE-2030-0001"}},"lastModifiedDate":"2030-01-01T00:00Z"}]}`
	path := writeFile(t, t.TempDir(), "nvdcve-1.1-2030.json", content)
	srcs, rejected := readAll(t, Feed{Kind: FeedNVD, Path: path})
	if len(srcs) != 0 {
		t.Errorf("accepted %d records, want none", len(srcs))
	}
	if len(rejected) != 1 {
		t.Fatalf("rejections = %v, want 1", rejected)
	}
	if rejected[0].Reason != reasonWrongKind {
		t.Errorf("reason = %q, want %s", rejected[0].Reason, reasonWrongKind)
	}
	msg := rejected[0].Error()
	for _, want := range []string{path, "NVD JSON 1.1 data feed", "CVE API 2.0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rejection %q does not contain %q", msg, want)
		}
	}
}

// TestReadFolderSkipsLinkToParent checks that a link to a folder holding
// the feed folder does not pull the feed's neighbours into the feed.
func TestReadFolderSkipsLinkToParent(t *testing.T) {
	parent := t.TempDir()
	feed := filepath.Join(parent, "feed")
	neighbour := filepath.Join(parent, "other")
	for _, d := range []string{feed, neighbour} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, feed, "C-1.json", `{"id":"C-1","modified":"2024-01-01T00:00:00Z"}`)
	writeFile(t, neighbour, "N-1.json", `{"id":"N-1","modified":"2024-01-01T00:00:00Z"}`)
	if err := os.Symlink("..", filepath.Join(feed, "up")); err != nil {
		t.Skipf("symbolic links are not supported here: %v", err)
	}
	srcs, _ := readAll(t, Feed{Kind: FeedOSV, Path: feed})
	if len(srcs) != 1 || srcs[0].rec.ID != "C-1" {
		var ids []string
		for _, s := range srcs {
			ids = append(ids, s.rec.ID)
		}
		t.Errorf("records read = %v, want C-1 only", ids)
	}
}

func TestParseOSVRecordNamesJSONField(t *testing.T) {
	_, err := parseOSVRecord("x.json", "", []byte(`{"id":"X-1","modified":"2026-01-01T00:00:00Z","aliases":5}`))
	if err == nil {
		t.Fatal("a record whose aliases are a number parsed")
	}
	msg := err.Error()
	if !strings.Contains(msg, `field "aliases" is a JSON number`) || strings.Contains(msg, "Go struct") {
		t.Errorf("error %q does not name the field and its JSON type in the record's terms", msg)
	}
}

func TestValidateCatalogueName(t *testing.T) {
	for name, valid := range map[string]bool{
		"demo-cert": true, "CERT.bund_2": true, "9cert": true, strings.Repeat("a", 64): true,
		"": false, "Cert X": false, "x/../y": false, ".hidden": false, "-dash": false,
		strings.Repeat("a", 65): false, "cert\x1b[2J": false,
	} {
		if err := ValidateCatalogueName(name); (err == nil) != valid {
			t.Errorf("ValidateCatalogueName(%q) = %v, want valid %v", name, err, valid)
		}
	}
	err := Feed{Kind: FeedRegional, Name: "x/y", Path: "feeds"}.Validate()
	if !errors.Is(err, errdef.ErrInvalidRecord) {
		t.Errorf("Validate of a regional feed named x/y = %v, want an invalid record", err)
	}
}

// A feed file saved with a UTF-8 byte order mark, as some Windows tools
// write one, is read like the same file without it.
func TestReadSkipsByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "osv.json", "\xef\xbb\xbf"+`{"id":"DEMO-1","modified":"2030-01-01T00:00:00Z"}`)
	writeFile(t, dir, "nvd.json", "\xef\xbb\xbf"+`{"cve":{"id":"CVE-2030-0001","lastModified":"2030-01-01T00:00:00"}}`)
	for _, c := range []struct{ kind, file, id string }{
		{FeedOSV, "osv.json", "DEMO-1"},
		{FeedNVD, "nvd.json", "CVE-2030-0001"},
	} {
		srcs, rejected := readAll(t, Feed{Kind: c.kind, Path: filepath.Join(dir, c.file)})
		if len(rejected) != 0 {
			t.Errorf("%s feed: rejected %v", c.kind, rejected)
		}
		if len(srcs) != 1 || srcs[0].rec.ID != c.id {
			t.Errorf("%s feed: read %d records, want %s", c.kind, len(srcs), c.id)
		}
	}
}

// An advisory of the GitHub REST API has a "vulnerabilities" list like an
// NVD page, but it is neither NVD nor OSV JSON, so the rejection must not
// send the operator to the nvd feed.
func TestReadRejectsGitHubRESTAdvisory(t *testing.T) {
	advisory := `{"ghsa_id":"GHSA-2030-0001","cve_id":"CVE-2030-0001","summary":"x","type":"reviewed",` +
		`"published_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-02T00:00:00Z",` +
		`"vulnerabilities":[{"package":{"ecosystem":"npm","name":"a"},"vulnerable_version_range":"< 1.0.1",` +
		`"first_patched_version":"1.0.1"}]}`
	for _, c := range []struct{ kind, content string }{
		{FeedGHSA, advisory},
		{FeedGHSA, "[" + advisory + "]"},
		{FeedNVD, advisory},
	} {
		path := writeFile(t, t.TempDir(), "advisory.json", c.content)
		srcs, rejected := readAll(t, Feed{Kind: c.kind, Path: path})
		if len(srcs) != 0 {
			t.Errorf("%s feed %s: accepted %d records, want none", c.kind, c.content[:1], len(srcs))
		}
		if len(rejected) != 1 {
			t.Errorf("%s feed %s: rejections = %v, want 1", c.kind, c.content[:1], rejected)
			continue
		}
		msg := rejected[0].Error()
		for _, want := range []string{path, `GitHub REST API advisory (it has "ghsa_id")`, "github/advisory-database",
			"--feed ghsa=PATH"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s feed %s: rejection %q does not contain %q", c.kind, c.content[:1], msg, want)
			}
		}
		if strings.Contains(msg, "--feed nvd=PATH") {
			t.Errorf("%s feed %s: rejection %q sends the operator to the nvd feed", c.kind, c.content[:1], msg)
		}
	}
}

// A zip feed that is damaged or cut short, as by a broken download, stops
// the build, because skipping the entries it cannot read would drop their
// records, and a --base build would remove them from every site.
func TestReadDamagedZipStops(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, id := range []string{"A-1", "B-1"} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: id + ".json", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(`{"id":"` + id + `","modified":"2030-01-01T00:00:00Z"}`))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	at := bytes.LastIndex(whole, []byte(`"B-1"`))
	damaged := bytes.Clone(whole)
	damaged[at+3] = '2'
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"damaged entry", "all.zip!B-1.json", damaged},
		{"cut short", "all.zip", whole[:len(whole)-30]},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "all.zip")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		fr := &feedReader{feed: Feed{Kind: FeedOSV, Path: path},
			emit: func(source) {}, reject: func(e *RecordError) { t.Errorf("%s: rejected %v", c.name, e) }}
		err := fr.read(context.Background())
		if err == nil {
			t.Errorf("%s: the feed was read without an error", c.name)
			continue
		}
		for _, want := range []string{c.want, "download it again"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, want)
			}
		}
	}
}

// A response of the OSV API lists records under "vulns" (a query) or
// "results" (a batch query), and batch results hold only IDs. Such a file
// is rejected with the form to use, not as a record without an ID.
func TestReadRejectsOSVAPIResponse(t *testing.T) {
	record := `{"id":"GHSA-2030-0001","modified":"2030-01-01T00:00:00Z"}`
	for _, c := range []struct{ name, kind, content, key string }{
		{"query", FeedOSV, `{"vulns":[` + record + `]}`, "vulns"},
		{"batch query", FeedOSV, `{"results":[{"vulns":[{"id":"GHSA-2030-0001","modified":"2030-01-01T00:00:00Z"}]}]}`, "results"},
		{"query as nvd", FeedNVD, `{"vulns":[` + record + `]}`, "vulns"},
	} {
		path := writeFile(t, t.TempDir(), "response.json", c.content)
		srcs, rejected := readAll(t, Feed{Kind: c.kind, Path: path})
		if len(srcs) != 0 {
			t.Errorf("%s: accepted %d records, want none", c.name, len(srcs))
		}
		if len(rejected) != 1 {
			t.Errorf("%s: rejections = %v, want 1", c.name, rejected)
			continue
		}
		if rejected[0].Reason != reasonWrongKind {
			t.Errorf("%s: reason = %q, want %s", c.name, rejected[0].Reason, reasonWrongKind)
		}
		msg := rejected[0].Error()
		for _, want := range []string{path, fmt.Sprintf(`OSV API response (it has %q)`, c.key), "all.zip"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: rejection %q does not contain %q", c.name, msg, want)
			}
		}
	}
}
