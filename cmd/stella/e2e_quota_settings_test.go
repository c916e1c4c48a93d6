package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/quota"
)

// TestScanUnreadableSettings checks that a user who may not read the
// store's config.yaml still scans, under the default quota settings, with
// a warning that names the file and the fix.
func TestScanUnreadableSettings(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running stella as a user who may not read config.yaml needs root")
	}
	e, sbom := scanEnv(t)
	e.letOthersReadStore()
	if err := os.Chmod(sbom, 0o644); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(e.store, configFile)
	if err := os.WriteFile(settings, []byte("quota:\n  anonymousLimit: 5\n"), 0o000); err != nil {
		t.Fatal(err)
	}

	noToken := filepath.Join(e.dir, "none.env")
	for _, args := range [][]string{
		{"scan", "--sbom", sbom, "-o", "json", "--env-file", noToken},
		{"quota", "status", "-o", "json", "--env-file", noToken},
	} {
		label := strings.Join(args[:2], " ")
		r := e.runUnprivileged(args...)
		if r.code != 0 {
			t.Errorf("%s with an unreadable config.yaml: exit %d, want 0\n%s", label, r.code, r.stderr)
			continue
		}
		for _, want := range []string{"warning: settings file " + settings, "permission denied", "chmod 0644 " + settings,
			"default settings"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s with an unreadable config.yaml: stderr %q, want %q", label, r.stderr, want)
			}
		}
		var out struct {
			Quota *quota.State `json:"quota"`
			Limit int          `json:"limit"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%s: decoding output: %v\n%s", label, err, r.stdout)
		}
		limit := out.Limit
		if out.Quota != nil {
			limit = out.Quota.Limit
		}
		if limit != quota.DefaultAnonymousLimit {
			t.Errorf("%s with an unreadable config.yaml: limit %d, want the default %d", label, limit, quota.DefaultAnonymousLimit)
		}
	}
}

// TestScanSettingsFolder checks that a folder in place of config.yaml
// leaves scans working under the default quota settings, with a warning.
func TestScanSettingsFolder(t *testing.T) {
	e, sbom := scanEnv(t)
	settings := filepath.Join(e.store, configFile)
	if err := os.Mkdir(settings, 0o755); err != nil {
		t.Fatal(err)
	}
	rep, r := e.scan(sbom)
	if rep.Quota == nil || rep.Quota.Limit != quota.DefaultAnonymousLimit {
		t.Errorf("scan with a folder as config.yaml: quota %+v, want the default limit", rep.Quota)
	}
	if want := "settings file " + settings + " is a folder"; !strings.Contains(r.stderr, want) {
		t.Errorf("scan with a folder as config.yaml: stderr %q, want %q", r.stderr, want)
	}
	if r := e.run("-q", "scan", "--sbom", sbom, "--env-file", filepath.Join(e.dir, "none.env")); r.code != 0 || r.stderr != "" {
		t.Errorf("quiet scan with a folder as config.yaml: exit %d, stderr %q, want 0 and nothing", r.code, r.stderr)
	}
}
