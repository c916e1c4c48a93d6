package quota

import (
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/kv"
)

func TestAnonymousOverLimitSlowed(t *testing.T) {
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	id := q.Identify(Token{}, nil)
	if id.Mode != ModeAnonymous || id.Warning != "" {
		t.Fatalf("identity = %+v, want anonymous without warning", id)
	}

	d := recordN(t, q, id, 29)
	if d.Reminder != "" {
		t.Errorf("scan 29 reminder = %q, want none below 90%% of 33", d.Reminder)
	}
	d = recordN(t, q, id, 1)
	if d.Reminder == "" {
		t.Error("scan 30 has no reminder, want one from 90% of the limit")
	}
	d = recordN(t, q, id, 3)
	if d.State.Count != 33 || d.State.OverLimit || d.Slowdown != 0 {
		t.Errorf("scan 33 = %+v, want count 33 within the limit", d)
	}
	if got := d.Delay(10 * time.Second); got != 0 {
		t.Errorf("scan 33 delay = %v, want 0", got)
	}

	d = recordN(t, q, id, 1)
	if d.State.Count != 34 || !d.State.OverLimit {
		t.Errorf("scan 34 state = %+v, want count 34 over the limit", d.State)
	}
	if got := d.Delay(10 * time.Second); got != time.Second {
		t.Errorf("scan 34 delay for a 10s scan = %v, want 1s", got)
	}
	if !strings.Contains(d.Reminder, "over the daily limit of 33") || strings.Contains(d.Reminder, "\n") {
		t.Errorf("scan 34 reminder = %q, want one line naming the limit", d.Reminder)
	}
	if d.State.Remaining != 0 || d.State.Limit != 33 {
		t.Errorf("scan 34 remaining/limit = %d/%d, want 0/33", d.State.Remaining, d.State.Limit)
	}
}

func TestTokenLimitFromTier(t *testing.T) {
	key := newKey(t)
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	id := q.Identify(Token{Raw: signToken(t, key, validSpec()), Source: TokenEnv}, publicKeys(newKey(t), key))
	if id.Mode != ModeToken || id.Warning != "" {
		t.Fatalf("identity = %+v, want token mode", id)
	}

	d := recordN(t, q, id, 199)
	if d.Reminder != "" {
		t.Errorf("scan 199 reminder = %q, want none", d.Reminder)
	}
	d = recordN(t, q, id, 1)
	if d.Reminder == "" {
		t.Error("scan 200 has no reminder")
	}
	d = recordN(t, q, id, 133)
	if d.State.Count != 333 || d.Slowdown != 0 || d.Delay(time.Minute) != 0 {
		t.Errorf("scan 333 = %+v, want no slowdown", d)
	}
	d = recordN(t, q, id, 1)
	if !d.State.OverLimit || d.Delay(time.Minute) != 6*time.Second {
		t.Errorf("scan 334 = %+v, delay %v, want over the limit and 6s", d, d.Delay(time.Minute))
	}
	if d.State.Subject != "team@example.org" || d.State.Tier != 333 || d.State.ExpiresAt == nil {
		t.Errorf("scan 334 state = %+v, want sub, tier and expiry", d.State)
	}
}
