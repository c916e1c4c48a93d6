package quota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"stella-ops.org/ouk/internal/kv"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var testNoon = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

type tokenSpec struct {
	sub, tid string
	tier     any // nil omits the claim
	exp      time.Time
	noExp    bool
}

func signToken(t testing.TB, key *ecdsa.PrivateKey, spec tokenSpec) string {
	t.Helper()
	claims := jwt.MapClaims{"iss": "stella-ops.org", "sub": spec.sub, "tid": spec.tid}
	if spec.tier != nil {
		claims["tier"] = spec.tier
	}
	if !spec.noExp {
		claims["exp"] = spec.exp.Unix()
	}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func validSpec() tokenSpec {
	return tokenSpec{sub: "team@example.org", tid: "tid-0123456789", tier: 333, exp: testNoon.Add(30 * 24 * time.Hour)}
}

func newQuota(t testing.TB, store kv.Store, c *clock) *Quota {
	t.Helper()
	q, err := New(store, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func publicKeys(keys ...*ecdsa.PrivateKey) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = &k.PublicKey
	}
	return out
}

func recordN(t testing.TB, q *Quota, id Identity, n int) Decision {
	t.Helper()
	var d Decision
	for i := 0; i < n; i++ {
		var err error
		if d, err = q.Record(id); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// signClaims makes an ES256 token with claims as they are, so a test can
// give a claim any JSON value, such as a json.RawMessage.
func signClaims(t testing.TB, key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	raw, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
