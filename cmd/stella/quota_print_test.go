package main

import (
	"bytes"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/quota"
)

func TestPrintQuotaOverLimitFollowsSlowdown(t *testing.T) {
	st := quota.State{Mode: quota.ModeAnonymous, Day: "2026-12-06", Count: 24, Limit: 1, OverLimit: true}
	var out bytes.Buffer
	printQuota(&out, st, quota.DefaultPolicy())
	if !strings.Contains(out.String(), "each about 10% slower") {
		t.Errorf("default policy over the limit:\n%s\nwant scans said to run about 10%% slower", out.String())
	}

	off := quota.DefaultPolicy()
	off.SlowdownFraction = 0
	out.Reset()
	printQuota(&out, st, off)
	for _, ban := range []string{"slower", "slowed"} {
		if strings.Contains(out.String(), ban) {
			t.Errorf("slowdownFraction 0 over the limit:\n%s\nwant no slowdown promised (%q)", out.String(), ban)
		}
	}
	if !strings.Contains(out.String(), "full speed") {
		t.Errorf("slowdownFraction 0 over the limit:\n%s\nwant scans said to run at full speed", out.String())
	}

	out.Reset()
	st.OverLimit, st.Count = false, 0
	printQuota(&out, st, quota.DefaultPolicy())
	if strings.Contains(out.String(), "Over the limit") {
		t.Errorf("within the limit:\n%s\nwant no over-the-limit line", out.String())
	}
}
