package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPossiblyAffectedShown checks that a record whose range holds a
// version its ecosystem cannot parse is counted by the build and marked
// in lookup text and scan output, not shown as a plain finding.
func TestPossiblyAffectedShown(t *testing.T) {
	e := newEnv(t)
	feed := filepath.Join(e.dir, "feed")
	if err := os.Mkdir(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := `{"id":"W-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"wp1"},` +
		`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`
	if err := os.WriteFile(filepath.Join(feed, "W-1.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(e.dir, "kit.tar")
	out := e.must("ouk", "build", "-o", kit, "--feed", "osv="+feed, "--key", e.key)
	if !strings.Contains(out, "Kept with warnings: unparsed-range-version 1") {
		t.Errorf("build summary does not count the record:\n%s", out)
	}
	e.importJSON(kit)
	if text := e.must("db", "lookup", "--purl", "pkg:npm/wp1@2.5.0"); !strings.Contains(text, "possibly   affected: ") {
		t.Errorf("lookup text does not mark the record:\n%s", text)
	}
	sbom := filepath.Join(e.dir, "bom.json")
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"wp1","version":"2.5.0","purl":"pkg:npm/wp1@2.5.0"}]}`
	if err := os.WriteFile(sbom, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.scan(sbom)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].PossiblyAffected, `"2.0"`) {
		t.Errorf("scan findings %+v, want W-1 marked possibly affected", rep.Findings)
	}
	raw, _ := json.Marshal(rep.Findings)
	if !strings.Contains(string(raw), `"possiblyAffected"`) {
		t.Errorf("scan JSON lacks possiblyAffected: %s", raw)
	}
}
