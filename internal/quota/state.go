package quota

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// maxLineLength caps reminder and warning lines, in runes.
const maxLineLength = 300

// State is the quota state of one identity on one UTC day, as shown by
// `stella quota status` and carried in `--output json` results.
type State struct {
	// Mode is "anonymous" or "token".
	Mode Mode `json:"mode"`
	// Subject is the token's sub claim; empty when anonymous.
	Subject string `json:"sub,omitempty"`
	// Tier is the token's tier claim; 0 when anonymous or absent.
	Tier int `json:"tier,omitempty"`
	// ExpiresAt is the token's exp claim; nil when anonymous.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Warning is the reason a given token was not used, or empty.
	Warning string `json:"warning,omitempty"`
	// Day is the UTC day counted, as YYYY-MM-DD.
	Day string `json:"day"`
	// Count is the number of scans counted today.
	Count int64 `json:"count"`
	// Limit is the number of scans per day that run without delay.
	Limit int `json:"limit"`
	// Remaining is Limit minus Count, and 0 once over the limit.
	Remaining int64 `json:"remaining"`
	// OverLimit reports Count greater than Limit.
	OverLimit bool `json:"overLimit"`
	// ResetAt is the next 00:00 UTC, when the count starts again from 0.
	ResetAt time.Time `json:"resetAt"`
	// ResetInSeconds is the time from the state's reading to ResetAt.
	ResetInSeconds int64 `json:"resetInSeconds"`
	// NotCounted is the reason the scan that reports this state was not
	// counted, such as a store that cannot be written, or empty.
	NotCounted string `json:"notCounted,omitempty"`
	// Damaged has one line for each damaged quota entry that this reading
	// found, such as a salt or counter of the wrong length, and what was
	// done about it.
	Damaged []string `json:"damaged,omitempty"`
}

// ResetIn returns the time from the state's reading to ResetAt.
func (s State) ResetIn() time.Duration {
	return time.Duration(s.ResetInSeconds) * time.Second
}

// limitFor returns the daily limit for id under the policy.
func (q *Quota) limitFor(id Identity) int {
	if id.Mode != ModeToken || id.Claims == nil {
		return q.policy.AnonymousLimit
	}
	if id.Claims.Tier > 0 {
		return id.Claims.Tier
	}
	return q.policy.FreeTierLimit
}

func (q *Quota) state(id Identity, now time.Time, count int64) State {
	now = now.UTC()
	limit := q.limitFor(id)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	resetAt := day.AddDate(0, 0, 1)

	s := State{
		Mode:           id.Mode,
		Warning:        id.Warning,
		Day:            day.Format(dayFormat),
		Count:          count,
		Limit:          limit,
		Remaining:      max(int64(limit)-count, 0),
		OverLimit:      count > int64(limit),
		ResetAt:        resetAt,
		ResetInSeconds: int64(math.Ceil(resetAt.Sub(now).Seconds())),
		Damaged:        q.Damaged(),
	}
	if id.Mode == ModeToken && id.Claims != nil {
		s.Subject = id.Claims.Subject
		s.Tier = id.Claims.Tier
		expires := id.Claims.ExpiresAt
		s.ExpiresAt = &expires
	}
	return s
}

// decide returns the decision for a scan that brought the count to s.Count.
func (q *Quota) decide(s State) Decision {
	d := Decision{State: s}
	if s.OverLimit {
		d.Slowdown = q.policy.SlowdownFraction
	}
	threshold := q.policy.reminderThreshold(s.Limit)
	if threshold > 0 && s.Count >= int64(threshold) {
		d.Reminder = q.reminder(s, d.Slowdown)
	}
	return d
}

func (q *Quota) reminder(s State, slowdown float64) string {
	label := "anonymous"
	if s.Mode == ModeToken {
		label = "token"
		if s.Subject != "" {
			label = "token for " + s.Subject
		}
	}
	reset := "the count resets at 00:00 UTC, in " + formatHoursMinutes(s.ResetIn())

	var b strings.Builder
	switch {
	case s.OverLimit && slowdown > 0:
		fmt.Fprintf(&b, "quota: scan %d today is over the daily limit of %d (%s), so it runs about %s slower; %s",
			s.Count, s.Limit, label, SlowdownPercent(slowdown), reset)
	case s.OverLimit:
		fmt.Fprintf(&b, "quota: scan %d today is over the daily limit of %d (%s); %s",
			s.Count, s.Limit, label, reset)
	case q.policy.SlowdownFraction > 0:
		fmt.Fprintf(&b, "quota: %d of %d daily scans used (%s); scans over the limit run about %s slower; %s",
			s.Count, s.Limit, label, SlowdownPercent(q.policy.SlowdownFraction), reset)
	default:
		fmt.Fprintf(&b, "quota: %d of %d daily scans used (%s); %s", s.Count, s.Limit, label, reset)
	}
	// A site may set the free tier at or below the anonymous limit, and
	// then a token without a tier claim would not raise the limit.
	if s.Mode == ModeAnonymous && q.policy.FreeTierLimit > q.policy.AnonymousLimit {
		fmt.Fprintf(&b, "; a free token in %s raises the limit to %d", TokenEnv, q.policy.FreeTierLimit)
	}
	return singleLine(b.String())
}

// SlowdownPercent formats a slowdown fraction as a percentage for
// messages: "10%" for 0.1, and "0.5%" for 0.005, so a small slowdown does
// not read as 0%.
func SlowdownPercent(fraction float64) string {
	percent := fraction * 100
	if percent >= 1 {
		return fmt.Sprintf("%.0f%%", percent)
	}
	return fmt.Sprintf("%.2g%%", percent)
}

// formatHoursMinutes formats d as "5h07m", rounded up to the minute.
func formatHoursMinutes(d time.Duration) string {
	minutes := int64(math.Ceil(d.Minutes()))
	return fmt.Sprintf("%dh%02dm", minutes/60, minutes%60)
}

// singleLine replaces control characters, newlines included, with spaces and
// truncates to maxLineLength runes, so text from a token cannot break the
// one-line promise of reminders and warnings.
func singleLine(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxLineLength {
			b.WriteString("…")
			break
		}
		b.WriteRune(controlToSpace(r))
		n++
	}
	return b.String()
}

// controlToSpace maps a control character, newlines included, to a space
// and returns any other rune unchanged, for strings.Map.
func controlToSpace(r rune) rune {
	if unicode.IsControl(r) {
		return ' '
	}
	return r
}
