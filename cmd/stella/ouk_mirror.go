package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

type mirrorOptions struct {
	reg           registryFlags
	to            string
	dryRun        bool
	keys          []string
	skipSignature bool
	allowExpired  bool
	out           outputFlag
}

// mirrorReport is the JSON output of `stella ouk mirror`.
type mirrorReport struct {
	Kit     string               `json:"kit"`
	Version string               `json:"version"`
	DryRun  bool                 `json:"dryRun"`
	Images  []mirror.ImageResult `json:"images"`
	// SignedBy is the trusted key that verified the kit, empty when an
	// override let an unverified kit through.
	SignedBy string `json:"signedBy,omitempty"`
	// Warnings lists the image warnings that do not stop the mirror, which
	// the log gets too.
	Warnings []string `json:"warnings,omitempty"`
}

func newMirrorCommand(g *globalOptions) *cobra.Command {
	o := &mirrorOptions{}
	cmd := &cobra.Command{
		Use:   "mirror --to REGISTRY[/PREFIX] [KIT]",
		Short: "Copy the images of a kit into a site registry",
		Long: `Push every image of a kit to its own repository under REGISTRY/PREFIX: the
image's repository path without its registry host, with the same tag.
example.test/stella-ops/scanner:0.1.0 goes to REGISTRY/PREFIX/stella-ops/scanner:0.1.0.
References are read as Docker reads them, so scanner:0.1.0, which names
docker.io/library/scanner:0.1.0, goes to REGISTRY/PREFIX/library/scanner:0.1.0.
Digests, tags and every platform are kept, and the referrers the kit holds
for an image go along.

KIT is "active" (the default), a kit digest or prefix in the store, or an
OCI layout folder. Images already in the registry are not sent again.

The kit must pass the checks of import first, --dry-run included: a
signature of its bundle index must verify with a trusted key (those given
with --key and every *.pub file in the store's keys folder), and the kit
must not have expired. A kit in the store is checked again against the keys
trusted now, as a rollback does, so a key removed from the keys folder to
revoke it no longer vouches for the images of its kits. Otherwise mirror
exits with 3 and pushes nothing, unless --insecure-skip-signature or
--allow-expired overrides the check as it does for import, with a warning.
Only the images that the signed bundle index lists are pushed, each blob
checked against its digest as it is read.`,
		Example: `  stella ouk mirror --to harbor.intranet/stella-ops
  stella ouk mirror --to zot.intranet:5000/mirror --dry-run
  stella ouk mirror --to registry.intranet -o json sha256:4f1c
  stella ouk mirror --to registry.intranet/site --key cosign.pub /media/usb/kit-layout`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kit := "active"
			if len(args) == 1 {
				kit = args[0]
			}
			return o.reg.explain(cmd.Context(), o.run(cmd, g, kit))
		},
	}
	cmd.Flags().StringVar(&o.to, "to", "", "target registry and optional repository prefix, REGISTRY[/PREFIX]")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be pushed without contacting the registry")
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "trusted public key file, besides the store's keys folder (repeatable)")
	cmd.Flags().BoolVar(&o.skipSignature, "insecure-skip-signature", false,
		"mirror a kit that is unsigned or signed by an untrusted key")
	cmd.Flags().BoolVar(&o.allowExpired, "allow-expired", false, "mirror a kit past its signed expiry time")
	o.reg.register(cmd)
	o.out.register(cmd)
	return cmd
}

