package quota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
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
		{"string tier", signToken(t, key, stringTier), `tier claim is "333", not a number`},
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

func TestVerifyTokenTimeOutOfRange(t *testing.T) {
	key := newKey(t)
	expSeconds := testNoon.Add(24 * time.Hour).Unix()
	expMilliseconds := json.RawMessage(strconv.FormatInt(expSeconds*1000, 10))
	cases := []struct {
		name   string
		claims jwt.MapClaims
		wants  []string
	}{
		{"exp in milliseconds", jwt.MapClaims{"exp": expMilliseconds},
			[]string{"exp claim " + string(expMilliseconds), "outside the years 0 to 9999", "looks like milliseconds"}},
		{"exp far after 9999", jwt.MapClaims{"exp": json.RawMessage("99999999999999999")},
			[]string{"exp claim 99999999999999999", "outside the years 0 to 9999"}},
		{"exp beyond float64", jwt.MapClaims{"exp": json.RawMessage("1e400")},
			[]string{"exp claim 1e400", "outside the years 0 to 9999"}},
		{"exp before year 0", jwt.MapClaims{"exp": json.RawMessage("-99999999999")},
			[]string{"exp claim -99999999999", "outside the years 0 to 9999"}},
		{"iat in milliseconds", jwt.MapClaims{"exp": expSeconds, "iat": json.RawMessage(strconv.FormatInt(testNoon.Unix()*1000, 10))},
			[]string{"iat claim", "looks like milliseconds"}},
		{"nbf in milliseconds", jwt.MapClaims{"exp": expSeconds, "nbf": json.RawMessage(strconv.FormatInt(testNoon.Unix()*1000, 10))},
			[]string{"nbf claim", "looks like milliseconds"}},
	}
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.claims["tid"] = "tid-1"
			raw := signClaims(t, key, tc.claims)
			_, err := VerifyToken(raw, publicKeys(key), testNoon)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error = %v, want ErrInvalidToken", err)
			}
			id := q.Identify(Token{Raw: raw, Source: TokenEnv}, publicKeys(key))
			if id.Mode != ModeAnonymous {
				t.Errorf("mode = %s, want anonymous", id.Mode)
			}
			for _, want := range tc.wants {
				if !strings.Contains(id.Warning, want) {
					t.Errorf("warning = %q, want it to contain %q", id.Warning, want)
				}
			}
		})
	}
}

func TestVerifyTokenLatestExpiryMarshals(t *testing.T) {
	key := newKey(t)
	last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	raw := signClaims(t, key, jwt.MapClaims{"tid": "tid-1", "exp": last.Unix(), "iat": testNoon.Unix()})
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	id := q.Identify(Token{Raw: raw}, publicKeys(key))
	if id.Mode != ModeToken {
		t.Fatalf("token expiring at %s: mode %s (%s), want token", last, id.Mode, id.Warning)
	}
	st, err := q.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("marshalling the state: %v", err)
	}
	if !strings.Contains(string(out), `"expiresAt":"9999-12-31T23:59:59Z"`) {
		t.Errorf("state JSON = %s, want expiresAt 9999-12-31T23:59:59Z", out)
	}
}

func TestVerifyTokenTimeNotANumber(t *testing.T) {
	key := newKey(t)
	for _, name := range []string{"exp", "nbf", "iat"} {
		claims := jwt.MapClaims{"tid": "tid-1", "exp": testNoon.Add(time.Hour).Unix()}
		claims[name] = strconv.FormatInt(testNoon.Unix(), 10)
		_, err := VerifyToken(signClaims(t, key, claims), publicKeys(key), testNoon)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s as a JSON string: error = %v, want ErrInvalidToken", name, err)
			continue
		}
		if want := "token " + name + ` claim is "`; !strings.Contains(err.Error(), want) {
			t.Errorf("%s as a JSON string: error = %v, want it to contain %q", name, err, want)
		}
		if !strings.Contains(err.Error(), "not a number") {
			t.Errorf("%s as a JSON string: error = %v, want it to say \"not a number\"", name, err)
		}
	}
}

// FuzzTokenClaims signs every header and claims set it is given, so the
// checks after the signature run on any input. A token that verifies must
// give a state that encodes as JSON.
func FuzzTokenClaims(f *testing.F) {
	exp := strconv.FormatInt(testNoon.Add(time.Hour).Unix(), 10)
	for _, seed := range [][2]string{
		{`{"alg":"ES256"}`, `{"tid":"t","exp":` + exp + `,"sub":"acme","tier":5}`},
		{`{"alg":"ES256"}`, `{"tid":"t","exp":` + exp + `000}`},
		{`{"alg":"ES256"}`, `{"tid":"t","exp":"` + exp + `"}`},
		{`{"alg":"ES256"}`, `{"tid":"t","exp":` + exp + `,"iat":1e300,"nbf":-1e20}`},
		{`{"alg":"ES256"}`, `{"tid":"t","exp":` + exp + `,"tier":9223372036854775807}`},
		{`{"alg":"ES256","crit":["exp"],"exp":1}`, `{"tid":"t","exp":` + exp + `}`},
		{`{"alg":"ES256"}`, `{"tid":"t","exp":253402300799.9999}`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	key := newKey(f)
	keys := publicKeys(key)
	q := newQuota(f, kv.NewMemory(), newClock(testNoon))
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		encoding := base64.RawURLEncoding
		signing := encoding.EncodeToString(header) + "." + encoding.EncodeToString(claims)
		signature, err := jwt.SigningMethodES256.Sign(signing, key)
		if err != nil {
			t.Fatal(err)
		}
		raw := signing + "." + encoding.EncodeToString(signature)
		_, err = VerifyToken(raw, keys, testNoon)
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
		id := q.Identify(Token{Raw: raw, Source: TokenEnv}, keys)
		st, err := q.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatalf("state of header %s and claims %s does not encode as JSON: %v", header, claims, err)
		}
	})
}

