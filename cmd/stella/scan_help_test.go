package main

import (
	"strings"
	"testing"
)

// A site may set slowdownFraction to 0, so the help must not promise a
// slowdown without naming that setting.
func TestScanHelpSlowdownSetting(t *testing.T) {
	cmd, _, err := newRootCommand().Find([]string{"scan"})
	if err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(cmd.Long), " ")
	for _, want := range []string{"slowed down by default", "quota.slowdownFraction", "0 turns it off"} {
		if !strings.Contains(help, want) {
			t.Errorf("scan help lacks %q:\n%s", want, cmd.Long)
		}
	}
}
