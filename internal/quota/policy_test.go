package quota

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/kv"
)

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	cases := map[string]func(*Policy){
		"anonymous limit 0":   func(p *Policy) { p.AnonymousLimit = 0 },
		"free tier limit -1":  func(p *Policy) { p.FreeTierLimit = -1 },
		"reminder at -1":      func(p *Policy) { p.ReminderAt = -1 },
		"reminder fraction 2": func(p *Policy) { p.ReminderFraction = 2 },
		"reminder NaN":        func(p *Policy) { p.ReminderFraction = math.NaN() },
		"slowdown -0.1":       func(p *Policy) { p.SlowdownFraction = -0.1 },
	}
	for name, change := range cases {
		p := DefaultPolicy()
		change(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: error = %v, want ErrInvalidPolicy", name, err)
		}
		if _, err := New(kv.NewMemory(), Options{Policy: p}); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: New error = %v, want ErrInvalidPolicy", name, err)
		}
	}
}

func TestPolicyOverrides(t *testing.T) {
	p := Policy{AnonymousLimit: 2, FreeTierLimit: 10, ReminderAt: 0, ReminderFraction: 0, SlowdownFraction: 0.5}
	q, err := New(kv.NewMemory(), Options{Policy: p, Now: newClock(testNoon).Now})
	if err != nil {
		t.Fatal(err)
	}
	id := q.Identify(Token{}, nil)
	d := recordN(t, q, id, 3)
	if d.Reminder != "" {
		t.Errorf("reminder = %q, want none with both thresholds off", d.Reminder)
	}
	if got := d.Delay(4 * time.Second); got != 2*time.Second {
		t.Errorf("delay = %v, want 2s at slowdown 0.5", got)
	}
	if q.Policy() != p {
		t.Errorf("Policy() = %+v, want %+v", q.Policy(), p)
	}
}

func TestReminderThreshold(t *testing.T) {
	p := DefaultPolicy()
	for limit, want := range map[int]int{33: 30, 333: 200, 100: 90, 1000: 200} {
		if got := p.reminderThreshold(limit); got != want {
			t.Errorf("threshold for limit %d = %d, want %d", limit, got, want)
		}
	}
}

func TestSlowdownDelay(t *testing.T) {
	if got := SlowdownDelay(0.1, -time.Second); got != 0 {
		t.Errorf("negative scan delay = %v, want 0", got)
	}
	if got := SlowdownDelay(0, time.Hour); got != 0 {
		t.Errorf("zero fraction delay = %v, want 0", got)
	}
	if got := SlowdownDelay(0.1, 90*time.Second); got != 9*time.Second {
		t.Errorf("delay = %v, want 9s", got)
	}
}

func TestStateJSON(t *testing.T) {
	key := newKey(t)
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	d := recordN(t, q, q.Identify(Token{Raw: signToken(t, key, validSpec())}, publicKeys(key)), 1)
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"mode":"token"`, `"sub":"team@example.org"`, `"tier":333`,
		`"count":1`, `"limit":333`, `"remaining":332`, `"resetAt":"2026-03-15T00:00:00Z"`,
		`"resetInSeconds":43200`, `"expiresAt":"2026-04-13T12:00:00Z"`} {
		if !strings.Contains(string(out), field) {
			t.Errorf("JSON %s lacks %s", out, field)
		}
	}
	if strings.Contains(string(out), "tid-0123456789") {
		t.Errorf("JSON %s contains the raw token ID", out)
	}
}

func TestSingleLine(t *testing.T) {
	got := singleLine("a\nb\r\x1bc" + strings.Repeat("x", 400))
	if strings.ContainsAny(got, "\n\r\x1b") {
		t.Errorf("singleLine kept control characters: %q", got)
	}
	if n := len([]rune(got)); n != maxLineLength+1 {
		t.Errorf("length = %d runes, want %d and an ellipsis", n, maxLineLength+1)
	}
}

func TestReminderFollowsPolicy(t *testing.T) {
	cases := []struct {
		name        string
		policy      Policy
		scans       int
		wants, bans []string
	}{
		{"default below limit", DefaultPolicy(), 30,
			[]string{"scans over the limit run about 10% slower", "raises the limit to 333"}, nil},
		{"default over limit", DefaultPolicy(), 34,
			[]string{"so it runs about 10% slower"}, nil},
		{"small slowdown", Policy{AnonymousLimit: 1, FreeTierLimit: 5, ReminderAt: 1, SlowdownFraction: 0.005}, 2,
			[]string{"about 0.5% slower"}, nil},
		{"slowdown off below limit", Policy{AnonymousLimit: 20, FreeTierLimit: 333, ReminderFraction: 0.5}, 13,
			[]string{"13 of 20 daily scans used"}, []string{"slower"}},
		{"slowdown off over limit", Policy{AnonymousLimit: 1, FreeTierLimit: 333, ReminderAt: 1}, 2,
			[]string{"over the daily limit of 1"}, []string{"slower"}},
		{"free tier below anonymous", Policy{AnonymousLimit: 10, FreeTierLimit: 5, ReminderAt: 1, SlowdownFraction: 0.1}, 11,
			[]string{"over the daily limit of 10"}, []string{"raises the limit", "STELLA_JWT"}},
		{"free tier equal to anonymous", Policy{AnonymousLimit: 10, FreeTierLimit: 10, ReminderAt: 1, SlowdownFraction: 0.1}, 1,
			[]string{"1 of 10 daily scans used"}, []string{"raises the limit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := New(kv.NewMemory(), Options{Policy: tc.policy, Now: newClock(testNoon).Now})
			if err != nil {
				t.Fatal(err)
			}
			d := recordN(t, q, q.Identify(Token{}, nil), tc.scans)
			for _, want := range tc.wants {
				if !strings.Contains(d.Reminder, want) {
					t.Errorf("reminder = %q, want it to contain %q", d.Reminder, want)
				}
			}
			for _, ban := range tc.bans {
				if strings.Contains(d.Reminder, ban) {
					t.Errorf("reminder = %q, want it without %q", d.Reminder, ban)
				}
			}
		})
	}
}

func TestPolicyLimitAboveMaximum(t *testing.T) {
	for name, change := range map[string]func(*Policy){
		"anonymous limit": func(p *Policy) { p.AnonymousLimit = MaxLimit + 1 },
		"free tier limit": func(p *Policy) { p.FreeTierLimit = MaxLimit + 1 },
	} {
		p := DefaultPolicy()
		change(&p)
		err := p.Validate()
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "must be at most 9007199254740991") {
			t.Errorf("%s %d: error = %v, want it rejected above MaxLimit", name, MaxLimit+1, err)
		}
	}
	p := DefaultPolicy()
	p.AnonymousLimit, p.FreeTierLimit = MaxLimit, MaxLimit
	if err := p.Validate(); err != nil {
		t.Errorf("limits of MaxLimit: %v", err)
	}
}
