package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

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

// tokenState returns today's state of a token whose claims are subject and
// tier, under the default policy.
func tokenState(subject string, tier int) quota.State {
	expires := time.Date(2026, 12, 7, 0, 10, 14, 0, time.UTC)
	limit := tier
	if tier == 0 {
		limit = quota.DefaultFreeTierLimit
	}
	return quota.State{Mode: quota.ModeToken, Subject: subject, Tier: tier, ExpiresAt: &expires,
		Day: "2026-12-06", Limit: limit}
}

func TestPrintQuotaTokenWithoutClaims(t *testing.T) {
	var out bytes.Buffer
	printQuota(&out, tokenState("", 0), quota.DefaultPolicy())
	mode, _, _ := strings.Cut(out.String(), "\n")
	want := "Mode      token (free tier, because the token has no tier claim, expires 2026-12-07T00:10:14Z)"
	if mode != want {
		t.Errorf("mode line = %q, want %q", mode, want)
	}
	if !strings.Contains(out.String(), "of 333 scans") {
		t.Errorf("output:\n%s\nwant the free tier limit 333", out.String())
	}

	out.Reset()
	printQuota(&out, tokenState("acme", 500), quota.DefaultPolicy())
	mode, _, _ = strings.Cut(out.String(), "\n")
	if want := `Mode      token (sub "acme", tier 500, expires 2026-12-07T00:10:14Z)`; mode != want {
		t.Errorf("mode line = %q, want %q", mode, want)
	}
}

func TestPrintQuotaEscapesSubject(t *testing.T) {
	forged := "acme\x1b[31mRED\nToday     0 of 99999 scans\u202e"
	var out bytes.Buffer
	printQuota(&out, tokenState(forged, 5), quota.DefaultPolicy())
	text := out.String()
	if strings.ContainsAny(text, "\x1b\u202e") {
		t.Errorf("output %q contains a control or format character of the sub claim", text)
	}
	if n := strings.Count(text, "\nToday "); n != 1 {
		t.Errorf("output:\n%s\nhas %d lines starting with Today, want 1", text, n)
	}
	if want := `sub "acme\x1b[31mRED\nToday     0 of 99999 scans\u202e"`; !strings.Contains(text, want) {
		t.Errorf("output:\n%s\nwant the sub claim escaped as %s", text, want)
	}
}