func TestIdentifyHintNamesKeysDir(t *testing.T) {
	key := newKey(t)
	keysDir := "/srv/" + strings.Repeat("long-folder-name/", 12) + "store/keys/quota"
	q, err := New(kv.NewMemory(), Options{Now: newClock(testNoon).Now, KeysDir: keysDir})
	if err != nil {
		t.Fatal(err)
	}
	raw := signToken(t, key, validSpec())
	cases := map[string][]crypto.PublicKey{
		"other key": publicKeys(newKey(t)),
		"no key":    nil,
	}
	for name, keys := range cases {
		id := q.Identify(Token{Raw: raw, Source: TokenEnv}, keys)
		if want := "put the token issuer's public key in " + keysDir + " or pass --quota-key"; !strings.Contains(id.Warning, want) {
			t.Errorf("%s: warning %q, want it to contain %q", name, id.Warning, want)
		}
		if strings.Contains(id.Warning, "<store>") {
			t.Errorf("%s: warning %q names <store> in place of the folder", name, id.Warning)
		}
		if !strings.HasSuffix(id.Warning, "counting scans as anonymous, 33 per UTC day") {
			t.Errorf("%s: warning %q, want it to end with the outcome", name, id.Warning)
		}
		if !errors.Is(id.TokenError, ErrInvalidToken) {
			t.Errorf("%s: TokenError = %v, want ErrInvalidToken", name, id.TokenError)
		}
	}
	if !errors.Is(q.Identify(Token{Raw: raw}, nil).TokenError, ErrNoTokenKey) {
		t.Error("TokenError without keys does not wrap ErrNoTokenKey")
	}

	expired := validSpec()
	expired.exp = testNoon.Add(-time.Hour)
	id := q.Identify(Token{Raw: signToken(t, key, expired)}, publicKeys(key))
	if strings.Contains(id.Warning, "put the token issuer's public key") {
		t.Errorf("expired token: warning %q points to the keys, want only the expiry", id.Warning)
	}
}

func TestSignedBy(t *testing.T) {
	key := newKey(t)
	expired := validSpec()
	expired.exp = testNoon.Add(-time.Hour)
	raw := signToken(t, key, expired)
	if !SignedBy(raw, &key.PublicKey) {
		t.Error("SignedBy(expired token, its key) = false, want true whatever the claims")
	}
	if SignedBy(raw, &newKey(t).PublicKey) {
		t.Error("SignedBy(token, another key) = true")
	}
	if SignedBy("not-a-token", &key.PublicKey) {
		t.Error("SignedBy(garbage) = true")
	}
}

func TestVerifyTokenRejectsCrit(t *testing.T) {
	key := newKey(t)
	for name, crit := range map[string]any{"unknown extension": []string{"foo"}, "empty list": []string{}} {
		token := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"tid": "tid-1", "exp": testNoon.Add(time.Hour).Unix()})
		token.Header["crit"] = crit
		token.Header["foo"] = 1
		raw, err := token.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyToken(raw, publicKeys(key), testNoon)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: error = %v, want ErrInvalidToken", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "under crit") {
			t.Errorf("%s: error = %v, want the crit header named", name, err)
		}
		if !strings.Contains(err.Error(), "RFC 7515") {
			t.Errorf("%s: error = %v, want RFC 7515 named", name, err)
		}
	}
}

func TestVerifyTokenTierRange(t *testing.T) {
	key := newKey(t)
	valid := []struct {
		raw  string
		want int
	}{
		{"1", 1},
		{"500.0", 500},
		{"5e2", 500},
		{"9007199254740991", MaxLimit},
		{"null", 0},
	}
	for _, tc := range valid {
		raw := signClaims(t, key, jwt.MapClaims{"tid": "tid-1", "exp": testNoon.Add(time.Hour).Unix(), "tier": json.RawMessage(tc.raw)})
		claims, err := VerifyToken(raw, publicKeys(key), testNoon)
		if err != nil {
			t.Errorf("tier %s: %v", tc.raw, err)
			continue
		}
		if claims.Tier != tc.want {
			t.Errorf("tier %s: Tier = %d, want %d", tc.raw, claims.Tier, tc.want)
		}
	}

	invalid := map[string]string{
		"9007199254740992":    "above the maximum 9007199254740991",
		"9223372036854775807": "above the maximum 9007199254740991",
		"1e30":                "above the maximum",
		"1e400":               "above the maximum",
		"2.5":                 "not a whole number",
		`"333"`:               "not a number",
		"true":                "not a number",
		"0":                   "must be at least 1",
		"-1e400":              "must be at least 1",
	}
	for value, want := range invalid {
		raw := signClaims(t, key, jwt.MapClaims{"tid": "tid-1", "exp": testNoon.Add(time.Hour).Unix(), "tier": json.RawMessage(value)})
		_, err := VerifyToken(raw, publicKeys(key), testNoon)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("tier %s: error = %v, want ErrInvalidToken", value, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("tier %s: error = %v, want it to contain %q", value, err, want)
		}
	}
}
