package quota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
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

// tokenClaims is the JSON form of the claims the parser decodes into.
type tokenClaims struct {
	jwt.RegisteredClaims
	TokenID string `json:"tid"`
	Tier    *int   `json:"tier"`
}

// VerifyToken checks raw offline: the algorithm must be ES256, the signature
// must verify with one of keys (keys other than ECDSA P-256 are skipped), exp
// must be present and after now, and tid must be present. A tier claim, when
// present, must be positive. It has no upper bound, because keys, not the
// claim, decide which tokens are trusted. Any failure returns an error
// wrapping ErrInvalidToken whose one-line message gives the reason.
func VerifyToken(raw string, keys []crypto.PublicKey, now time.Time) (Claims, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, fmt.Errorf("token is %d bytes, more than the maximum %d: %w",
			len(raw), MaxTokenSize, ErrInvalidToken)
	}
	set := p256Keys(keys)
	if len(set.Keys) == 0 {
		return Claims{}, fmt.Errorf("no ECDSA P-256 public key to verify the token with; "+
			"put the token issuer's public key in <store>/keys/quota or pass --quota-key: %w", ErrInvalidToken)
	}

	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var tc tokenClaims
	token, err := parser.ParseWithClaims(raw, &tc, func(*jwt.Token) (any, error) { return set, nil })
	if err != nil {
		return Claims{}, describeTokenError(token, &tc, err)
	}

	// NOTE: iss is returned but not checked, because no expected issuer is
	// configured. Only the trusted keys decide which tokens are accepted.
	claims := Claims{
		Issuer:    tc.Issuer,
		Subject:   tc.Subject,
		TokenID:   tc.TokenID,
		ExpiresAt: tc.ExpiresAt.Time.UTC(),
	}
	if tc.TokenID == "" {
		return Claims{}, fmt.Errorf("token has no tid claim: %w", ErrInvalidToken)
	}
	if tc.Tier != nil {
		if *tc.Tier < 1 {
			return Claims{}, fmt.Errorf("token tier claim %d: must be at least 1: %w", *tc.Tier, ErrInvalidToken)
		}
		claims.Tier = *tc.Tier
	}
	return claims, nil
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
func describeTokenError(token *jwt.Token, tc *tokenClaims, err error) error {
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
		return fmt.Errorf("token signature matches no trusted quota key; put the token issuer's public key "+
			"in <store>/keys/quota or pass --quota-key: %w (%w)", ErrInvalidToken, errdef.ErrSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("token expired at %s: %w",
			tc.ExpiresAt.Time.UTC().Format(time.RFC3339), ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("token has no exp claim: %w", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("token is not valid yet (nbf in the future): %w", ErrInvalidToken)
	}
	return fmt.Errorf("token rejected: %v: %w", err, ErrInvalidToken)
}
