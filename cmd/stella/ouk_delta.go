package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

type deltaOptions struct {
	from, to, output, key string
	format                string
}

func newDeltaCommand(g *globalOptions) *cobra.Command {
	o := &deltaOptions{}
	cmd := &cobra.Command{
		Use:   "delta --from OLD --to NEW -o DELTA [--key KEY]",
		Short: "Write the delta that turns one kit into the next",
		Long: `Write a delta kit: the new kit's signed bundle index and every manifest,
index and config it reaches, but only the blobs the old kit lacks, plus a
signed delta manifest that names the old kit as its base. Importing the
delta over a store that holds the old kit activates exactly the new kit's
bundle digest, as importing the full new kit would.

OLD and NEW are kit files, OCI layout folders, or bundle digests
(sha256:...) of kits held in the store. The compression follows the name of
DELTA (.tar, .tar.gz, .tar.zst).`,
		Example: `  stella ouk delta --from kit-0601.tar.zst --to kit-0602.tar.zst -o delta-0602.tar.zst --key cosign.key
  stella ouk delta --from sha256:3f1c... --to kit-0602.tar.zst -o delta-0602.tar.zst --key cosign.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "base kit: file, layout folder or bundle digest in the store")
	f.StringVar(&o.to, "to", "", "new kit: file, layout folder or bundle digest in the store")
	f.StringVarP(&o.output, "output", "o", "", "delta file to write (.tar, .tar.gz or .tar.zst)")
	f.StringVar(&o.key, "key", "", "private key that signs the delta manifest (cosign.key or PKCS#8 PEM)")
	f.StringVar(&o.format, "format", "text", "result format: text or json")
	return cmd
}

func (o *deltaOptions) run(cmd *cobra.Command, g *globalOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format is %q; use text or json", o.format)
	}
	if o.from == "" || o.to == "" || o.output == "" {
		return usagef("pass --from OLD, --to NEW and -o DELTA")
	}
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	var store *cas.Store
	if isDigest(o.from) || isDigest(o.to) {
		s, _, err := g.openStore(ctx, log, g.lockWait)
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
	}
	base, err := openKitSource(ctx, store, o.from)
	if err != nil {
		return fmt.Errorf("opening base kit: %w", err)
	}
	defer base.Close()
	target, err := openKitSource(ctx, store, o.to)
	if err != nil {
		return fmt.Errorf("opening new kit: %w", err)
	}
	defer target.Close()
	if err := checkDeltaOrder(base, target); err != nil {
		return err
	}
	opts := delta.Options{Logger: log}
	if o.key != "" {
		if opts.Signer, err = loadSigner(o.key); err != nil {
			return err
		}
	} else {
		log.Warn("no signing key given: the delta manifest is unsigned and import rejects it unless --insecure-skip-signature is set")
	}
	res, err := delta.WriteFile(ctx, o.output, base, target, opts)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	printDeltaResult(cmd, res)
	return nil
}

// checkDeltaOrder rejects a base whose sequence is not lower than the
// target's: import would reject the delta as a downgrade or a replay.
// The same kit on both sides is left to delta.Compute, which names it.
func checkDeltaOrder(base, target *delta.Kit) error {
	if base.Bundle.Digest == target.Bundle.Digest || base.Meta.Sequence < target.Meta.Sequence {
		return nil
	}
	return fmt.Errorf("base kit %s has sequence %d, not lower than %d of the new kit %s; "+
		"a delta needs an older base, so swap --from and --to or pick an older base kit: %w",
		base.Meta.Version, base.Meta.Sequence, target.Meta.Sequence, target.Meta.Version, errdef.ErrInvalidKit)
}

func printDeltaResult(cmd *cobra.Command, res *delta.Result) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Wrote delta %s -> %s at %s, %s\n", res.BaseVersion, res.Version, res.Output, humanBytes(res.Size))
	fmt.Fprintf(w, "  bundle digest  %s\n", res.Digest)
	fmt.Fprintf(w, "  base digest    %s\n", res.BaseDigest)
	fmt.Fprintf(w, "  carried        %d blobs, %s\n", res.BlobsIncluded, humanBytes(res.BytesIncluded))
	fmt.Fprintf(w, "  omitted        %d blobs, %s (held by the base)\n", res.BlobsOmitted, humanBytes(res.BytesOmitted))
	if !res.Signed {
		fmt.Fprintln(w, "  signed         no (pass --key to sign)")
	}
}

func isDigest(s string) bool {
	if !strings.HasPrefix(s, "sha256:") && !strings.HasPrefix(s, "sha512:") {
		return false
	}
	if _, err := os.Stat(s); err == nil {
		return false
	}
	return digest.Digest(s).Validate() == nil
}

// openKitSource opens a kit file, a layout folder or a kit held in store.
func openKitSource(ctx context.Context, store *cas.Store, src string) (*delta.Kit, error) {
	if !isDigest(src) {
		return delta.OpenKit(ctx, src)
	}
	return storedKit(ctx, store, digest.Digest(src))
}

// storedKit opens the kit with bundle digest d from the store, with the
// signature referrers the store holds for it.
func storedKit(ctx context.Context, store *cas.Store, d digest.Digest) (*delta.Kit, error) {
	info, err := store.Stat(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("kit %s is not in the store %s; import it first or give the kit file: %w", d, store.Dir(), err)
	}
	bundle := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: info.Size,
		ArtifactType: oci.ArtifactTypeBundle}
	k, err := delta.FromStorage(ctx, store, ocispec.Index{Manifests: []ocispec.Descriptor{bundle}})
	if err != nil {
		return nil, err
	}
	top := bundle
	top.Annotations = map[string]string{oci.AnnotationRefName: k.Meta.Version}
	k.Index = ocispec.Index{Manifests: []ocispec.Descriptor{top}}
	preds, err := store.Predecessors(ctx, bundle)
	if err != nil {
		return nil, fmt.Errorf("listing signatures of kit %s: %w", d, err)
	}
	for _, p := range preds {
		if p.MediaType == ocispec.MediaTypeImageManifest && p.ArtifactType == oci.MediaTypeSigstoreBundle {
			k.Index.Manifests = append(k.Index.Manifests, p)
		}
	}
	return k, nil
}