func (o *mirrorOptions) run(cmd *cobra.Command, g *globalOptions, kit string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if o.to == "" {
		return usagef("--to is required: name the registry (and prefix) to mirror to")
	}
	if err := checkMirrorTarget(o.to); err != nil {
		return err
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	// On a terminal, the log lines share it with the progress bar.
	lines := g.progressLines(stderr)
	if lines != nil {
		stderr = lines
	}
	log := g.logger(stderr)
	k, err := o.openKit(cmd, g, kit)
	if err != nil {
		return err
	}
	src, bundleDesc, base := k.src, k.bundle, k.base
	if c, ok := src.(interface{ Close() error }); ok {
		defer c.Close()
	}
	if bundleDesc.Size > importer.MaxManifestSize {
		return fmt.Errorf("bundle index %s declares %d bytes, over the %d byte limit: %w",
			bundleDesc.Digest, bundleDesc.Size, importer.MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.FetchAll(ctx, src, bundleDesc)
	if err != nil {
		return fmt.Errorf("reading bundle index %s: %w", bundleDesc.Digest, err)
	}
	bundle, meta, err := oci.ParseBundleIndex(raw)
	if err != nil {
		return err
	}
	signedBy := ""
	if k.store != nil {
		// Import checked the kit once, but a key removed from the keys
		// folder since then no longer vouches for it, and the kit may
		// have expired: apply the checks of a rollback.
		if signedBy, err = o.checkStoredTrust(ctx, log, k); err != nil {
			return err
		}
	}
	if k.index != nil {
		// The images to push come from the bundle index parsed above, never
		// from index.json, so this signature covers every byte pushed.
		if signedBy, err = o.checkTrust(ctx, g, log, kit, k, raw, meta); err != nil {
			return err
		}
	}
	opts := mirror.MirrorOptions{DryRun: o.dryRun, Logger: log}
	var progress *transfer
	if !o.dryRun {
		client, err := o.reg.client(cmd, log, registryHost(o.to))
		if err != nil {
			return err
		}
		opts.Repository = func(ref string) (*remote.Repository, error) { return client.Repository(ref) }
		progress = g.newTransfer(stderr, lines, "mirroring", -1, "mirror in progress",
			"kit", meta.Version, "target", o.to)
	}
	images, err := mirror.MirrorImages(ctx, progress.storage(src), bundle, o.to, opts)
	progress.stop()
	var missing *mirror.MissingBlobError
	if errors.As(err, &missing) && base != "" {
		return fmt.Errorf("%s is a delta of %s and lacks the image blobs of that base kit, which a delta leaves out (%v); "+
			"mirror the folder of the full kit, or import the delta into a store that holds its base and mirror \"active\": %w",
			kit, base, err, errdef.ErrBaseMissing)
	}
	if err != nil {
		return err
	}
	rep := mirrorReport{Kit: bundleDesc.Digest.String(), Version: meta.Version, DryRun: o.dryRun, Images: images, SignedBy: signedBy}
	// MirrorImages logged these warnings already, and it stops on every
	// other image warning, so only the pairs with an untagged reference
	// remain.
	rep.Warnings = imageRefWarnings(bundle.Manifests)
	if o.out.json() {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	w := cmd.OutOrStdout()
	if len(images) == 0 {
		fmt.Fprintf(w, "Kit %s carries no images; nothing to mirror.\n", meta.Version)
		return nil
	}
	for _, img := range images {
		switch img.Status {
		case mirror.StatusPlanned:
			fmt.Fprintf(w, "would push  %s (from %s)\n", withDigest(img.Target, img.Digest), img.Source)
		case mirror.StatusPresent:
			fmt.Fprintf(w, "present     %s\n", withDigest(img.Target, img.Digest))
		case mirror.StatusPushed:
			if img.BlobsPushed == 0 {
				fmt.Fprintf(w, "tagged      %s (every blob was present)\n", withDigest(img.Target, img.Digest))
				continue
			}
			fmt.Fprintf(w, "pushed      %s (%d %s, %s)\n", withDigest(img.Target, img.Digest),
				img.BlobsPushed, plural(int(img.BlobsPushed), "blob", "blobs"), humanBytes(img.BytesPushed))
		}
	}
	return nil
}

// mirrorKit is the kit that mirror reads.
type mirrorKit struct {
	src    content.ReadOnlyStorage
	bundle ocispec.Descriptor
	// base names the base kit when the kit is a layout folder of a delta,
	// else it is empty.
	base string
	// index is index.json of a layout folder, or nil for a kit in the
	// store.
	index *ocispec.Index
	// store and storeDir are the store of a kit in the store, else nil
	// and empty.
	store    *cas.Store
	storeDir string
}

// usesLayout reports whether the KIT argument kit names a layout folder
// rather than a kit in the store.
func (o *mirrorOptions) usesLayout(kit string) bool {
	return kit != "active" && !isStoredKitArg(kit)
}

// openKit opens an OCI layout folder, or a kit in the store.
func (o *mirrorOptions) openKit(cmd *cobra.Command, g *globalOptions, kit string) (mirrorKit, error) {
	ctx := cmd.Context()
	if o.usesLayout(kit) {
		return openMirrorLayout(ctx, kit)
	}
	store, dir, err := g.openExistingStore(ctx, g.logger(cmd.ErrOrStderr()), g.lockWait)
	if err != nil {
		return mirrorKit{}, err
	}
	d := digest.Digest("")
	if kit == "active" {
		d, err = activeKitDigest(ctx, store, "a kit layout folder (mirror reads no kit files)")
	} else {
		d, err = resolveStoredKit(ctx, store, kit)
	}
	if err != nil {
		store.Close()
		return mirrorKit{}, err
	}
	desc, err := stat(ctx, store, d, ocispec.MediaTypeImageIndex)
	if err != nil {
		store.Close()
		return mirrorKit{}, err
	}
	return mirrorKit{src: store, bundle: desc, store: store, storeDir: dir}, nil
}

// checkStoredTrust checks a kit of the store k against the keys trusted
// now and its expiry, as a rollback does, and returns the key that
// verified it.
func (o *mirrorOptions) checkStoredTrust(ctx context.Context, log *slog.Logger, k mirrorKit) (string, error) {
	keys, err := trustedKeys(log, k.storeDir, o.keys)
	if err != nil {
		return "", err
	}
	checked, err := importer.CheckStored(ctx, importer.Options{
		Store:                 k.store,
		Keys:                  keys,
		KeysDir:               filepath.Join(k.storeDir, storeKeysDir),
		InsecureSkipSignature: o.skipSignature,
		AllowExpired:          o.allowExpired,
		Logger:                log,
	}, k.bundle.Digest, lastSigner(ctx, k.store, k.bundle.Digest), importer.ActionMirror)
	if err != nil {
		return "", fmt.Errorf("mirroring the images of a stored kit: %w", err)
	}
	for _, w := range checked.Warnings {
		log.Warn(w)
	}
	return checked.SignedBy, nil
}

// openMirrorLayout opens the layout folder dir for mirror. For a kit file or
// a missing path, the error names what mirror reads instead.
func openMirrorLayout(ctx context.Context, dir string) (mirrorKit, error) {
	const reads = "mirror reads a kit layout folder, \"active\" or a kit digest from `stella ouk history`"
	info, err := os.Stat(dir)
	if err != nil {
		return mirrorKit{}, fmt.Errorf("opening kit: %w; %s", err, reads)
	}
	if !info.IsDir() {
		return mirrorKit{}, usagef("%s is a file, and %s. Import the kit file with `stella ouk import` and mirror \"active\", "+
			"or unpack it into a folder (`stella ouk push` takes kit files)", dir, reads)
	}
	index, src, err := layout.OpenDir(dir)
	if err != nil {
		return mirrorKit{}, err
	}
	base := ""
	dg, version, ok, err := delta.FindBase(ctx, src, index)
	if err != nil {
		return mirrorKit{}, err
	}
	if ok {
		base = fmt.Sprintf("kit %s (%s)", version, dg)
	}
	bundle, err := delta.BundleEntry(ctx, src, index)
	if err != nil {
		return mirrorKit{}, fmt.Errorf("layout folder %s: %w; pass a kit layout folder", dir, err)
	}
	return mirrorKit{src: src, bundle: bundle, base: base, index: &index}, nil
}

// checkTrust applies the trust rules of import to the kit k of the layout
// folder path, whose bundle index bytes are raw. A signature referrer that
// index.json lists must verify with a trusted key, and the kit must not
// have expired. It returns the source of the key that verified the kit,
// or empty when --insecure-skip-signature let an unverified kit through.
func (o *mirrorOptions) checkTrust(ctx context.Context, g *globalOptions, log *slog.Logger, path string, k mirrorKit,
	raw []byte, meta oci.Meta) (string, error) {
	dir, err := g.storeDir()
	if err != nil {
		return "", err
	}
	keysDir := filepath.Join(dir, storeKeysDir)
	keys, err := trustedKeys(log, dir, o.keys)
	if err != nil {
		return "", err
	}
	fetch := func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
		return content.FetchAll(ctx, k.src, d)
	}
	check := importer.CheckBundleSignature(ctx, fetch, *k.index, k.bundle, raw, keys)
	if check.SignedBy == "" && check.StoreErr != nil {
		return "", fmt.Errorf("checking the signature of kit %s (%s) in %s: %w", meta.Version, k.bundle.Digest, path,
			check.StoreErr)
	}
	if check.SignedBy == "" {
		failure := check.Failure(keys, keysDir)
		if !o.skipSignature {
			return "", fmt.Errorf("kit %s (%s) in %s: %s. Mirror pushes only the images of a kit that a trusted key signed; "+
				"pass --insecure-skip-signature only for a kit you trust without a signature: %w",
				meta.Version, k.bundle.Digest, path, failure, errdef.ErrSignature)
		}
		log.Warn("mirroring a kit without a valid signature (--insecure-skip-signature)",
			"version", meta.Version, "digest", k.bundle.Digest, "reason", failure)
	} else {
		log.Info("kit verified", "version", meta.Version, "digest", k.bundle.Digest, "signedBy", check.SignedBy)
	}
	warning, err := importer.CheckExpiry(meta, time.Now(), o.allowExpired, "mirror", "mirroring")
	if err != nil {
		return "", err
	}
	if warning != "" {
		log.Warn(warning)
	}
	return check.SignedBy, nil
}

// withDigest returns target with @digest added, unless target names its
// digest already.
func withDigest(target, digest string) string {
	if strings.Contains(target, "@") {
		return target
	}
	return target + "@" + digest
}
