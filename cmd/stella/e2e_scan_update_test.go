package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestScanCPEUpdateInSBOMVersion scans an SBOM whose component gives the
// OpenSSH patch in its version, "7.4p1", with a CPE of version ANY, while
// the NVD record writes the patch in the CPE update attribute.
func TestScanCPEUpdateInSBOMVersion(t *testing.T) {
	e := newEnv(t)
	nvd := filepath.Join(e.dir, "nvd")
	if err := os.Mkdir(nvd, 0o755); err != nil {
		t.Fatal(err)
	}
	page := `{"format":"NVD_CVE","version":"2.0","vulnerabilities":[` + nvdCVE("CVE-2030-0601", "openssh 7.4p1 flaw",
		`{"vulnerable":true,"criteria":"cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*"}`) + `]}`
	if err := os.WriteFile(filepath.Join(nvd, "page.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	e.importJSON(e.buildKit("kit.tar", "--feed", "nvd="+nvd))

	const anyVersion = "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*"
	cases := []struct {
		name, version, cpe string
		found              bool
	}{
		{"SBOM version in CPE of version ANY", "7.4p1", anyVersion, true},
		{"patch in CPE version", "", "cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*", true},
		{"other patch", "7.4p2", anyVersion, false},
	}
	for _, tc := range cases {
		path := filepath.Join(e.dir, "openssh.cdx.json")
		writeCycloneDX(t, path, []sbomPackage{{name: "openssh", version: tc.version, cpe: tc.cpe}})
		rep, _ := e.scan(path)
		f, ok := findingsByID(rep, "openssh")["CVE-2030-0601"]
		if ok != tc.found {
			t.Errorf("%s: CVE-2030-0601 found %v, want %v", tc.name, ok, tc.found)
		}
		if ok && f.PossiblyAffected != "" {
			t.Errorf("%s: possiblyAffected %q, want confirmed", tc.name, f.PossiblyAffected)
		}
	}
}
