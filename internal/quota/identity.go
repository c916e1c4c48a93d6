package quota

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
)

// Mode is the counting mode: anonymous per host, or per token.
type Mode string

const (
	// ModeAnonymous counts scans per host because no valid token was given.
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

	// hash is the hex SHA-256 of the store's salt and the token ID or host
	// identity: the only form in which an identity reaches the store.
	hash string
}

// Hash returns the salted hex SHA-256 that names the identity's counters.
func (id Identity) Hash() string { return id.hash }

// HostIdentity returns the host name and, when readable, the contents of
// /etc/machine-id, joined by a newline. Neither is secret: the salt makes the
// stored hash unlinkable across stores.
func HostIdentity() string {
	host, _ := os.Hostname()
	machineID, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		return host
	}
	return host + "\n" + strings.TrimSpace(string(machineID))
}

// hashIdentity returns hex SHA-256 over the salt, a domain label and the
// value, so a token ID can never hash like a host identity.
func hashIdentity(salt []byte, mode Mode, value string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte{0})
	h.Write([]byte(mode))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return hex.EncodeToString(h.Sum(nil))
}
