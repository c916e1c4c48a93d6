package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
)

// PEM block types of the keys this package reads and writes.
const (
	// PEMTypeEncryptedSigstore is the block type of the private keys that
	// cosign v2 writes.
	PEMTypeEncryptedSigstore = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// PEMTypeEncryptedCosign is the block type of the private keys that
	// cosign releases before v2 wrote.
	PEMTypeEncryptedCosign = "ENCRYPTED COSIGN PRIVATE KEY"
	// PEMTypePKCS8 is an unencrypted PKCS #8 private key.
	PEMTypePKCS8 = "PRIVATE KEY"
	// PEMTypeEC is an unencrypted SEC 1 elliptic curve private key.
	PEMTypeEC = "EC PRIVATE KEY"
	// PEMTypePublic is a PKIX public key.
	PEMTypePublic = "PUBLIC KEY"
)

// maxKeyFileSize caps key files read by LoadTrustedKeys. A PEM public key is
// well under 4 KiB, so anything larger is not a key.
const maxKeyFileSize = 64 << 10

// ErrWrongPassword is returned by LoadPrivateKey when the password does not
// decrypt an encrypted private key.
var ErrWrongPassword = errors.New("wrong password for private key")

// ErrKeyMismatch is wrapped by the error of a well-formed signature that
// no trusted key verifies, as when another key signed. It wraps
// errdef.ErrSignature.
var ErrKeyMismatch = fmt.Errorf("%w", errdef.ErrSignature)

// TrustedKey is a public key that the site accepts signatures from.
type TrustedKey struct {
	// ID is the lower-case hex SHA-256 of the key's PKIX DER encoding.
	ID string
	// Key is the public key: *ecdsa.PublicKey or *rsa.PublicKey.
	Key crypto.PublicKey
	// Source is the file the key was read from, or a label given by the caller.
	Source string
	// ExtraBlocks counts the PEM blocks after the first in Source, which
	// are not read, so a caller can warn that their keys are not trusted.
	ExtraBlocks int
}

// GenerateKeyPair creates an ECDSA P-256 key pair in the format
// `cosign generate-key-pair` writes. privPEM is a PEM block of type
// "ENCRYPTED SIGSTORE PRIVATE KEY" containing the PKCS #8 key, encrypted with
// password by scrypt and NaCl secretbox and encoded as JSON. pubPEM is the
// PKIX "PUBLIC KEY" block.
// An empty password is allowed, as in cosign, but leaves the key unprotected.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding private key as PKCS #8: %w", err)
	}
	sealed, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting private key: %w", err)
	}
	pubPEM, err = MarshalPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: PEMTypeEncryptedSigstore, Bytes: sealed})
	return privPEM, pubPEM, nil
}

// MarshalPublicKey encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key as PKIX: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMTypePublic, Bytes: der}), nil
}

// LoadPrivateKey decodes the first PEM block of pemBytes as a signing key.
// It accepts cosign's encrypted keys (both block types), unencrypted PKCS #8
// "PRIVATE KEY" and SEC 1 "EC PRIVATE KEY" blocks; password is used only
// for the encrypted ones. A password that does not decrypt the key yields an
// error wrapping ErrWrongPassword. The key must be ECDSA or RSA.
func LoadPrivateKey(pemBytes, password []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("reading private key: no PEM block found; expected a cosign.key or a PKCS #8 PEM file")
	}

	var key any
	var err error
	switch block.Type {
	case PEMTypeEncryptedSigstore, PEMTypeEncryptedCosign:
		key, err = decryptPrivateKey(block.Bytes, password)
	case PEMTypePKCS8:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case PEMTypeEC:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case PEMTypePublic:
		return nil, errors.New("reading private key: the file contains a public key, but signing needs the private " +
			"key; give the matching private key, such as the cosign.key that `stella ouk keygen` and " +
			"`cosign generate-key-pair` write beside cosign.pub")
	default:
		return nil, fmt.Errorf("reading private key: unsupported PEM block type %q; expected %q, %q, %q or %q",
			block.Type, PEMTypeEncryptedSigstore, PEMTypeEncryptedCosign, PEMTypePKCS8, PEMTypeEC)
	}
	if err != nil {
		return nil, err
	}

	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("reading private key: unsupported key type %T; use an ECDSA or RSA key", key)
	}
}

