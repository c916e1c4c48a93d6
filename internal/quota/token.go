package quota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"stella-ops.org/ouk/internal/errdef"
)

// MaxTokenSize is the longest token VerifyToken parses, in bytes.
const MaxTokenSize = 8 << 10

// ErrInvalidToken is returned by VerifyToken for a token that is malformed,
// expired, not ES256, lacks a required claim or carries an invalid one.
// Signature failures wrap errdef.ErrSignature as well.
var ErrInvalidToken = errors.New("invalid quota token")

// ErrNoTokenKey is wrapped, beside ErrInvalidToken, by the VerifyToken
// error for a call without an ECDSA P-256 key, the only kind of key that
// verifies ES256 tokens.
var ErrNoTokenKey = errors.New("no ECDSA P-256 public key to verify the token with")

// Claims are the verified claims of a quota token.
type Claims struct {
	// Issuer is the iss claim.
	Issuer string `json:"iss,omitempty"`
	// Subject is the sub claim: the account the token was issued to.
	Subject string `json:"sub,omitempty"`
	// TokenID is the tid claim. It is hashed with the store's salt for
	// counting and is never stored.
	TokenID string `json:"-"`
	// Tier is the tier claim, the number of scans allowed per UTC day; 0
	// when the token has none, so the policy's free tier limit applies.
	Tier int `json:"tier,omitempty"`
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time `json:"exp"`
}

// tokenClaims is the JSON form of the claims the parser decodes into. The
// time claims stay raw, so that VerifyToken can check their JSON type and
// range itself and name the claim in its message.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt json.RawMessage  `json:"exp"`
	NotBefore json.RawMessage  `json:"nbf"`
	IssuedAt  json.RawMessage  `json:"iat"`
	TokenID   string           `json:"tid"`
	Tier      json.RawMessage  `json:"tier"`
}

// The parser runs without claims validation, so these getters serve only
// to satisfy jwt.Claims. VerifyToken checks the time claims.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// VerifyToken checks raw offline: the algorithm must be ES256, the signature
// must verify with one of keys (keys other than ECDSA P-256 are skipped), exp
// must be present and after now, nbf, when present, must not be after now,
// and tid must be present. exp, nbf and iat must be JSON numbers of seconds
// since 1970-01-01 UTC (RFC 7519 NumericDate) within the years 0 to 9999,
// because RFC 3339 times, and so the JSON output, cannot hold other years.
// A tier claim, when present, must be a whole number from 1 to MaxLimit.
// The JOSE header must not have a crit parameter, because this verifier
// supports no extension that it could list (RFC 7515 section 4.1.11). Any
// failure returns an error wrapping ErrInvalidToken whose one-line message
// gives the reason.
func VerifyToken(raw string, keys []crypto.PublicKey, now time.Time) (Claims, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, fmt.Errorf("token is %d bytes, more than the maximum %d: %w",
			len(raw), MaxTokenSize, ErrInvalidToken)
	}
	set := p256Keys(keys)
	if len(set.Keys) == 0 {
		return Claims{}, fmt.Errorf("%w: %w", ErrNoTokenKey, ErrInvalidToken)
	}

	// Claims are checked below, after the signature, with messages that
	// name the claim.
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithoutClaimsValidation(),
	)
	var tc tokenClaims
	token, err := parser.ParseWithClaims(raw, &tc, func(*jwt.Token) (any, error) { return set, nil })
	if err != nil {
		return Claims{}, describeTokenError(token, err)
	}
	if crit, ok := token.Header["crit"]; ok {
		listed, _ := json.Marshal(crit)
		return Claims{}, fmt.Errorf("token header lists %s under crit, but this verifier supports no JWS "+
			"extension, so the token is invalid (RFC 7515 section 4.1.11): %w", shortJSON(listed), ErrInvalidToken)
	}
	expires, err := checkTimeClaims(&tc, now)
	if err != nil {
		return Claims{}, err
	}

	// NOTE: iss is returned but not checked, because no expected issuer is
	// configured. Only the trusted keys decide which tokens are accepted.
	claims := Claims{
		Issuer:    tc.Issuer,
		Subject:   tc.Subject,
		TokenID:   tc.TokenID,
		ExpiresAt: expires,
	}
	if tc.TokenID == "" {
		return Claims{}, fmt.Errorf("token has no tid claim: %w", ErrInvalidToken)
	}
	tier, err := tierClaim(tc.Tier)
	if err != nil {
		return Claims{}, err
	}
	claims.Tier = tier
	return claims, nil
}

// tierClaim decodes the raw JSON value of the tier claim, returning 0 for
// an absent or null claim. Any JSON spelling of a whole number, such as
// 500, 500.0 or 5e2, is accepted.
func tierClaim(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	// As in numericDate, a number too large for a float64 reads as an
	// infinity, which the maximum rejects.
	tier, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("token tier claim is %s, not a number; the issuer must write it as a JSON number: %w",
			shortJSON(raw), ErrInvalidToken)
	}
	switch {
	case tier != math.Trunc(tier):
		return 0, fmt.Errorf("token tier claim %s is not a whole number: %w", shortJSON(raw), ErrInvalidToken)
	case tier < 1:
		return 0, fmt.Errorf("token tier claim %s: must be at least 1: %w", shortJSON(raw), ErrInvalidToken)
	case tier > MaxLimit:
		return 0, fmt.Errorf("token tier claim %s is above the maximum %d, the largest whole number that "+
			"every JSON reader holds exactly: %w", shortJSON(raw), MaxLimit, ErrInvalidToken)
	}
	return int(tier), nil
}

