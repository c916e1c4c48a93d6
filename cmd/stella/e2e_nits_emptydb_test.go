package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestScanWarnsOfEmptyDB(t *testing.T) {
	e := newEnv(t)
	kit := filepath.Join(e.dir, "nf.tar.zst")
	e.must("ouk", "build", "-o", kit, "--key", e.key, "--version", "nf", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, kit)
	sbomPath := filepath.Join(e.dir, "app.spdx.json")
	writeSPDX(t, sbomPath, samplePackages)

	text := e.run("scan", "--sbom", sbomPath, "--env-file", filepath.Join(e.dir, "none.env"))
	if text.code != 0 {
		t.Fatalf("scan: exit %d\nstderr: %s", text.code, text.stderr)
	}
	if !strings.Contains(text.stderr, "has no records") {
		t.Errorf("scan stderr = %q, want a warning that the DB has no records", text.stderr)
	}

	rep, r := e.scan(sbomPath)
	if rep.DBRecords != 0 {
		t.Errorf("dbRecords = %d, want 0", rep.DBRecords)
	}
	if !strings.Contains(r.stdout, `"dbRecords": 0`) && !strings.Contains(r.stdout, `"dbRecords":0`) {
		t.Errorf("scan JSON lacks dbRecords: %s", r.stdout)
	}
}

func TestScanReportsDBRecords(t *testing.T) {
	e, _ := sampleDBEnv(t)
	sbomPath := filepath.Join(e.dir, "app.spdx.json")
	writeSPDX(t, sbomPath, samplePackages)

	rep, r := e.scan(sbomPath)
	if strings.Contains(r.stderr, "has no records") {
		t.Errorf("scan of a filled DB warned of an empty one: %s", r.stderr)
	}
	if rep.DBRecords == 0 {
		t.Error("dbRecords = 0 for a kit built from sample feeds")
	}
}
