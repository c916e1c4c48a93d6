package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// osvFeed is a folder of written OSV records, read as a ghsa feed next to
// the fixture feeds that buildKit passes.
type osvFeed struct {
	t   *testing.T
	dir string
}

func newOSVFeed(e *env) osvFeed {
	dir := filepath.Join(e.dir, "ghsa")
	if err := os.Mkdir(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return osvFeed{t: e.t, dir: dir}
}

// add writes a record with the given affected entries.
func (f osvFeed) add(id string, affected ...map[string]any) {
	writeJSONFile(f.t, filepath.Join(f.dir, id+".json"), map[string]any{
		"schema_version": "1.6.0", "id": id, "modified": "2026-01-01T00:00:00Z",
		"summary": "a written record", "affected": affected,
	})
}

// importKit builds a kit from the fixture feeds and f, and imports it.
func (f osvFeed) importKit(e *env) {
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar", "--feed", "ghsa="+f.dir))
}

// npmEntry is an affected entry of an npm package with one range of the
// given type and events, each written as {"kind": "version"}.
func npmEntry(name, rangeType string, events ...map[string]string) map[string]any {
	return map[string]any{
		"package": map[string]string{"ecosystem": "npm", "name": name},
		"ranges":  []map[string]any{{"type": rangeType, "events": events}},
	}
}

func event(kind, version string) map[string]string { return map[string]string{kind: version} }

// TestLookupLimitEvents checks db lookup against ranges with limit events:
// a version is affected only below one of the limits, and a limit is no
// fixed version. The text output shows the limits, events in version order
// and what an entry without ranges or versions matches.
func TestLookupLimitEvents(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-limit-0001", npmEntry("stella-limit-multi", "SEMVER",
		event("introduced", "1.0.0"), event("limit", "2.0.0"), event("limit", "3.0.0")))
	feed.add("GHSA-test-limit-0002", npmEntry("stella-limit-before", "SEMVER",
		event("introduced", "0"), event("limit", "1.0.0"), event("introduced", "2.0.0")))
	feed.add("GHSA-test-limit-0003", npmEntry("stella-limit-star", "ECOSYSTEM",
		event("introduced", "1.0.0"), event("limit", "*")))
	feed.add("GHSA-test-limit-0004", npmEntry("stella-unsorted", "SEMVER",
		event("fixed", "2.0.0"), event("introduced", "1.0.0"), event("fixed", "4.0.0"), event("introduced", "3.0.0")))
	feed.add("GHSA-test-limit-0005", map[string]any{
		"package": map[string]string{"ecosystem": "npm", "name": "stella-norange"}})
	feed.importKit(e)

	affects := map[string]string{
		"GHSA-test-limit-0001": "npm/stella-limit-multi >=1.0.0 (limits <2.0.0, <3.0.0)",
		"GHSA-test-limit-0002": "npm/stella-limit-before all versions (limit <1.0.0)",
		"GHSA-test-limit-0004": "npm/stella-unsorted >=1.0.0 <2.0.0, >=3.0.0 <4.0.0",
		"GHSA-test-limit-0005": "npm/stella-norange (no ranges or versions: only a lookup without a version matches)",
	}
	for id, want := range affects {
		if out := e.must("db", "lookup", id); !strings.Contains(out, "  affects    "+want+"\n") {
			t.Errorf("db lookup %s prints\n%s\nwant the line: affects    %s", id, out, want)
		}
	}

	cases := []struct {
		purl string
		want []string
	}{
		{"pkg:npm/stella-unsorted@2.5.0", []string{}},
		{"pkg:npm/stella-unsorted@3.5.0", []string{"GHSA-test-limit-0004"}},
		{"pkg:npm/stella-norange@1.0.0", []string{}},
		{"pkg:npm/stella-norange", []string{"GHSA-test-limit-0005"}},
		{"pkg:npm/stella-limit-multi@2.5.0", []string{"GHSA-test-limit-0001"}},
		{"pkg:npm/stella-limit-multi@3.0.0", []string{}},
		{"pkg:npm/stella-limit-before@0.5.0", []string{"GHSA-test-limit-0002"}},
		{"pkg:npm/stella-limit-before@2.5.0", []string{}},
		{"pkg:npm/stella-limit-star@9.0.0", []string{"GHSA-test-limit-0003"}},
	}
	for _, c := range cases {
		recs := e.lookupJSON("--purl", c.purl)
		if got := recordIDs(recs); !slices.Equal(got, c.want) {
			t.Errorf("db lookup --purl %s = %v, want %v", c.purl, got, c.want)
		}
		for _, r := range recs {
			if p := r.PossiblyAffected(); p != "" {
				t.Errorf("db lookup --purl %s: %s is possibly affected (%s), want confirmed", c.purl, r.ID, p)
			}
		}
	}
}