// checkTimeClaims checks exp, nbf and iat of tc against now and returns
// exp as a UTC time.
func checkTimeClaims(tc *tokenClaims, now time.Time) (time.Time, error) {
	expires, present, err := numericDate("exp", tc.ExpiresAt)
	if err != nil {
		return time.Time{}, err
	}
	if !present {
		return time.Time{}, fmt.Errorf("token has no exp claim: %w", ErrInvalidToken)
	}
	notBefore, hasNotBefore, err := numericDate("nbf", tc.NotBefore)
	if err != nil {
		return time.Time{}, err
	}
	// iat is not compared with now, but an out-of-range value shows an
	// issuer that writes the wrong unit, so it is rejected like exp.
	if _, _, err := numericDate("iat", tc.IssuedAt); err != nil {
		return time.Time{}, err
	}
	if !now.Before(expires) {
		return time.Time{}, fmt.Errorf("token expired at %s: %w", expires.Format(time.RFC3339), ErrInvalidToken)
	}
	if hasNotBefore && now.Before(notBefore) {
		return time.Time{}, fmt.Errorf("token is not valid yet: its nbf claim is %s: %w",
			notBefore.Format(time.RFC3339), ErrInvalidToken)
	}
	return expires, nil
}

// Bounds of a NumericDate that VerifyToken accepts, in seconds since
// 1970-01-01 UTC: from 0000-01-01T00:00:00Z to the end of 9999-12-31,
// the range of RFC 3339 and of time.Time's MarshalJSON.
var (
	minNumericDate = float64(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	endNumericDate = float64(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
)

// numericDate decodes the raw JSON value of the time claim name. It returns
// present false for an absent or null claim, and an error wrapping
// ErrInvalidToken for a value that is not a JSON number or falls outside
// the years 0 to 9999.
func numericDate(name string, raw json.RawMessage) (t time.Time, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	// The JSON decoder accepted raw, so ParseFloat reads it unless it is
	// a string, a boolean, an object or an array. A number too large for
	// a float64 reads as an infinity with ErrRange, which the range check
	// rejects.
	seconds, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return time.Time{}, false, fmt.Errorf("token %s claim is %s, not a number; "+
			"the issuer must write it as a JSON number of seconds since 1970-01-01 UTC: %w",
			name, shortJSON(raw), ErrInvalidToken)
	}
	if seconds < minNumericDate || seconds >= endNumericDate {
		hint := ""
		if ms := seconds / 1000; ms >= minNumericDate && ms < endNumericDate {
			hint = " It looks like milliseconds, but the claim is in seconds."
		}
		return time.Time{}, false, fmt.Errorf("token %s claim %s is outside the years 0 to 9999.%s "+
			"Ask the token issuer for a token with the claim in seconds since 1970-01-01 UTC: %w",
			name, shortJSON(raw), hint, ErrInvalidToken)
	}
	whole, fraction := math.Modf(seconds)
	return time.Unix(int64(whole), int64(fraction*1e9)).UTC(), true, nil
}

// shortJSON returns raw for a message, cut to 40 bytes.
func shortJSON(raw json.RawMessage) string {
	const maxLength = 40
	if len(raw) > maxLength {
		return string(raw[:maxLength]) + "…"
	}
	return string(raw)
}

// SignedBy reports whether the ES256 signature of raw verifies with key,
// whatever its claims. A caller can use it to find which of the keys that
// are not trusted for tokens, such as kit keys, signed a token.
func SignedBy(raw string, key crypto.PublicKey) bool {
	set := p256Keys([]crypto.PublicKey{key})
	if len(set.Keys) == 0 || len(raw) > MaxTokenSize {
		return false
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithoutClaimsValidation(),
	)
	_, err := parser.Parse(raw, func(*jwt.Token) (any, error) { return set, nil })
	return err == nil
}

// p256Keys returns the ECDSA P-256 keys of keys as a jwt key set.
func p256Keys(keys []crypto.PublicKey) jwt.VerificationKeySet {
	var set jwt.VerificationKeySet
	for _, k := range keys {
		ec, ok := k.(*ecdsa.PublicKey)
		if ok && ec != nil && ec.Curve == elliptic.P256() {
			set.Keys = append(set.Keys, ec)
		}
	}
	return set
}

// describeTokenError maps a parser error to a one-line reason wrapping
// ErrInvalidToken.
func describeTokenError(token *jwt.Token, err error) error {
	alg := ""
	if token != nil && token.Method != nil {
		alg = token.Method.Alg()
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%v: %w", err, ErrInvalidToken)
	case alg != "" && alg != jwt.SigningMethodES256.Alg():
		return fmt.Errorf("token algorithm %q is not ES256: %w", alg, ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("token algorithm is missing or unknown: %w", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("token signature matches no trusted quota key: %w (%w)", ErrInvalidToken, errdef.ErrSignature)
	}
	return fmt.Errorf("token rejected: %v: %w", err, ErrInvalidToken)
}
