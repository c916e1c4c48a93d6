package main

import (
	"errors"
	"fmt"
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
	for _, content := range []string{"", "quota:\n", "quota:\n  slowdownFraction: null\n",
		"quota:\n  anonymousLimit: ~\n", "quota:\n  anonymousLimit:\n"} {
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

// A value out of range names its line and its key as the file spells it,
// as a value of the wrong form does.
func TestQuotaSettingsRangeNamesLineAndKey(t *testing.T) {
	cases := []struct{ content, want string }{
		{"quota: {anonymousLimit: -1}\n", `line 1: key "quota.anonymousLimit" is -1, but it must be at least 1`},
		{"# site\nquota:\n  reminderAt: 5\n  reminderFraction: 1.5\n",
			`line 4: key "quota.reminderFraction" is 1.5, but it must be between 0 and 1`},
		{"quota:\n  freeTierLimit: 0\n", `line 2: key "quota.freeTierLimit" is 0, but it must be at least 1`},
		{"quota:\n  slowdownFraction: -0.5\n", `line 2: key "quota.slowdownFraction" is -0.5`},
		{"quota:\n  reminderAt: -3\n", `line 2: key "quota.reminderAt" is -3, but it must be 0 (off) or positive`},
	}
	for _, tc := range cases {
		_, err := policyFromSettings(t, tc.content)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("settings %q gave error %v, want it to contain %q", tc.content, err, tc.want)
		}
		if err != nil && !errors.Is(err, quota.ErrInvalidPolicy) {
			t.Errorf("settings %q: error %v does not wrap ErrInvalidPolicy", tc.content, err)
		}
	}
}

func TestSettingsTabIndentNamed(t *testing.T) {
	_, err := loadConfig(writeSettings(t, "quota:\n\tanonymousLimit: 5\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2 is indented with a tab") {
		t.Errorf("a tab indent gave error %v, want the line and the tab named", err)
	}
}

func TestQuotaSettingsNumberForms(t *testing.T) {
	cases := []struct {
		value string
		wants []string
	}{
		{"017", []string{`key "quota.anonymousLimit" is 017`, "plain decimal digits", "leading 0"}},
		{"0o17", []string{`is 0o17`, "plain decimal digits"}},
		{"0x1F", []string{`is 0x1F`, "plain decimal digits"}},
		{"1_000", []string{`is 1_000`, "plain decimal digits"}},
		{"99999999999999999999", []string{`is 99999999999999999999, outside the range`, "9223372036854775807"}},
		{"-99999999999999999999", []string{`is -99999999999999999999, outside the range`, "-9223372036854775808"}},
		{"1e3", []string{`is 1e3`, "decimal digits: 1000"}},
		{"40.0", []string{`is 40.0`, "decimal digits: 40"}},
		{`"40"`, []string{`is the text "40" in quotes`, "without quotes: 40"}},
		{"'40'", []string{`is the text "40" in quotes`}},
		{"2.5", []string{`is "2.5"; give a whole number`}},
	}
	for _, tc := range cases {
		dir := writeSettings(t, "quota:\n  anonymousLimit: "+tc.value+"\n")
		_, err := loadConfig(dir)
		if err == nil {
			t.Errorf("anonymousLimit: %s was accepted", tc.value)
			continue
		}
		for _, want := range tc.wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("anonymousLimit: %s: error %q, want it to contain %q", tc.value, err, want)
			}
		}
		if !strings.Contains(err.Error(), "line 2") {
			t.Errorf("anonymousLimit: %s: error %q, want the line named", tc.value, err)
		}
	}

	for _, value := range []string{`"0.5"`, "0o1"} {
		_, err := loadConfig(writeSettings(t, "quota:\n  slowdownFraction: "+value+"\n"))
		if err == nil || !strings.Contains(err.Error(), `key "quota.slowdownFraction"`) {
			t.Errorf("slowdownFraction: %s: error %v, want it rejected naming the key", value, err)
		}
	}
}

func TestQuotaSettingsDecimalNumbers(t *testing.T) {
	p, err := policyFromSettings(t, "quota:\n  anonymousLimit: 17\n  freeTierLimit: +400\n  reminderAt: 0\n"+
		"  reminderFraction: .5\n  slowdownFraction: 1e-1\n")
	if err != nil {
		t.Fatal(err)
	}
	want := quota.Policy{AnonymousLimit: 17, FreeTierLimit: 400, ReminderAt: 0, ReminderFraction: 0.5, SlowdownFraction: 0.1}
	if p != want {
		t.Errorf("policy = %+v, want %+v", p, want)
	}
}

func TestQuotaSettingsSecondDocument(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
	}{
		{"settings then keys", "quota:\n  anonymousLimit: 5\n---\nquota:\n  freeTierLimit: 50\n", 3},
		{"empty document first", "---\n---\nquota:\n  anonymousLimit: 5\n", 2},
		{"after an empty one", "quota:\n  anonymousLimit: 5\n---\n---\nquota: {}\n", 4},
	}
	for _, tc := range cases {
		_, err := loadConfig(writeSettings(t, tc.content))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if want := fmt.Sprintf("line %d: another YAML document starts here", tc.line); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.name, err, want)
		}
	}

	for _, content := range []string{"quota:\n  anonymousLimit: 5\n---\n", "---\nquota:\n  anonymousLimit: 5\n...\n",
		"quota:\n  anonymousLimit: 5\n---\n# the end\n"} {
		p, err := policyFromSettings(t, content)
		if err != nil {
			t.Errorf("settings %q: %v", content, err)
			continue
		}
		if p.AnonymousLimit != 5 {
			t.Errorf("settings %q: anonymous limit %d, want 5", content, p.AnonymousLimit)
		}
	}
}

func TestQuotaSettingsDanglingLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "mnt", "config.yaml")
	if err := os.Symlink(target, filepath.Join(dir, configFile)); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatalf("dangling link: %v, want the defaults with a warning", err)
	}
	for _, want := range []string{filepath.Join(dir, configFile), "symbolic link to " + target, "does not exist",
		"default settings", "remove the link"} {
		if !strings.Contains(cfg.warning, want) {
			t.Errorf("warning %q, want it to contain %q", cfg.warning, want)
		}
	}
	if p, err := cfg.quotaPolicy(); err != nil || p != quota.DefaultPolicy() {
		t.Errorf("policy = %+v, %v, want the defaults", p, err)
	}

	if cfg, err := loadConfig(t.TempDir()); err != nil || cfg.warning != "" {
		t.Errorf("no settings file: warning %q, error %v, want neither", cfg.warning, err)
	}
}
