package quota

import (
	"crypto/sha256"
	"encoding/hex"
)

// Mode is the counting mode: anonymous per store, or per token.
type Mode string

const (
	// ModeAnonymous counts scans per store because no valid token was given.
	ModeAnonymous Mode = "anonymous"
	// ModeToken counts scans per token ID of a verified token.
	ModeToken Mode = "token"
)

// Identity is whom a scan is counted for, as returned by Quota.Identify.
type Identity struct {
	// Mode is ModeToken for a verified token, else ModeAnonymous.
	Mode Mode
	// Claims are the verified token's claims; nil in anonymous mode.
	Claims *Claims
	// Warning is one line giving the reason a given token was not used, or
	// empty when there was no token or it verified.
	Warning string
	// TokenError is the VerifyToken error of a given token that was not
	// used, or nil.
	TokenError error

	// hash is the hex SHA-256 of the store's salt, the mode and the token
	// ID or, for anonymous scans, a fixed value. It is the only form in
	// which an identity reaches the store.
	hash string
}

// Hash returns the salted hex SHA-256 that names the identity's counters.
func (id Identity) Hash() string { return id.hash }

// anonymousValue is the fixed value that an anonymous identity hashes with
// the salt. It is the same on every host, so all anonymous scans of one
// store share one count, including scans from short-lived containers that
// mount the store. Earlier versions hashed the host name and
// /etc/machine-id here, so the anonymous counters they stored are not read
// any more.
const anonymousValue = "store"

// hashIdentity returns hex SHA-256 over the salt, a domain label and the
// value, so a token ID can never hash like the anonymous identity.
func hashIdentity(salt []byte, mode Mode, value string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte{0})
	h.Write([]byte(mode))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return hex.EncodeToString(h.Sum(nil))
}
