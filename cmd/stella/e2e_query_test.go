package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookupMalformedQueryExitsUsage(t *testing.T) {
	e, _ := scanEnv(t)
	cases := []struct {
		flag, value, want string
	}{
		{"--purl", "notapurl", "pkg:TYPE/NAMESPACE/NAME@VERSION"},
		{"--purl", "pkg:npm/lodash@", "empty version"},
		{"--purl", "pkg:npm/lodash@4.17.20@x", "more than one"},
		{"--purl", "pkg:npm/nonexistent-pkg@not.a.version", "not a valid npm version"},
		{"--purl", "pkg:foobar/thing@1.0", "supported types are apk, bitnami"},
		{"--purl", "pkg:deb/thing@1.0", "pkg:deb/debian/NAME@VERSION"},
		{"--cpe", "cpe:2.3:x:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*", `part "x"`},
		{"--cpe", "cpe:2.3:a:webm project:libwebp:1.3.1:*:*:*:*:*:*:*", "attribute vendor"},
	}
	for _, c := range cases {
		r := e.run("db", "lookup", c.flag, c.value)
		if r.code != exitUsage {
			t.Errorf("%s %s: exit %d, want %d\n%s", c.flag, c.value, r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s %s: error lacks %q:\n%s", c.flag, c.value, c.want, r.stderr)
		}
		if strings.Contains(r.stderr, "invalid record") {
			t.Errorf("%s %s: error still says invalid record:\n%s", c.flag, c.value, r.stderr)
		}
	}
}

func TestLookupVerboseLogsSteps(t *testing.T) {
	e, _ := scanEnv(t)
	r := e.run("-v", "db", "lookup", "--purl", "pkg:npm/stella-demo-untar@2.3.0")
	if r.code != 0 {
		t.Fatalf("lookup: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`msg="opened DB"`, "layers=", `msg="looked up records"`, "duration="} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v lookup log lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestBuildVerboseLogsSteps(t *testing.T) {
	e := newEnv(t)
	r := e.run("-v", "ouk", "build", "-o", filepath.Join(e.dir, "kit.tar"), "--key", e.key,
		"--feed", "osv="+fixtureFeed(t, "osv"))
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`msg="read feed" feed=osv`, "records=2", `msg="wrote DB layers"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v build log lacks %q:\n%s", want, r.stderr)
		}
	}
}

// writeTestFile writes content to name in the env's folder and returns the path.
func (e *env) writeTestFile(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestScanEmptySBOMWarnsAndSkipsQuota(t *testing.T) {
	e, _ := scanEnv(t)
	empty := e.writeTestFile("empty.spdx.json", `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0",
"SPDXID":"SPDXRef-DOCUMENT","name":"empty","documentNamespace":"https://spdx.example.test/empty",
"creationInfo":{"created":"2026-12-01T00:00:00Z","creators":["Tool: hand-written"]},"packages":[]}`)
	rep, r := e.scan(empty)
	if !strings.Contains(r.stderr, "lists no packages") {
		t.Errorf("scan of an SBOM without packages printed no warning:\n%s", r.stderr)
	}
	if rep.Quota != nil {
		t.Errorf("scan of an SBOM without packages was counted: %+v", rep.Quota)
	}
	out := e.must("quota", "status", "-o", "json", "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(out, `"count": 0`) {
		t.Errorf("quota after a scan without packages:\n%s", out)
	}
}

func TestScanNotesUnusablePURL(t *testing.T) {
	e, _ := scanEnv(t)
	bom := e.writeTestFile("badpurl.cdx.json", `{"bomFormat":"CycloneDX","specVersion":"1.4","version":1,
"components":[
 {"type":"library","name":"libwebp","version":"1.3.1","purl":"pkg:generic/libwebp@1.3.1",
  "cpe":"cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*"},
 {"type":"library","name":"vendored-blob"}
]}`)
	rep, _ := e.scan(bom)
	if len(rep.Notes) != 1 || rep.Notes[0].Package != "libwebp" ||
		!strings.Contains(rep.Notes[0].Note, `type "generic" has no OSV ecosystem`) {
		t.Errorf("notes = %+v, want one for the generic purl of libwebp", rep.Notes)
	}
	for _, s := range rep.Skipped {
		if strings.Contains(s.Reason, "invalid record") {
			t.Errorf("skip reason %q says invalid record", s.Reason)
		}
	}

	out := e.must("scan", "--sbom", bom, "--env-file", filepath.Join(e.dir, "none.env"))
	for _, want := range []string{"Scanned 2 packages", "note: libwebp 1.3.1: purl", "skipped vendored-blob: no purl"} {
		if !strings.Contains(out, want) {
			t.Errorf("text scan output lacks %q:\n%s", want, out)
		}
	}
}

func TestScanSummarySingular(t *testing.T) {
	e, _ := scanEnv(t)
	bom := e.writeTestFile("one.cdx.json", `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
"components":[{"type":"library","name":"x","version":"1","purl":"pkg:npm/x@1.0.0"}]}`)
	out := e.must("scan", "--sbom", bom, "--env-file", filepath.Join(e.dir, "none.env"))
	if !strings.Contains(out, "Scanned 1 package of") {
		t.Errorf("summary of a one-package scan:\n%s", out)
	}
}

func TestScanSBOMFolderMessage(t *testing.T) {
	e, _ := scanEnv(t)
	r := e.run("scan", "--sbom", e.dir, "--env-file", filepath.Join(e.dir, "none.env"))
	if r.code == 0 {
		t.Fatal("scan of a folder succeeded")
	}
	if !strings.Contains(r.stderr, "is a folder") || strings.Contains(r.stderr, "reading SBOM") {
		t.Errorf("folder error:\n%s", r.stderr)
	}
}
