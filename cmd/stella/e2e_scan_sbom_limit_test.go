package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanSBOMOverSizeLimit checks that an SBOM over the size limit exits
// with the usage code, because it is input the caller can fix and not a
// rejected kit, and that the advice names only steps that stella supports.
func TestScanSBOMOverSizeLimit(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "huge.cdx.json")
	if err := os.WriteFile(path, []byte(`{"bomFormat":"CycloneDX"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sparse file: the size check reads the file's size, not its bytes.
	if err := os.Truncate(path, 256<<20+1); err != nil {
		t.Fatal(err)
	}
	r := e.run("scan", "-o", "json", "--sbom", path)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d:\n%s", r.code, exitUsage, r.stderr)
	}
	var failure struct {
		Reason string `json:"reason"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("failure object: %v\n%s", err, r.stdout)
	}
	if failure.Reason != "invalid-argument" {
		t.Errorf("reason %q, want invalid-argument", failure.Reason)
	}
	if !strings.Contains(failure.Error, "split it into smaller SBOMs") {
		t.Errorf("error %q lacks the advice to split the SBOM", failure.Error)
	}
	if strings.Contains(failure.Error, "scan the image") {
		t.Errorf("error %q advises scanning an image, which stella scan cannot do", failure.Error)
	}
}