// TestLookupListedVersionEquality checks that db lookup matches a versions
// list by the ecosystem's version equality, not only by equal text.
func TestLookupListedVersionEquality(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-list-0001", map[string]any{
		"package":  map[string]string{"ecosystem": "PyPI", "name": "stella-listed"},
		"versions": []string{"0.0.1"},
	})
	feed.add("GHSA-test-list-0002", map[string]any{
		"package":  map[string]string{"ecosystem": "npm", "name": "stella-listed-v"},
		"versions": []string{"v2.0.0"},
	})
	feed.importKit(e)

	cases := []struct {
		purl string
		want []string
	}{
		{"pkg:pypi/stella-listed@0.0.01", []string{"GHSA-test-list-0001"}},
		{"pkg:pypi/stella-listed@v0.0.1", []string{"GHSA-test-list-0001"}},
		{"pkg:pypi/stella-listed@0.0.1.0", []string{"GHSA-test-list-0001"}},
		{"pkg:pypi/stella-listed@0.0.2", []string{}},
		{"pkg:npm/stella-listed-v@2.0.0", []string{"GHSA-test-list-0002"}},
		{"pkg:npm/stella-listed-v@2.0.1", []string{}},
	}
	for _, c := range cases {
		if got := recordIDs(e.lookupJSON("--purl", c.purl)); !slices.Equal(got, c.want) {
			t.Errorf("db lookup --purl %s = %v, want %v", c.purl, got, c.want)
		}
	}
}

// TestLookupJSONWithoutPackage checks that db lookup -o json leaves out the
// package of an affected entry that has none, as the OSV schema requires,
// rather than writing one with an empty ecosystem and name.
func TestLookupJSONWithoutPackage(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-nopkg-0001",
		npmEntry("stella-nopkg", "SEMVER", event("introduced", "0"), event("fixed", "1.0.0")),
		map[string]any{"ranges": []map[string]any{{"type": "GIT", "repo": "https://git.example.test/nopkg",
			"events": []map[string]string{event("introduced", "0"), event("fixed", "0123abcd")}}}})
	feed.importKit(e)

	out := e.must("db", "lookup", "-o", "json", "GHSA-test-nopkg-0001")
	var recs []struct {
		Affected []map[string]json.RawMessage `json:"affected"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("decoding db lookup output: %v\n%s", err, out)
	}
	if len(recs) != 1 || len(recs[0].Affected) != 2 {
		t.Fatalf("db lookup output has no record with two affected entries:\n%s", out)
	}
	// The merge sorts the entries, so each is identified by its range type.
	for _, a := range recs[0].Affected {
		p, hasPackage := a["package"]
		isGIT := strings.Contains(string(a["ranges"]), `"GIT"`)
		switch {
		case isGIT && hasPackage:
			t.Errorf("the GIT entry without a package is written with package %s", p)
		case !isGIT && !hasPackage:
			t.Errorf("the npm entry has no package:\n%s", out)
		}
	}
}

// TestLookupTextWithoutPackage checks that the text of db lookup names an
// affected entry without a package as such, rather than as a bare "/".
func TestLookupTextWithoutPackage(t *testing.T) {
	e := newEnv(t)
	feed := newOSVFeed(e)
	feed.add("GHSA-test-nopkg-0002",
		map[string]any{"ranges": []map[string]any{{"type": "GIT", "repo": "https://git.example.test/nopkg",
			"events": []map[string]string{event("introduced", "0"), event("fixed", "0123abcd")}}}})
	feed.importKit(e)

	out := e.must("db", "lookup", "GHSA-test-nopkg-0002")
	want := "  affects    (no package) (1 GIT commit range only, not used for version matching)\n"
	if !strings.Contains(out, want) {
		t.Errorf("db lookup prints\n%s\nwant the line:\n%s", out, want)
	}
}
