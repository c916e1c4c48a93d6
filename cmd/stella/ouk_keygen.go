package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

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
allowed), or one typed at the prompt on a terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := format.validate(); err != nil {
				return err
			}
			keyPath := filepath.Join(dir, "cosign.key")
			pubPath := filepath.Join(dir, "cosign.pub")
			if !force {
				if _, err := os.Stat(keyPath); err == nil {
					return fmt.Errorf("%s exists; pass --force to replace it, or choose another --output-dir", keyPath)
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
