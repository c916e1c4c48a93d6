package main

import (
	"fmt"
	"os"
	"path/filepath"

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
create keys; set COSIGN_PASSWORD to protect the key.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := format.validate(); err != nil {
				return err
			}
			keyPath := filepath.Join(dir, "cosign.key")
			pubPath := filepath.Join(dir, "cosign.pub")
			if !force {
				if _, err := os.Stat(keyPath); err == nil {
					return &existsError{msg: fmt.Sprintf("%s exists; pass --force to replace it, or choose another --output-dir", keyPath)}
				}
			}
			pw, err := keyPassword("Enter password for private key: ", true)
			if err != nil {
				return err
			}
			priv, pub, err := sign.GenerateKeyPair(pw)
			if err != nil {
				return fmt.Errorf("generating key pair: %w", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", dir, err)
			}
			if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
				return fmt.Errorf("writing private key: %w", err)
			}
			if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
				return fmt.Errorf("writing public key: %w", err)
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
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing cosign.key")
	format.register(cmd)
	return cmd
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
