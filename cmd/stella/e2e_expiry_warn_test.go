package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// expiredKitEnv returns an environment whose active kit, version 1.0.0,
// expired one hour after 2001-09-09T01:46:40Z, and an SBOM to scan.
func expiredKitEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	kit := e.buildKit("expired.tar", "--version", "1.0.0", "--expires", "1h")
	e.must("ouk", "import", "--key", e.pub, "--allow-expired", kit)
	sbom := filepath.Join(e.dir, "app.spdx.json")
	if err := os.WriteFile(sbom, []byte(demoSBOM), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, sbom
}

const expiryWarning = "warning: the active kit 1.0.0 expired at 2001-09-09T02:46:40Z"

func TestExpiredKitWarnsOnce(t *testing.T) {
	e, sbom := expiredKitEnv(t)
	noQuota := filepath.Join(e.dir, "none.env")
	for _, args := range [][]string{
		{"db", "status"},
		{"db", "status", "-o", "json"},
		{"db", "lookup", "STELLA-DEMO-2026-0001"},
		{"db", "lookup", "--purl", "pkg:npm/lodash@4.17.20", "-o", "json"},
		{"scan", "--sbom", sbom, "--env-file", noQuota},
		{"scan", "--sbom", sbom, "--env-file", noQuota, "-o", "json"},
	} {
		r := e.run(args...)
		name := strings.Join(args[:2], " ")
		if r.code != 0 {
			t.Errorf("%s: exit %d: %s", name, r.code, r.stderr)
			continue
		}
		if n := strings.Count(r.stderr, expiryWarning); n != 1 {
			t.Errorf("%s: stderr has the expiry warning %d times, want once:\n%s", name, n, r.stderr)
		}
		if !strings.Contains(r.stderr, "import a newer kit") {
			t.Errorf("%s: the warning does not say what to do:\n%s", name, r.stderr)
		}
		if strings.Contains(r.stdout, "warning:") {
			t.Errorf("%s: the warning went to stdout:\n%s", name, r.stdout)
		}
	}
}

func TestExpiredKitQuietHasNoWarning(t *testing.T) {
	e, _ := expiredKitEnv(t)
	r := e.run("--quiet", "db", "status")
	if r.code != 0 {
		t.Fatalf("db status: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "expired at") {
		t.Errorf("--quiet still printed the expiry warning:\n%s", r.stderr)
	}
}

func TestExpiredKitInJSON(t *testing.T) {
	e, sbom := expiredKitEnv(t)
	wantExpires := time.Date(2001, 9, 9, 2, 46, 40, 0, time.UTC)

	rep, _ := e.scan(sbom)
	if !rep.Kit.Expired {
		t.Error("scan JSON: kit.expired is false for an expired kit")
	}
	if !rep.Kit.Expires.Equal(wantExpires) {
		t.Errorf("scan JSON: kit.expires = %v, want %v", rep.Kit.Expires, wantExpires)
	}
	if rep.Kit.Version != "1.0.0" || rep.Kit.Digest == "" {
		t.Errorf("scan JSON: kit = %+v, want version 1.0.0 and a digest", rep.Kit)
	}

	raw := e.must("db", "status", "-o", "json")
	var st dbStatusReport
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("decoding db status: %v\n%s", err, raw)
	}
	if !st.Kit.Expired {
		t.Error("db status JSON: kit.expired is false for an expired kit")
	}
	if !st.Kit.Expires.Equal(wantExpires) {
		t.Errorf("db status JSON: kit.expires = %v, want %v", st.Kit.Expires, wantExpires)
	}
	if st.Records == 0 || len(st.Layers) == 0 {
		t.Errorf("db status JSON lost its DB fields: records %d, %d layers", st.Records, len(st.Layers))
	}
	// The DB fields stay at the top level, where scripts read them.
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schema", "created", "records", "ecosystems", "sources", "layers", "kit"} {
		if _, ok := top[key]; !ok {
			t.Errorf("db status JSON has no %q field:\n%s", key, raw)
		}
	}

	text := e.must("db", "status")
	if !strings.Contains(text, "Expires   2001-09-09T02:46:40Z (EXPIRED: import a newer kit)") {
		t.Errorf("db status text does not show the expiry:\n%s", text)
	}
}

func TestUnexpiredKitHasNoWarning(t *testing.T) {
	e, sbom := scanEnv(t)
	rep, r := e.scan(sbom)
	if strings.Contains(r.stderr, "expired at") {
		t.Errorf("scan of a kit that never expires warned:\n%s", r.stderr)
	}
	if rep.Kit.Expired {
		t.Error("scan JSON: kit.expired is true for a kit that never expires")
	}
	if !rep.Kit.Expires.IsZero() {
		t.Errorf("scan JSON: kit.expires = %v for a kit that never expires", rep.Kit.Expires)
	}
	if !strings.Contains(r.stdout, `"expired": false`) {
		t.Errorf("scan JSON lacks \"expired\": false:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, `"expires"`) {
		t.Errorf("scan JSON has an expiry for a kit that never expires:\n%s", r.stdout)
	}
	if text := e.must("db", "status"); !strings.Contains(text, "Expires   never") {
		t.Errorf("db status text does not say the kit never expires:\n%s", text)
	}
}

func TestInspectMarksExpiredKit(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	kit := e.buildKit("expired.tar", "--version", "1.0.0", "--expires", "1h")
	var rep inspectReport
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", kit)), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Expired {
		t.Error("inspect JSON: expired is false for an expired kit")
	}
	if text := e.must("ouk", "inspect", kit); !strings.Contains(text, "2001-09-09T02:46:40Z, EXPIRED") {
		t.Errorf("inspect text does not mark the kit expired:\n%s", text)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	fresh := e.buildKit("fresh.tar", "--version", "1.0.1", "--expires", "30d")
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", fresh)), &rep); err != nil || rep.Expired {
		t.Errorf("inspect JSON of a kit expiring in 30 days: expired %v (%v)", rep.Expired, err)
	}
}
