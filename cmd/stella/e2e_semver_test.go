package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSemverRangeEcosystemVersion checks that db lookup and scan agree on
// PyPI versions that are not SemVer, such as post-releases, against
// SEMVER ranges. A range in PEP 440 order gives a confirmed finding or
// none, and a range version that PEP 440 cannot parse gives a finding
// marked possibly affected.
func TestSemverRangeEcosystemVersion(t *testing.T) {
	e := newEnv(t)
	ghsa := filepath.Join(e.dir, "ghsa")
	if err := os.Mkdir(ghsa, 0o755); err != nil {
		t.Fatal(err)
	}
	semverRecord := func(id, name string, events ...map[string]string) {
		writeJSONFile(t, filepath.Join(ghsa, id+".json"), map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": "2026-01-01T00:00:00Z",
			"summary": "a SEMVER range for a PyPI package",
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": "PyPI", "name": name},
				"ranges":  []map[string]any{{"type": "SEMVER", "events": events}},
			}},
		})
	}
	semverRecord("GHSA-test-post-0001", "stella-demo-post",
		map[string]string{"introduced": "1.0.0"}, map[string]string{"fixed": "1.1.0"})
	// "1.0.0-x.7.z.92" is valid SemVer but not a PEP 440 version.
	semverRecord("GHSA-test-post-0002", "stella-demo-odd",
		map[string]string{"introduced": "0"}, map[string]string{"fixed": "1.0.0-x.7.z.92"})
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar", "--feed", "ghsa="+ghsa))

	pkgs := []sbomPackage{
		{name: "stella-demo-post", version: "1.0.post1", want: []string{"GHSA-test-post-0001"}},
		{name: "stella-demo-post", version: "1.1.post1"},
		{name: "stella-demo-odd", version: "1.0.post1", want: []string{"GHSA-test-post-0002"}},
	}
	for i := range pkgs {
		pkgs[i].purl = "pkg:pypi/" + pkgs[i].name + "@" + pkgs[i].version
	}
	const oddReason = `SEMVER range version "1.0.0-x.7.z.92" is not a valid PyPI version`

	// lookups maps each purl to the record IDs that db lookup returns, each
	// with its possibly affected reason.
	lookups := map[string]map[string]string{}
	for _, p := range pkgs {
		recs := e.lookupJSON("--purl", p.purl)
		if got := recordIDs(recs); !slices.Equal(got, p.want) {
			t.Errorf("db lookup --purl %s = %v, want %v", p.purl, got, p.want)
		}
		lookups[p.purl] = map[string]string{}
		for _, r := range recs {
			lookups[p.purl][r.ID] = r.PossiblyAffected()
		}
	}
	if p := lookups[pkgs[0].purl]["GHSA-test-post-0001"]; p != "" {
		t.Errorf("db lookup: GHSA-test-post-0001 is marked possibly affected (%q), want a confirmed match", p)
	}
	if p := lookups[pkgs[2].purl]["GHSA-test-post-0002"]; !strings.Contains(p, oddReason) {
		t.Errorf("db lookup: GHSA-test-post-0002 possibly affected reason %q lacks %q", p, oddReason)
	}

	sbom := filepath.Join(e.dir, "app.cdx.json")
	writeCycloneDX(t, sbom, pkgs)
	rep, _ := e.scan(sbom)
	if len(rep.Skipped) != 0 {
		t.Errorf("scan skipped %+v, want every package scanned", rep.Skipped)
	}
	scanned := map[string]map[string]string{}
	for _, f := range rep.Findings {
		purl := "pkg:pypi/" + f.Package + "@" + f.Version
		if scanned[purl] == nil {
			scanned[purl] = map[string]string{}
		}
		scanned[purl][f.ID] = f.PossiblyAffected
	}
	for _, p := range pkgs {
		got, want := scanned[p.purl], lookups[p.purl]
		if len(got) != len(want) {
			t.Errorf("scan of %s found %v, db lookup %v", p.purl, got, want)
			continue
		}
		for id, reason := range want {
			if r, ok := got[id]; !ok || r != reason {
				t.Errorf("scan of %s: %s found %v with possiblyAffected %q; db lookup gives %q", p.purl, id, ok, r, reason)
			}
		}
	}
}
