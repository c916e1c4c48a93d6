package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/sign"
)

func newKeygenCommand(g *globalOptions) *cobra.Command {
	var dir string
	var force bool
	var format outputFlag
	cmd := &cobra.Command{
		Use:   "keygen --output-dir DIR",
		Short: "Create a signing key pair (cosign.key, cosign.pub) in cosign's format",
		Long: `Create an ECDSA P-256 key pair as cosign generate-key-pair does. The private
key is encrypted with the password in $COSIGN_PASSWORD (an empty value is
allowed), or one typed at the prompt on a terminal. Without either, or with
an empty password, keygen encrypts the key with an empty password, which
protects nothing, prints a warning and exits with 0, so that scripts can
create keys; set COSIGN_PASSWORD to protect the key.

Keygen rejects a folder that already contains cosign.key or cosign.pub,
so that it never replaces a trusted public key by accident, and --force
replaces them. The private key gets mode 0600 and the public key 0644,
also when --force replaces files with other modes. A cosign.key or
cosign.pub that is a device, a named pipe or a socket is rejected, also
with --force, since keygen would replace it with a regular file.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := format.validate(); err != nil {
				return err
			}
			if err := checkTilde("--output-dir", dir); err != nil {
				return err
			}
			if err := checkOutputOutsideSystem("--output-dir", dir, dir); err != nil {
				return err
			}
			keyPath := filepath.Join(dir, "cosign.key")
			pubPath := filepath.Join(dir, "cosign.pub")
			// Also with --force, because renaming the new key file over a
			// device, a named pipe or a socket would replace it.
			for _, p := range []string{keyPath, pubPath} {
				if kind, special := specialFileType(p); special {
					return usagef("%s is a %s, not a regular file; keygen writes a new file and renames it over "+
						"it, which would replace the %s; remove it, or choose another --output-dir", p, kind, kind)
				}
			}
			if !force {
				if err := checkNoKeyFiles(keyPath, pubPath); err != nil {
					return err
				}
			}
			pw, err := keyPassword(g, "Enter password for private key: ", true)
			if err != nil {
				return err
			}
			priv, pub, err := sign.GenerateKeyPair(pw)
			if err != nil {
				return fmt.Errorf("generating key pair: %w", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				if link, target, ok := danglingLink(dir); ok && errors.Is(err, syscall.EEXIST) {
					return usagef("--output-dir %s: %s is a symbolic link to %s, which does not exist; create "+
						"that folder, or give another --output-dir", dir, link, target)
				}
				if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
					return usagef("--output-dir %s is a file, or lies under one, not a folder; give a folder to "+
						"write cosign.key and cosign.pub in", dir)
				}
				return fmt.Errorf("creating %s: %w", dir, err)
			}
			if err := writeKeyPair(keyPath, priv, pubPath, pub); err != nil {
				return err
			}
			if len(pw) == 0 && !g.quiet {
				fmt.Fprintln(cmd.ErrOrStderr(), unprotectedKeyWarning(keyPath))
			}
			if format.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"privateKey": keyPath, "publicKey": pubPath})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "output-dir", ".", "folder to write cosign.key and cosign.pub in")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing cosign.key or cosign.pub")
	format.register(cmd)
	return cmd
}

// checkNoKeyFiles returns an existsError that names those of the key
// files that exist.
func checkNoKeyFiles(paths ...string) error {
	var existing []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		}
	}
	switch len(existing) {
	case 0:
		return nil
	case 1:
		return &existsError{msg: fmt.Sprintf("%s exists; pass --force to replace it, or choose another --output-dir",
			existing[0])}
	}
	return &existsError{msg: fmt.Sprintf("%s exist; pass --force to replace them, or choose another --output-dir",
		strings.Join(existing, " and "))}
}

// writeKeyPair writes both keys to temporary files beside their paths and
// then renames them into place. So a failed write leaves the earlier files
// whole, and a replaced private key gets mode 0600 whatever mode the
// earlier file had.
// NOTE: a crash between the two renames leaves the new private key beside
// the earlier public key.
func writeKeyPair(keyPath string, priv []byte, pubPath string, pub []byte) error {
	keyTemp, err := writeTempFile(keyPath, priv, 0o600)
	if err != nil {
		return fmt.Errorf("writing private key %s: %w", keyPath, err)
	}
	pubTemp, err := writeTempFile(pubPath, pub, 0o644)
	if err != nil {
		os.Remove(keyTemp)
		return fmt.Errorf("writing public key %s: %w", pubPath, err)
	}
	if err := os.Rename(keyTemp, keyPath); err != nil {
		os.Remove(keyTemp)
		os.Remove(pubTemp)
		return fmt.Errorf("writing private key %s: %w", keyPath, err)
	}
	if err := os.Rename(pubTemp, pubPath); err != nil {
		os.Remove(pubTemp)
		return fmt.Errorf("writing public key %s: %w; %s already contains the new private key, "+
			"so run keygen again with --force", pubPath, err, keyPath)
	}
	if err := syncFolder(filepath.Dir(keyPath)); err != nil {
		return fmt.Errorf("syncing the folder of %s: %w", keyPath, err)
	}
	return nil
}

// writeTempFile writes data with the given mode to a new hidden file in
// the folder of path, syncs it and returns its name.
func writeTempFile(path string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		// Chmod, unlike the mode given at creation, ignores the umask.
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncFolder flushes the entries of the folder dir to disk, so that a
// rename in it survives a power cut.
func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unprotectedKeyWarning returns the warning for a private key written
// with an empty password, with where the empty password came from and how
// to set one.
func unprotectedKeyWarning(keyPath string) string {
	cause := "the password typed at the prompt is empty"
	if _, set := os.LookupEnv("COSIGN_PASSWORD"); set {
		cause = "COSIGN_PASSWORD is empty"
	} else if !isTerminal(os.Stdin) {
		cause = "COSIGN_PASSWORD is not set and standard input is not a terminal to ask for a password"
	}
	return fmt.Sprintf("warning: %s, so the private key %s is not protected by a password; "+
		"to protect it, set COSIGN_PASSWORD (or run on a terminal to type one) and run keygen again with --force",
		cause, keyPath)
}

// existsError is the error of a command that would replace a file it does
// not overwrite without --force. It is an errdef.ErrAlreadyExists, for the
// reason of a JSON failure object, without that kind's text in the message.
type existsError struct{ msg string }

func (e *existsError) Error() string { return e.msg }

func (e *existsError) Is(target error) bool { return target == errdef.ErrAlreadyExists }

// danglingLink returns the first of dir and the folders above it that is a
// symbolic link whose target does not exist, with that target. MkdirAll
// fails on such a link with EEXIST, as it does on a file.
func danglingLink(dir string) (link, target string, ok bool) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		info, err := os.Lstat(d)
		if err == nil && info.Mode()&os.ModeSymlink != 0 {
			if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
				target, _ := os.Readlink(d)
				return d, target, true
			}
		}
		if filepath.Dir(d) == d {
			return "", "", false
		}
	}
}