// decryptPrivateKey opens a cosign encrypted key and parses the PKCS #8 inside.
func decryptPrivateKey(sealed, password []byte) (any, error) {
	der, err := encrypted.Decrypt(sealed, password)
	if err != nil {
		// The library reports a failed secretbox open, which is what a wrong
		// password causes, as "decryption failed"; every other error means a
		// malformed key file.
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, fmt.Errorf("decrypting private key: check the password (COSIGN_PASSWORD or the prompt): %w",
				ErrWrongPassword)
		}
		return nil, fmt.Errorf("decrypting private key: the encrypted key is malformed: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing decrypted private key as PKCS #8: %w", err)
	}
	return key, nil
}

// isPrivateKeyType reports whether a PEM block of type blockType contains a
// private key that LoadPrivateKey reads.
func isPrivateKeyType(blockType string) bool {
	switch blockType {
	case PEMTypeEncryptedSigstore, PEMTypeEncryptedCosign, PEMTypePKCS8, PEMTypeEC:
		return true
	}
	return false
}

// LoadPublicKey decodes the first PEM block of pemBytes as a PKIX "PUBLIC
// KEY". The key must be ECDSA or RSA.
func LoadPublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("reading public key: no PEM block found; expected a PEM public key file, such as cosign.pub")
	}
	if isPrivateKeyType(block.Type) {
		return nil, fmt.Errorf("reading public key: the file contains a private key (PEM block %q), but a trusted "+
			"key must be a public key; give the matching public key, such as the cosign.pub that `stella ouk keygen` "+
			"and `cosign generate-key-pair` write beside cosign.key", block.Type)
	}
	if block.Type != PEMTypePublic {
		return nil, fmt.Errorf("reading public key: PEM block type is %q, expected %q", block.Type, PEMTypePublic)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKIX public key: %w", err)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkPublicKey rejects key types that SignBlob and VerifyManifest cannot use.
func checkPublicKey(pub crypto.PublicKey) error {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		return nil
	case ed25519.PublicKey:
		return errors.New("reading public key: Ed25519 keys are not supported; use an ECDSA key from `stella ouk keygen` or `cosign generate-key-pair`")
	default:
		return fmt.Errorf("reading public key: unsupported key type %T; use an ECDSA or RSA key", pub)
	}
}

// KeyID returns the lower-case hex SHA-256 of pub's PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key as PKIX: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// LoadTrustedKeys reads every PEM public key in files and every *.pub file
// in dirs, in that order, with each directory's files sorted by name. A
// directory that does not exist is skipped. A file of files that does not
// exist or does not contain a public key is an error naming it. Such a
// file of dirs is left out, as LoadTrustedKeysFrom describes. A key found
// twice is returned once, with the first Source.
func LoadTrustedKeys(files []string, dirs []string) ([]TrustedKey, error) {
	keys, _, err := LoadTrustedKeysFrom(files, dirs)
	return keys, err
}

// SkippedKeyFile is a *.pub entry of a trusted-keys folder that gave no
// key. Either it is not a regular file, such as a named pipe, and was not
// read, or it could not be read or contains no usable public key.
type SkippedKeyFile struct {
	Path string
	// Type names the kind of file, such as "named pipe (FIFO)", for an
	// entry that is not a regular file. It is empty when Err is set.
	Type string
	// Err is the reason that a regular file gave no key.
	Err error
}

