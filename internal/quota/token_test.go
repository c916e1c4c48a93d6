package quota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

func TestIdentifyRejectsBadTokens(t *testing.T) {
	key := newKey(t)
	other := newKey(t)
	expired := validSpec()
	expired.exp = testNoon.Add(-time.Hour)
	noTID := validSpec()
	noTID.tid = ""
	noExp := validSpec()
	noExp.noExp = true
	zeroTier := validSpec()
	zeroTier.tier = 0
	stringTier := validSpec()
	stringTier.tier = "333"

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"tid": "x", "exp": testNoon.Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"tid": "x", "exp": testNoon.Add(time.Hour).Unix()}).
		SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, raw, reason string
	}{
		{"other key", signToken(t, other, validSpec()), "matches no trusted quota key"},
		{"expired", signToken(t, key, expired), "expired at"},
		{"alg none", none, `algorithm "none"`},
		{"HS256", hs, `algorithm "HS256"`},
		{"no tid", signToken(t, key, noTID), "no tid claim"},
		{"no exp", signToken(t, key, noExp), "no exp claim"},
		{"zero tier", signToken(t, key, zeroTier), "tier claim 0"},
		{"string tier", signToken(t, key, stringTier), "malformed"},
		{"garbage", "not-a-token", "malformed"},
	}
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	anonymous := q.Identify(Token{}, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := q.Identify(Token{Raw: tc.raw, Source: TokenEnv}, publicKeys(key))
			if id.Mode != ModeAnonymous {
				t.Fatalf("mode = %s, want anonymous", id.Mode)
			}
			if id.Hash() != anonymous.Hash() {
				t.Error("rejected token counts under its own identity, want the anonymous one")
			}
			if !strings.Contains(id.Warning, tc.reason) {
				t.Errorf("warning = %q, want it to contain %q", id.Warning, tc.reason)
			}
			if !strings.Contains(id.Warning, TokenEnv) || strings.Contains(id.Warning, "\n") {
				t.Errorf("warning = %q, want one line naming the source", id.Warning)
			}
		})
	}
}

func TestVerifyTokenErrors(t *testing.T) {
	key := newKey(t)
	other := newKey(t)

	_, err := VerifyToken(signToken(t, other, validSpec()), publicKeys(key), testNoon)
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, errdef.ErrSignature) {
		t.Errorf("wrong key error = %v, want ErrInvalidToken and ErrSignature", err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyToken(signToken(t, key, validSpec()), []crypto.PublicKey{&rsaKey.PublicKey, &p384.PublicKey, nil}, testNoon)
	if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "no ECDSA P-256 public key") {
		t.Errorf("no usable key error = %v", err)
	}

	_, err = VerifyToken(strings.Repeat("a", MaxTokenSize+1), publicKeys(key), testNoon)
	if !errors.Is(err, ErrInvalidToken) {
		t.Errorf("oversized token error = %v, want ErrInvalidToken", err)
	}
}

func TestVerifyTokenClaims(t *testing.T) {
	key := newKey(t)
	spec := validSpec()
	spec.tier = nil
	claims, err := VerifyToken(signToken(t, key, spec), publicKeys(key), testNoon)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != "stella-ops.org" || claims.Subject != spec.sub || claims.TokenID != spec.tid {
		t.Errorf("claims = %+v", claims)
	}
	if claims.Tier != 0 || !claims.ExpiresAt.Equal(spec.exp) {
		t.Errorf("tier/exp = %d/%v, want 0/%v", claims.Tier, claims.ExpiresAt, spec.exp)
	}

	// A token without a tier claim gets the free tier limit.
	c := newClock(testNoon)
	q := newQuota(t, kv.NewMemory(), c)
	id := q.Identify(Token{Raw: signToken(t, key, spec)}, publicKeys(key))
	st, err := q.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Limit != DefaultFreeTierLimit {
		t.Errorf("limit = %d, want %d", st.Limit, DefaultFreeTierLimit)
	}

	// A larger tier raises the limit.
	spec.tier = 1000
	id = q.Identify(Token{Raw: signToken(t, key, spec)}, publicKeys(key))
	if st, _ = q.Status(id); st.Limit != 1000 {
		t.Errorf("limit = %d, want the tier 1000", st.Limit)
	}
}

func TestTokenExpiresDuringDay(t *testing.T) {
	key := newKey(t)
	spec := validSpec()
	spec.exp = testNoon.Add(time.Hour)
	raw := signToken(t, key, spec)
	c := newClock(testNoon)
	q := newQuota(t, kv.NewMemory(), c)

	if id := q.Identify(Token{Raw: raw}, publicKeys(key)); id.Mode != ModeToken {
		t.Fatalf("mode before exp = %s, want token", id.Mode)
	}
	c.Set(testNoon.Add(2 * time.Hour))
	if id := q.Identify(Token{Raw: raw}, publicKeys(key)); id.Mode != ModeAnonymous {
		t.Fatalf("mode after exp = %s, want anonymous", id.Mode)
	}
}
