package main

import (
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/sign"
)

// verifyReport is the result of `stella ouk verify`.
type verifyReport struct {
	Kit      string `json:"kit"`
	Digest   string `json:"digest,omitempty"`
	Version  string `json:"version,omitempty"`
	Detached check  `json:"detached"`
	Embedded check  `json:"embedded"`
}

type check struct {
	// Status is "passed", "failed" or "skipped".
	Status string `json:"status"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	var keys []string
	var sigPath string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "verify --key PUB [--signature SIG] KIT",
		Short: "Check a kit's detached signature and the signature inside it",
		Long: `Check the detached signature (when --signature is given) and the signature
referrer inside the kit against the trusted keys: those given with --key and
the *.pub files in the store's keys folder. Every blob's digest is checked
as the kit is read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			dir, err := g.storeDir()
			if err != nil {
				return err
			}
			trusted, err := trustedKeys(dir, keys)
			if err != nil {
				return err
			}
			if len(trusted) == 0 {
				return usagef("no trusted key; pass --key cosign.pub or put it in %s/keys", dir)
			}
			rep := verifyReport{Kit: args[0]}
			rep.Detached = verifyDetached(trusted, args[0], sigPath)
			rep.Embedded = verifyEmbedded(cmd, trusted, args[0], &rep)
			if out.json() {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				if rep.Version != "" {
					fmt.Fprintf(w, "Kit %s (%s)\n", rep.Version, rep.Digest)
				}
				printCheck(w, "Detached signature", rep.Detached)
				printCheck(w, "Signature in kit", rep.Embedded)
			}
			if rep.Detached.Status == "failed" || rep.Embedded.Status == "failed" {
				return fmt.Errorf("kit %s did not verify: %w", args[0], errdef.ErrSignature)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted public key file (repeatable)")
	cmd.Flags().StringVar(&sigPath, "signature", "", "detached signature file written by stella ouk sign or cosign sign-blob")
	out.register(cmd)
	return cmd
}

func verifyDetached(keys []sign.TrustedKey, kit, sigPath string) check {
	if sigPath == "" {
		return check{Status: "skipped", Reason: "no --signature given"}
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	f, err := os.Open(kit)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	defer f.Close()
	key, err := sign.VerifyBlob(keys, f, sig)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	return check{Status: "passed", Key: key.Source}
}

func verifyEmbedded(cmd *cobra.Command, keys []sign.TrustedKey, kit string, rep *verifyReport) check {
	ctx := cmd.Context()
	k, err := build.OpenKit(ctx, kit)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	rep.Digest, rep.Version = k.Bundle.Digest.String(), k.Meta.Version
	subject, err := content.FetchAll(ctx, k.Source, k.Bundle)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	var reasons []error
	for _, d := range k.Index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		raw, err := content.FetchAll(ctx, k.Source, d)
		if err != nil {
			reasons = append(reasons, err)
			continue
		}
		bundleDesc, subj, err := sign.ParseReferrerManifest(raw)
		if err != nil || subj.Digest != k.Bundle.Digest {
			continue
		}
		bundle, err := content.FetchAll(ctx, k.Source, bundleDesc)
		if err != nil {
			reasons = append(reasons, err)
			continue
		}
		key, err := sign.VerifyManifest(keys, k.Bundle, subject, bundle)
		if err == nil {
			return check{Status: "passed", Key: key.Source}
		}
		reasons = append(reasons, err)
	}
	if len(reasons) == 0 {
		return check{Status: "failed", Reason: "the kit carries no signature"}
	}
	return check{Status: "failed", Reason: errors.Join(reasons...).Error()}
}

func printCheck(w interface{ Write([]byte) (int, error) }, name string, c check) {
	switch c.Status {
	case "passed":
		fmt.Fprintf(w, "%s: passed (key %s)\n", name, c.Key)
	case "skipped":
		fmt.Fprintf(w, "%s: skipped (%s)\n", name, c.Reason)
	default:
		fmt.Fprintf(w, "%s: FAILED: %s\n", name, c.Reason)
	}
}