// LoadTrustedKeysFrom reads keys as LoadTrustedKeys does and also returns
// the *.pub entries of dirs that it skipped. It does not read entries that
// are not regular files, since reading a named pipe would block until a
// writer appears. A file of dirs that cannot be read or contains no usable
// public key, such as an SSH key put there by mistake, is skipped too. It
// must not stop the other keys there from verifying, and leaving it out
// only narrows what is trusted. A file of files that fails is still an
// error, because the caller named it.
func LoadTrustedKeysFrom(files []string, dirs []string) ([]TrustedKey, []SkippedKeyFile, error) {
	paths := append([]string(nil), files...)
	var skipped []SkippedKeyFile
	for _, dir := range dirs {
		found, skippedInDir, err := listPubFiles(dir)
		if err != nil {
			return nil, nil, err
		}
		paths = append(paths, found...)
		skipped = append(skipped, skippedInDir...)
	}

	var keys []TrustedKey
	seen := make(map[string]bool)
	for i, path := range paths {
		key, err := loadTrustedKeyFile(path)
		if err != nil && i >= len(files) {
			skipped = append(skipped, SkippedKeyFile{Path: path, Err: err})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if seen[key.ID] {
			continue
		}
		seen[key.ID] = true
		keys = append(keys, key)
	}
	return keys, skipped, nil
}

// listPubFiles returns the *.pub regular files in dir, sorted by name, and
// the *.pub entries that are not regular files.
func listPubFiles(dir string) ([]string, []SkippedKeyFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing trusted keys in %s: %w", dir, err)
	}
	var paths []string
	var skipped []SkippedKeyFile
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "."):
			// ls and the shell pattern *.pub do not show such a file, so an
			// operator who reviews the folder would not see it trusted.
			skipped = append(skipped, SkippedKeyFile{Path: path, Err: errors.New("its name starts with a dot, " +
				"so ls and *.pub do not show it; rename it without the dot to trust the key, or remove it")})
		case e.Type().IsRegular():
			paths = append(paths, path)
		case e.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, SkippedKeyFile{Path: path, Type: "symbolic link"})
		case e.IsDir():
			skipped = append(skipped, SkippedKeyFile{Path: path, Type: "folder"})
		default:
			skipped = append(skipped, SkippedKeyFile{Path: path, Type: regfile.TypeName(e.Type())})
		}
	}
	sort.Strings(paths)
	return paths, skipped, nil
}

func loadTrustedKeyFile(path string) (TrustedKey, error) {
	f, err := regfile.Open(path, "a PEM public key file such as cosign.pub")
	if errors.Is(err, fs.ErrNotExist) {
		return TrustedKey{}, fmt.Errorf("trusted key %s: no such file; check the path: %w", path, err)
	}
	if errors.Is(err, syscall.EISDIR) {
		return TrustedKey{}, fmt.Errorf("trusted key %s is a folder; give the public key file in it, such as %s, "+
			"with --key: %w", path, filepath.Join(path, "cosign.pub"), errdef.ErrInvalidArgument)
	}
	if err != nil {
		return TrustedKey{}, fmt.Errorf("reading trusted key: %w", err)
	}
	defer f.Close()

	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return TrustedKey{}, fmt.Errorf("reading trusted key %s: %w", path, err)
	}
	if len(raw) > maxKeyFileSize {
		return TrustedKey{}, fmt.Errorf("reading trusted key %s: file is larger than %d bytes, so it is not a public key", path, maxKeyFileSize)
	}

	pub, err := LoadPublicKey(raw)
	if err != nil {
		if sibling := publicKeyBeside(path, raw); sibling != "" {
			return TrustedKey{}, fmt.Errorf("%s: %w; the public key beside it is %s", path, err, sibling)
		}
		return TrustedKey{}, fmt.Errorf("%s: %w", path, err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("%s: %w", path, err)
	}
	extra := 0
	_, rest := pem.Decode(raw)
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		extra++
	}
	return TrustedKey{ID: id, Key: pub, Source: path, ExtraBlocks: extra}, nil
}

// publicKeyBeside returns the .pub file beside path when raw, the contents
// of path, is a private key and path ends in .key, as cosign.key does. It
// returns "" otherwise.
func publicKeyBeside(path string, raw []byte) string {
	block, _ := pem.Decode(raw)
	if block == nil || !isPrivateKeyType(block.Type) || !strings.HasSuffix(path, ".key") {
		return ""
	}
	sibling := strings.TrimSuffix(path, ".key") + ".pub"
	if info, err := os.Stat(sibling); err != nil || !info.Mode().IsRegular() {
		return ""
	}
	return sibling
}
