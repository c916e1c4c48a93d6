package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/quota"
)

// writeSettings writes a config.yaml with content to a new store folder
// and returns the folder.
func writeSettings(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, configFile), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func policyFromSettings(t *testing.T, content string) (quota.Policy, error) {
	t.Helper()
	cfg, err := loadConfig(writeSettings(t, content))
	if err != nil {
		t.Fatalf("loading settings %q: %v", content, err)
	}
	return cfg.quotaPolicy()
}

func TestQuotaSettingsZeroTurnsOff(t *testing.T) {
	p, err := policyFromSettings(t, "quota:\n  reminderAt: 0\n  reminderFraction: 0\n  slowdownFraction: 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.ReminderAt != 0 {
		t.Errorf("reminderAt: 0 gave %d, want 0 (off)", p.ReminderAt)
	}
	if p.ReminderFraction != 0 {
		t.Errorf("reminderFraction: 0 gave %v, want 0 (off)", p.ReminderFraction)
	}
	if p.SlowdownFraction != 0 {
		t.Errorf("slowdownFraction: 0 gave %v, want 0 (off)", p.SlowdownFraction)
	}
	if p.AnonymousLimit != quota.DefaultAnonymousLimit || p.FreeTierLimit != quota.DefaultFreeTierLimit {
		t.Errorf("absent limits = %d and %d, want the defaults %d and %d",
			p.AnonymousLimit, p.FreeTierLimit, quota.DefaultAnonymousLimit, quota.DefaultFreeTierLimit)
	}
}

func TestQuotaSettingsAbsentKeepDefaults(t *testing.T) {
	for _, content := range []string{"", "quota:\n", "quota:\n  slowdownFraction: null\n"} {
		p, err := policyFromSettings(t, content)
		if err != nil {
			t.Errorf("settings %q: %v", content, err)
			continue
		}
		if p != quota.DefaultPolicy() {
			t.Errorf("settings %q gave %+v, want the default policy", content, p)
		}
	}
}

func TestQuotaSettingsZeroLimitRejected(t *testing.T) {
	for _, key := range []string{"anonymousLimit", "freeTierLimit"} {
		_, err := policyFromSettings(t, "quota:\n  "+key+": 0\n")
		if err == nil || !strings.Contains(err.Error(), "must be at least 1") {
			t.Errorf("%s: 0 gave error %v, want it rejected as below 1", key, err)
		}
	}
}
