package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/build"
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

OLD and NEW are kit files, OCI layout folders, "active" for the active kit,
or bundle digests of kits held in the store: a full digest (sha256:...) or
a prefix of one that matches a single kit, as ` + "`stella ouk history`" + ` lists
them. OLD must have a lower sequence than NEW. The compression follows the
name of DELTA (.tar, .tar.gz or .tgz, .tar.zst or .tzst). The delta is
written under a temporary name and replaces a file at DELTA only once it is
complete.`,
		Example: `  stella ouk delta --from kit-0601.tar.zst --to kit-0602.tar.zst -o delta-0602.tar.zst --key cosign.key
  stella ouk delta --from sha256:3f1c... --to kit-0602.tar.zst -o delta-0602.tar.zst --key cosign.key`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("ouk delta takes its kits as flags, not as arguments (got %q); give --from OLD --to NEW -o DELTA",
					strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "older base kit: file, layout folder, \"active\", or bundle digest or digest prefix in the store")
	f.StringVar(&o.to, "to", "", "newer kit: file, layout folder, \"active\", or bundle digest or digest prefix in the store")
	f.StringVarP(&o.output, "output", "o", "", "delta file to write (.tar, .tar.gz, .tgz, .tar.zst or .tzst)")
	f.Var(newOnceString(&o.key), "key", "private key that signs the delta manifest, ECDSA or RSA (cosign.key, or PKCS#8 or SEC 1 EC PEM)")
	f.StringVar(&o.format, "format", "text", "result format: text or json")
	return cmd
}

func (o *deltaOptions) run(cmd *cobra.Command, g *globalOptions) error {
	o.format = strings.ToLower(o.format)
	if o.format != "text" && o.format != "json" {
		return usagef("--format is %q; use text or json", o.format)
	}
	var missing []string
	for _, f := range []struct{ name, value string }{{"--from OLD", o.from}, {"--to NEW", o.to}, {"-o DELTA", o.output}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("missing %s; pass --from OLD, --to NEW and -o DELTA", strings.Join(missing, " and "))
	}
	if err := checkKitName(o.output); err != nil {
		return err
	}
	err := checkOutputs([]namedPath{{flag: "-o", path: o.output}},
		[]namedPath{{flag: "--from", path: o.from}, {flag: "--to", path: o.to}, {flag: "--key", path: o.key}})
	if err != nil {
		return err
	}
	for _, arg := range []namedPath{{flag: "--from", path: o.from}, {flag: "--to", path: o.to}} {
		if err := checkKitSourceArg(arg.flag, arg.path); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	// On a terminal, the log lines share it with the progress bar.
	lines := g.progressLines(stderr)
	if lines != nil {
		stderr = lines
	}
	log := g.logger(stderr)
	var store *cas.Store
	if isStoredKitArg(o.from) || isStoredKitArg(o.to) {
		s, _, err := g.openExistingStore(ctx, log, g.lockWait)
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
		if opts.Signer, err = loadSigner(g, o.key); err != nil {
			return err
		}
	} else {
		log.Warn("no signing key given: the delta manifest is unsigned and import rejects it unless --insecure-skip-signature is set")
	}
	removeFolders, err := build.CreateParentFolder(o.output)
	if err != nil {
		return err
	}
	defer removeFolders()
	// The delta is written as the new kit's blobs are read, so their bytes
	// show how far it got.
	progress := g.newTransfer(stderr, lines, "writing", -1, "delta in progress", "output", displayPath(o.output))
	counted := *target
	counted.Storage = progress.storage(target.Storage)
	res, err := delta.WriteFile(ctx, o.output, base, &counted, opts)
	progress.stop()
	if err != nil {
		info, ferr := delta.FindInfo(ctx, target.Storage, target.Index, target.Bundle.Digest)
		if errors.Is(err, errdef.ErrNotFound) && ferr == nil {
			v, bv := target.Meta.Version, info.Config.Base.Version
			return fmt.Errorf("new kit %s (--to) is itself a delta of kit %s, and a blob it leaves out is not in "+
				"the base kit %s (--from) either; pass the full kit of %s to --to, or the kit %s to --from: %w",
				v, bv, base.Meta.Version, v, bv, err)
		}
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
// Both are mistakes in the request, so the error is a usage error. The
// same kit on both sides is left to
// delta.Compute, which names it.
func checkDeltaOrder(base, target *delta.Kit) error {
	b, t := base.Meta, target.Meta
	switch {
	case base.Bundle.Digest == target.Bundle.Digest:
		return usagef("--from and --to name the same kit %s (%s); a delta goes from an older kit to a newer one",
			t.Version, target.Bundle.Digest)
	case b.Sequence < t.Sequence:
		return nil
	case b.Sequence > t.Sequence:
		return usagef("--from names kit %s (sequence %d), which is newer than kit %s (sequence %d) of --to; "+
			"--from must be the older kit, with the lower sequence, so swap --from and --to",
			b.Version, b.Sequence, t.Version, t.Sequence)
	}
	return usagef("--from names kit %s and --to kit %s, and both have sequence %d; --from must be the older kit, "+
		"with the lower sequence, so pick an older kit for --from or rebuild the new kit with a higher --sequence",
		b.Version, t.Version, b.Sequence)
}

// checkKitSourceArg rejects a --from or --to value that names nothing:
// no file or folder has that name, and it is neither a digest nor
// "active". A value with a path separator or a dot is reported as a
// missing file. Any other value is more likely a misspelled keyword than a
// path, so it gets a usage error that lists the accepted forms.
func checkKitSourceArg(flag, value string) error {
	if isStoredKitArg(value) {
		return nil
	}
	if err := checkRemoteKitFlag(flag, value); err != nil {
		return err
	}
	_, err := os.Stat(value)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if strings.ContainsAny(value, "./"+string(filepath.Separator)) {
		return fmt.Errorf("%s: kit %s not found: %w; check the path, and give a kit file or a layout folder", flag, value, err)
	}
	accepted := "a kit file, a layout folder, the bundle digest (or a prefix of at least four hex digits) of a kit " +
		"in the store, or active for the active kit"
	if strings.EqualFold(value, "active") {
		return usagef("%s %s: the keyword is lower case, so write %s active; %s takes %s", flag, value, flag, flag, accepted)
	}
	return usagef("%s %s is not a file or folder (no such path), a kit digest or active; %s takes %s",
		flag, value, flag, accepted)
}

func printDeltaResult(cmd *cobra.Command, res *delta.Result) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Wrote delta %s -> %s at %s, %s\n", res.BaseVersion, res.Version, res.Output, humanBytes(res.Size))
	fmt.Fprintf(w, "  bundle digest  %s\n", res.Digest)
	fmt.Fprintf(w, "  base digest    %s\n", res.BaseDigest)
	fmt.Fprintf(w, "  carried        %d %s, %s\n", res.BlobsIncluded, plural(res.BlobsIncluded, "blob", "blobs"),
		humanBytes(res.BytesIncluded))
	fmt.Fprintf(w, "  omitted        %d %s, %s (held by the base)\n", res.BlobsOmitted, plural(res.BlobsOmitted, "blob", "blobs"),
		humanBytes(res.BytesOmitted))
	if !res.Signed {
		fmt.Fprintln(w, "  signed         no (pass --key to sign)")
	}
}

// isStoredKitArg reports whether a kit argument names a kit in the store:
// no file or folder has that name, and it is "active", starts with
// "sha256:" or is at least four lower-case hex digits (looksLikeDigest
// and isShortHex).
func isStoredKitArg(s string) bool {
	if _, err := os.Stat(s); err == nil {
		return false
	}
	return s == "active" || strings.HasPrefix(s, "sha256:") || looksLikeDigest(s) || isShortHex(s)
}

// isShortHex reports whether s is 4 or 5 lower-case hex digits, a digest
// prefix as short as `stella ouk rollback` accepts.
func isShortHex(s string) bool {
	return len(s) >= 4 && len(s) <= 5 && strings.Trim(s, "0123456789abcdef") == ""
}

// resolveStoredKit returns the bundle digest of the kit in the store's
// history that arg names by its digest or a prefix of it. A digest that
// matches no kit wraps errdef.ErrNotFound, and a malformed or ambiguous one
// is a usage error.
func resolveStoredKit(ctx context.Context, store *cas.Store, arg string) (digest.Digest, error) {
	hex := strings.TrimPrefix(arg, "sha256:")
	if hex == "" || len(hex) > 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", usagef("%q is neither a kit file or folder (no such path) nor a kit digest; "+
			"give a path, or sha256: followed by up to 64 lower-case hex digits of a digest that "+
			"`stella ouk history` lists", arg)
	}
	return storeKitDigest(ctx, store, arg)
}

// openKitSource opens a kit file, a layout folder or a kit held in store.
func openKitSource(ctx context.Context, store *cas.Store, src string) (*delta.Kit, error) {
	if !isStoredKitArg(src) {
		return delta.OpenKit(ctx, src)
	}
	if src == "active" {
		active, err := store.Active(ctx)
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("no kit is active in the store %s; import a kit first or give the kit file: %w", store.Dir(), err)
		}
		if err != nil {
			return nil, err
		}
		return storedKit(ctx, store, active.Digest)
	}
	if d := digest.Digest(src); d.Validate() == nil {
		return storedKit(ctx, store, d)
	}
	d, err := resolveStoredKit(ctx, store, src)
	if err != nil {
		return nil, err
	}
	return storedKit(ctx, store, d)
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
