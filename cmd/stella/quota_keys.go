package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/oci/sign"
)

// loadQuotaKeys returns the public keys that verify quota tokens: those of
// the files that --quota-key names, then those of the *.pub files in dir,
// the store's keys/quota folder. A --quota-key file that is not a public
// key returns an error, because the user named it. A bad file in dir gets a
// warning on stderr that names it and is skipped, so the other keys still
// verify tokens. A key that cannot verify ES256 tokens and a file with more
// than one PEM block get a warning too.
func loadQuotaKeys(dir string, files []string, stderr io.Writer) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	seen := map[string]bool{}
	add := func(key sign.TrustedKey) {
		if seen[key.ID] {
			return
		}
		seen[key.ID] = true
		if warning := quotaKeyWarning(key); warning != "" {
			fmt.Fprintln(stderr, "warning:", warning)
		}
		keys = append(keys, key.Key)
	}

	for _, file := range files {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		key, err := loadQuotaKeyFile(file)
		if err != nil {
			return nil, fmt.Errorf("loading --quota-key: %w", err)
		}
		add(key)
	}

	paths, err := listQuotaKeyFiles(dir, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "warning: listing the token issuer keys in %s failed (%v), so none of them verifies "+
			"quota tokens; let every user who scans read and search the folder, such as with `chmod 0755 %s`\n",
			dir, err, shellQuote(dir))
	}
	for _, path := range paths {
		key, err := loadQuotaKeyFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "warning: skipping a token issuer key: %v; the other keys in %s still verify "+
				"quota tokens, and this file does once it is fixed or replaced\n", err, dir)
			continue
		}
		add(key)
	}
	return keys, nil
}

// listQuotaKeyFiles returns the *.pub regular files in dir, sorted by
// name, and none when dir does not exist. It prints a warning for each
// *.pub entry that is not a regular file, such as a symbolic link, or
// whose name starts with a dot, and skips it, as the kit key folder does.
func listQuotaKeyFiles(dir string, stderr io.Writer) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "."):
			fmt.Fprintf(stderr, "warning: skipping %s in the token issuer key folder: its name starts with a dot, "+
				"so ls and *.pub do not show it; rename it without the dot to trust the key, or remove it\n", path)
		case e.Type().IsRegular():
			paths = append(paths, path)
		case e.Type()&os.ModeSymlink != 0:
			fmt.Fprintf(stderr, "warning: skipping %s, a symbolic link in the token issuer key folder; "+
				"replace it with the public key file itself or remove it\n", path)
		case e.IsDir():
			fmt.Fprintf(stderr, "warning: skipping %s, a folder in the token issuer key folder; remove it\n", path)
		default:
			fmt.Fprintf(stderr, "warning: skipping %s, a %s in the token issuer key folder; "+
				"replace it with the public key file itself or remove it\n", path, regfile.TypeName(e.Type()))
		}
	}
	// os.ReadDir returns the entries sorted by name.
	return paths, nil
}

// loadQuotaKeyFile reads the public key of path, the first PEM block of the
// file, as kit keys are read.
func loadQuotaKeyFile(path string) (sign.TrustedKey, error) {
	keys, _, err := sign.LoadTrustedKeysFrom([]string{path}, nil)
	if err != nil {
		return sign.TrustedKey{}, err
	}
	if len(keys) != 1 {
		return sign.TrustedKey{}, fmt.Errorf("%s: found %d keys, expected 1", path, len(keys))
	}
	return keys[0], nil
}

// quotaKeyWarning returns a warning for a key that cannot verify quota
// tokens, or for a key file with more than one PEM block, of which only
// the first is read. It returns "" for a usable key.
func quotaKeyWarning(key sign.TrustedKey) string {
	if ec, ok := key.Key.(*ecdsa.PublicKey); !ok || ec.Curve != elliptic.P256() {
		return fmt.Sprintf("%s is an %s public key, but quota tokens are ES256, which only an ECDSA P-256 key "+
			"verifies, so it is not used for tokens; replace it with the token issuer's P-256 public key or remove it",
			key.Source, describePublicKey(key.Key))
	}
	raw, err := regfile.ReadFile(key.Source, "a PEM public key file such as cosign.pub")
	if err != nil {
		return ""
	}
	blocks := 0
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
	}
	if blocks > 1 {
		return fmt.Sprintf("%s contains %d PEM blocks, and only the first is used; "+
			"put each token issuer key in a .pub file of its own", key.Source, blocks)
	}
	return ""
}

// describePublicKey names the algorithm and size of key, such as
// "ECDSA P-384" or "RSA 2048-bit".
func describePublicKey(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	}
	return fmt.Sprintf("%T", key)
}

// warnTokenKeyInKitFolder prints a warning, with the command that moves
// the key, when a key in the store's kit key folder signed the token that
// id did not use. Earlier versions read token issuer keys from there.
func warnTokenKeyInKitFolder(stderr io.Writer, storeDir string, tok quota.Token, id quota.Identity) {
	untrusted := errors.Is(id.TokenError, errdef.ErrSignature) || errors.Is(id.TokenError, quota.ErrNoTokenKey)
	if tok.Raw == "" || !untrusted {
		return
	}
	kitDir := filepath.Join(storeDir, storeKeysDir)
	paths, err := listQuotaKeyFiles(kitDir, io.Discard)
	if err != nil {
		return
	}
	quotaDir := filepath.Join(storeDir, storeQuotaKeysDir)
	for _, path := range paths {
		key, err := loadQuotaKeyFile(path)
		if err != nil || !quota.SignedBy(tok.Raw, key.Key) {
			continue
		}
		fmt.Fprintf(stderr, "warning: quota: the token is signed by %s, but the keys in %s verify only kits, and "+
			"token issuer keys belong in %s; move the key there with `mkdir -p %s && mv %s %s/`, "+
			"or use cp in place of mv if the same key also verifies the kits you import\n",
			path, kitDir, quotaDir, shellQuote(quotaDir), shellQuote(path), shellQuote(quotaDir))
		return
	}
}
