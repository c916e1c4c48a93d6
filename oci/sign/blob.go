package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
)

// maxSignatureSize caps a detached signature given to VerifyBlob. An ECDSA
// P-521 signature is 139 bytes and an RSA-8192 one 1 KiB, so 16 KiB in base64
// leaves ample room.
const maxSignatureSize = 16 << 10

// SignBlob signs the SHA-256 digest of everything read from r and returns
// the ASN.1 signature in standard base64, with no trailing newline, as
// `cosign sign-blob` writes it. ECDSA keys sign the digest directly and RSA
// keys use PKCS #1 v1.5, as cosign does.
func SignBlob(signer crypto.Signer, r io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("reading content to sign: %w", err)
	}
	sig, err := signDigest(signer, h.Sum(nil))
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sig)))
	base64.StdEncoding.Encode(out, sig)
	return out, nil
}

// signDigest signs a SHA-256 digest with an ECDSA or RSA signer.
func signDigest(signer crypto.Signer, digest []byte) ([]byte, error) {
	if signer == nil {
		return nil, errors.New("signing: no private key given")
	}
	if err := checkPublicKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	sig, err := signer.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing SHA-256 digest: %w", err)
	}
	return sig, nil
}

// VerifyBlob checks sig against the SHA-256 digest of everything read from r
// and returns the first of keys that verifies it. sig may be base64 (as
// `cosign sign-blob` writes it, surrounding white space allowed) or the raw
// ASN.1 bytes. No matching key, an empty key list or a malformed signature
// yields an error wrapping errdef.ErrSignature.
func VerifyBlob(keys []TrustedKey, r io.Reader, sig []byte) (TrustedKey, error) {
	raw, err := decodeSignature(sig)
	if err != nil {
		return TrustedKey{}, err
	}
	if len(keys) > 0 && !fitsAnyKey(keys, raw) {
		problem := fmt.Sprintf("it is %d bytes of binary data", len(raw))
		if isBase64Text(bytes.TrimSpace(sig)) {
			problem = fmt.Sprintf("its base64 decodes to %d bytes", len(raw))
		}
		return TrustedKey{}, &MalformedSignatureError{problem +
			", which are no ECDSA signature in ASN.1 and no RSA signature of the size of a trusted key"}
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return TrustedKey{}, fmt.Errorf("reading signed content: %w", err)
	}
	return verifyDigest(keys, "", h.Sum(nil), raw)
}

// fitsAnyKey reports whether sig has the form of a signature by one of
// keys: an ASN.1 sequence of two integers for an ECDSA key, or as many bytes
// as the modulus of an RSA key. A file that fits no key, such as the kit
// given in place of its signature, is no signature at all.
func fitsAnyKey(keys []TrustedKey, sig []byte) bool {
	for _, k := range keys {
		switch key := k.Key.(type) {
		case *ecdsa.PublicKey:
			var pair struct{ R, S *big.Int }
			if rest, err := asn1.Unmarshal(sig, &pair); err == nil && len(rest) == 0 {
				return true
			}
		case *rsa.PublicKey:
			if len(sig) == key.Size() {
				return true
			}
		}
	}
	return false
}

// MalformedSignatureError is the error of a detached signature that is
// empty, too large, in no signature encoding or of no trusted key's
// signature form. Examples are a public key or the kit given in its place.
// It wraps errdef.ErrSignature.
type MalformedSignatureError struct {
	// Problem is the defect found in the file, such as "it is empty".
	Problem string
}

func (e *MalformedSignatureError) Error() string {
	return "not a signature: " + e.Problem + ": " + errdef.ErrSignature.Error()
}

func (e *MalformedSignatureError) Unwrap() error { return errdef.ErrSignature }

