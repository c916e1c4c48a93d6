package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/oci/sign"
)

func newSignCommand(g *globalOptions) *cobra.Command {
	var key, out string
	var format outputFlag
	cmd := &cobra.Command{
		Use:   "sign --key KEY KIT",
		Short: "Write a detached signature KIT.sig that cosign verify-blob accepts",
		Long: `Sign the kit file as a blob and write the base64 signature to KIT.sig, so
operators can check the file before importing it:

  cosign verify-blob --key cosign.pub --signature KIT.sig --insecure-ignore-tlog KIT

stella ouk verify --signature reads KIT.sig too, but import and watch do
not: they check only the signature inside the kit, which stella ouk build
--key writes. KIT.sig therefore does not make an unsigned kit importable.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := format.validate(); err != nil {
				return err
			}
			if key == "" {
				return usagef("no signing key given; pass --key cosign.key")
			}
			kit := args[0]
			if out == "" {
				out = kit + ".sig"
			}
			err := checkOutputs([]namedPath{{flag: "--output-signature", path: out}}, []namedPath{{flag: "KIT", path: kit}, {flag: "--key", path: key}})
			if err != nil {
				return err
			}
			// Checked before the key, whose password may be prompted for.
			if err := regfile.Check(kit, "the kit file to sign"); err != nil {
				return err
			}
			if info, err := os.Stat(kit); err == nil && info.IsDir() {
				return usagef("%s is a folder; sign signs a kit file (.tar, .tar.gz or .tar.zst) as a blob. "+
					"A layout folder carries the signature that stella ouk build --key wrote inside it, "+
					"which stella ouk verify checks", kit)
			}
			signer, err := loadSigner(g, key)
			if err != nil {
				return err
			}
			f, err := regfile.Open(kit, "the kit file to sign")
			if err != nil {
				return fmt.Errorf("opening kit: %w", err)
			}
			defer f.Close()
			sig, err := sign.SignBlob(signer, f)
			if err != nil {
				return fmt.Errorf("signing %s: %w", kit, err)
			}
			removeFolders, err := build.CreateParentFolder(out)
			if err != nil {
				return err
			}
			defer removeFolders()
			// A temporary file renamed into place leaves an earlier
			// signature whole when the write fails, as keygen does.
			temp, err := writeTempFile(out, sig, 0o644)
			if err != nil {
				return fmt.Errorf("writing signature %s: %w", out, err)
			}
			if err := os.Rename(temp, out); err != nil {
				os.Remove(temp)
				return fmt.Errorf("writing signature %s: %w", out, err)
			}
			if format.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"kit": kit, "signature": out})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signature written to %s\n", out)
			return nil
		},
	}
	cmd.Flags().Var(newOnceString(&key), "key", "private key, ECDSA or RSA (cosign.key, or PKCS#8 or SEC 1 EC PEM)")
	cmd.Flags().StringVar(&out, "output-signature", "", "signature file to write (default KIT.sig)")
	format.register(cmd)
	return cmd
}
