package quota

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Default policy values. DefaultPolicy is the one place that applies them.
const (
	// DefaultAnonymousLimit is the number of scans per UTC day without a token.
	DefaultAnonymousLimit = 33
	// DefaultFreeTierLimit is the daily limit of a valid token without a tier claim.
	DefaultFreeTierLimit = 333
	// DefaultReminderAt is the daily count from which every scan gets a reminder line.
	DefaultReminderAt = 200
	// DefaultReminderFraction is the fraction of the limit from which every scan
	// gets a reminder line, so that limits below DefaultReminderAt still warn.
	DefaultReminderFraction = 0.9
	// DefaultSlowdownFraction is the delay over the limit, as a fraction of
	// the scan's own duration.
	DefaultSlowdownFraction = 0.1
)

// MaxLimit is the largest daily limit, of a policy or of a token's tier
// claim: 2^53 - 1, the largest whole number that JSON readers which hold
// numbers as IEEE 754 doubles, such as JavaScript's JSON.parse, keep exact
// (RFC 8259 section 6). The limit is part of the JSON output.
const MaxLimit = 1<<53 - 1

// ErrInvalidPolicy is returned by Policy.Validate and New for a policy whose
// values contradict each other or are out of range.
var ErrInvalidPolicy = errors.New("invalid quota policy")

// Policy sets the daily limits, the reminder threshold and the slowdown over
// the limit. Start from DefaultPolicy and override fields from configuration.
type Policy struct {
	// AnonymousLimit is the number of scans per UTC day without a valid
	// token. Default 33.
	AnonymousLimit int `json:"anonymousLimit"`
	// FreeTierLimit is the daily limit of a valid token that carries no tier
	// claim. A token's tier claim, when present, is its limit. Default 333.
	FreeTierLimit int `json:"freeTierLimit"`
	// ReminderAt is the daily count from which each scan returns a reminder
	// line. 0 disables this threshold. Default 200.
	ReminderAt int `json:"reminderAt"`
	// ReminderFraction is the fraction of the limit from which each scan
	// returns a reminder line, rounded up to a whole scan. 0 disables this
	// threshold. Default 0.9.
	ReminderFraction float64 `json:"reminderFraction"`
	// SlowdownFraction is the delay added to a scan over the limit, as a
	// fraction of that scan's own duration. 0 disables the slowdown.
	// Default 0.1.
	SlowdownFraction float64 `json:"slowdownFraction"`
}

// DefaultPolicy returns the policy used when configuration overrides nothing.
func DefaultPolicy() Policy {
	return Policy{
		AnonymousLimit:   DefaultAnonymousLimit,
		FreeTierLimit:    DefaultFreeTierLimit,
		ReminderAt:       DefaultReminderAt,
		ReminderFraction: DefaultReminderFraction,
		SlowdownFraction: DefaultSlowdownFraction,
	}
}

// PolicyFieldError is the error of Validate: one field of a Policy out of
// range.
type PolicyFieldError struct {
	// Key is the field's key in the settings file, such as
	// "anonymousLimit".
	Key string
	// Name is the field in words, such as "anonymous limit".
	Name string
	// Value is the value given, as text.
	Value string
	// Rule is the condition the value must meet, such as "must be at least 1".
	Rule string
}

func (e *PolicyFieldError) Error() string {
	return fmt.Sprintf("%s %s: %s: %v", e.Name, e.Value, e.Rule, ErrInvalidPolicy)
}

func (e *PolicyFieldError) Unwrap() error { return ErrInvalidPolicy }

// Validate returns a *PolicyFieldError, which wraps ErrInvalidPolicy, that
// names the first field out of range.
func (p Policy) Validate() error {
	bad := func(key, name string, value any, rule string) error {
		return &PolicyFieldError{Key: key, Name: name, Value: fmt.Sprint(value), Rule: rule}
	}
	switch {
	case p.AnonymousLimit < 1:
		return bad("anonymousLimit", "anonymous limit", p.AnonymousLimit, "must be at least 1")
	case p.AnonymousLimit > MaxLimit:
		return bad("anonymousLimit", "anonymous limit", p.AnonymousLimit, fmt.Sprintf("must be at most %d", MaxLimit))
	case p.FreeTierLimit < 1:
		return bad("freeTierLimit", "free tier limit", p.FreeTierLimit, "must be at least 1")
	case p.FreeTierLimit > MaxLimit:
		return bad("freeTierLimit", "free tier limit", p.FreeTierLimit, fmt.Sprintf("must be at most %d", MaxLimit))
	case p.ReminderAt < 0:
		return bad("reminderAt", "reminder threshold", p.ReminderAt, "must be 0 (off) or positive")
	case !inUnitRange(p.ReminderFraction):
		return bad("reminderFraction", "reminder fraction", p.ReminderFraction, "must be between 0 and 1")
	case !inUnitRange(p.SlowdownFraction):
		return bad("slowdownFraction", "slowdown fraction", p.SlowdownFraction, "must be between 0 and 1")
	}
	return nil
}

func inUnitRange(f float64) bool {
	return !math.IsNaN(f) && f >= 0 && f <= 1
}

// reminderThreshold returns the daily count from which scans get a reminder
// for the given limit, or 0 when both thresholds are off.
func (p Policy) reminderThreshold(limit int) int {
	threshold := 0
	if p.ReminderAt > 0 {
		threshold = p.ReminderAt
	}
	if p.ReminderFraction > 0 {
		byFraction := int(math.Ceil(p.ReminderFraction * float64(limit)))
		if threshold == 0 || byFraction < threshold {
			threshold = byFraction
		}
	}
	return threshold
}

// Decision is the outcome of counting one scan. A scan is never refused: over
// the limit the caller delays it by Delay of its own duration.
type Decision struct {
	// State is the quota state after the increment.
	State State `json:"state"`
	// Reminder is one line for stderr, or empty when the count is below the
	// reminder threshold.
	Reminder string `json:"reminder,omitempty"`
	// Slowdown is the delay as a fraction of the scan's duration: 0 within
	// the limit, Policy.SlowdownFraction over it.
	Slowdown float64 `json:"slowdown"`
}

// Delay returns how long the caller sleeps after a scan that took scan:
// Slowdown times scan, and 0 within the limit or for a non-positive scan.
func (d Decision) Delay(scan time.Duration) time.Duration {
	return SlowdownDelay(d.Slowdown, scan)
}

// SlowdownDelay returns fraction times scan, or 0 when either is not positive.
func SlowdownDelay(fraction float64, scan time.Duration) time.Duration {
	if fraction <= 0 || scan <= 0 {
		return 0
	}
	return time.Duration(fraction * float64(scan))
}