// decodeSignature accepts base64 or raw ASN.1 signature bytes. Its errors
// are MalformedSignatureError.
func decodeSignature(sig []byte) ([]byte, error) {
	if len(sig) > maxSignatureSize {
		return nil, &MalformedSignatureError{fmt.Sprintf("it has %d bytes, over the %d byte limit", len(sig), maxSignatureSize)}
	}
	trimmed := bytes.TrimSpace(sig)
	if len(trimmed) == 0 {
		return nil, &MalformedSignatureError{"it is empty"}
	}
	if block, _ := pem.Decode(trimmed); block != nil {
		return nil, &MalformedSignatureError{fmt.Sprintf("it is a PEM block of type %q, but a signature is one line of base64", block.Type)}
	}
	// Raw ASN.1 always holds bytes outside the base64 alphabet, such as the
	// INTEGER tag 0x02, so text made only of base64 characters is decoded.
	if !isBase64Text(trimmed) {
		// Raw ASN.1 holds the tag 0x02, which is no printable character,
		// and the 256 or more bytes of a raw RSA signature are all
		// printable with negligible chance, so text is no raw signature.
		if isPrintableText(trimmed) {
			return nil, &MalformedSignatureError{"it is text, but not base64"}
		}
		return derSignature(sig), nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(trimmed))
	if err != nil {
		return nil, &MalformedSignatureError{fmt.Sprintf("its base64 does not decode: %v", err)}
	}
	return raw, nil
}

// isPrintableText reports whether b holds only printable ASCII characters
// and white space.
func isPrintableText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

func isBase64Text(b []byte) bool {
	for _, c := range b {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", rune(c)) {
			return false
		}
	}
	return true
}

// verifyDigest returns the first key that verifies sig over a SHA-256
// digest, trying the key whose hint matches first.
func verifyDigest(keys []TrustedKey, hint string, digest, sig []byte) (TrustedKey, error) {
	if len(keys) == 0 {
		return TrustedKey{}, fmt.Errorf("no trusted keys to verify with; add the signer's cosign.pub: %w",
			errdef.ErrSignature)
	}
	for _, k := range orderByHint(keys, hint) {
		if verifyWithKey(k.Key, digest, sig) {
			return k, nil
		}
	}
	return TrustedKey{}, fmt.Errorf("signature does not verify with any of the %d trusted keys: %s: %w",
		len(keys), KeyNames(keys), ErrKeyMismatch)
}

func verifyWithKey(pub crypto.PublicKey, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	default:
		return false
	}
}

// orderByHint moves the keys whose sigstore key hint equals hint to the front.
func orderByHint(keys []TrustedKey, hint string) []TrustedKey {
	if hint == "" {
		return keys
	}
	ordered := make([]TrustedKey, 0, len(keys))
	var rest []TrustedKey
	for _, k := range keys {
		if h, err := keyHint(k.Key); err == nil && h == hint {
			ordered = append(ordered, k)
		} else {
			rest = append(rest, k)
		}
	}
	return append(ordered, rest...)
}

// KeyNames names each key for messages: its file, when known, and the
// first 12 hex digits of its ID, such as "keys/cosign.pub (ID e392ee311741)".
func KeyNames(keys []TrustedKey) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		id := k.ID
		if len(id) > 12 {
			id = id[:12]
		}
		names[i] = "ID " + id
		if k.Source != "" {
			names[i] = fmt.Sprintf("%s (ID %s)", k.Source, id)
		}
	}
	return strings.Join(names, ", ")
}

// derSignature returns the ASN.1 DER sequence at the start of a raw
// signature, cut to the length its header gives. Trimming white space
// instead would cut a signature whose last byte happens to be 0x0a or 0x20.
// Bytes that are not such a sequence come back unchanged.
func derSignature(sig []byte) []byte {
	if len(sig) < 2 || sig[0] != 0x30 {
		return sig
	}
	n := 0
	switch length := int(sig[1]); {
	case length < 0x80:
		n = 2 + length
	case length == 0x81 && len(sig) >= 3:
		n = 3 + int(sig[2])
	case length == 0x82 && len(sig) >= 4:
		n = 4 + (int(sig[2])<<8 | int(sig[3]))
	default:
		return sig
	}
	if n > len(sig) {
		return sig
	}
	return sig[:n]
}
