package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

type mirrorOptions struct {
	reg    registryFlags
	to     string
	dryRun bool
	out    outputFlag
}

// mirrorReport is the JSON output of `stella ouk mirror`.
type mirrorReport struct {
	Kit     string               `json:"kit"`
	Version string               `json:"version"`
	DryRun  bool                 `json:"dryRun"`
	Images  []mirror.ImageResult `json:"images"`
}

func newMirrorCommand(g *globalOptions) *cobra.Command {
	o := &mirrorOptions{}
	cmd := &cobra.Command{
		Use:   "mirror --to REGISTRY[/PREFIX] [KIT]",
		Short: "Copy the images of a kit into a site registry",
		Long: `Push every image of a kit to its own repository under REGISTRY/PREFIX: the
image's repository path without its registry host, with the same tag.
example.test/stella-ops/scanner:0.1.0 goes to REGISTRY/PREFIX/stella-ops/scanner:0.1.0.
Digests, tags and every platform are kept, and the referrers the kit holds
for an image go along.

KIT is "active" (the default), a kit digest or prefix in the store, or an
OCI layout folder. Images already in the registry are not sent again.`,
		Example: `  stella ouk mirror --to harbor.intranet/stella-ops
  stella ouk mirror --to zot.intranet:5000/mirror --dry-run
  stella ouk mirror --to registry.intranet -o json sha256:4f1c`,
		Args: cobra.MaximumNArgs(1),
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
	log := g.logger(cmd.ErrOrStderr())
	src, bundleDesc, base, err := o.openKit(cmd, g, kit)
	if err != nil {
		return err
	}
	if c, ok := src.(interface{ Close() error }); ok {
		defer c.Close()
	}
	raw, err := content.FetchAll(ctx, src, bundleDesc)
	if err != nil {
		return fmt.Errorf("reading bundle index %s: %w", bundleDesc.Digest, err)
	}
	bundle, meta, err := oci.ParseBundleIndex(raw)
	if err != nil {
		return err
	}
	opts := mirror.MirrorOptions{DryRun: o.dryRun, Logger: log}
	if !o.dryRun {
		client, err := o.reg.client(cmd, log, registryHost(o.to))
		if err != nil {
			return err
		}
		opts.Repository = func(ref string) (*remote.Repository, error) { return client.Repository(ref) }
	}
	images, err := mirror.MirrorImages(ctx, src, bundle, o.to, opts)
	var missing *mirror.MissingBlobError
	if errors.As(err, &missing) && base != "" {
		return fmt.Errorf("%s is a delta of %s and lacks the image blobs of that base kit, which a delta leaves out (%v); "+
			"mirror the folder of the full kit, or import the delta into a store that holds its base and mirror \"active\": %w",
			kit, base, err, errdef.ErrBaseMissing)
	}
	if err != nil {
		return err
	}
	rep := mirrorReport{Kit: bundleDesc.Digest.String(), Version: meta.Version, DryRun: o.dryRun, Images: images}
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
			fmt.Fprintf(w, "would push  %s\n", withDigest(img.Target, img.Digest))
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

// openKit returns the storage holding the kit and its bundle index
// descriptor: an OCI layout folder, or a kit in the store. base names the
// base kit when kit is a layout folder of a delta, else it is empty.
func (o *mirrorOptions) openKit(cmd *cobra.Command, g *globalOptions, kit string) (src content.ReadOnlyStorage, bundle ocispec.Descriptor, base string, err error) {
	ctx := cmd.Context()
	if kit != "active" && !isStoredKitArg(kit) {
		return openMirrorLayout(ctx, kit)
	}
	store, _, err := g.openExistingStore(ctx, g.logger(cmd.ErrOrStderr()), g.lockWait)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	d := digest.Digest("")
	if kit == "active" {
		d, err = storeKitDigest(ctx, store, kit)
	} else {
		d, err = resolveStoredKit(ctx, store, kit)
	}
	if err != nil {
		store.Close()
		return nil, ocispec.Descriptor{}, "", err
	}
	desc, err := stat(ctx, store, d, ocispec.MediaTypeImageIndex)
	if err != nil {
		store.Close()
		return nil, ocispec.Descriptor{}, "", err
	}
	return store, desc, "", nil
}

// openMirrorLayout opens the layout folder dir for mirror. For a kit file or
// a missing path, the error names what mirror reads instead.
func openMirrorLayout(ctx context.Context, dir string) (content.ReadOnlyStorage, ocispec.Descriptor, string, error) {
	const reads = "mirror reads a kit layout folder, \"active\" or a kit digest from `stella ouk history`"
	info, err := os.Stat(dir)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", fmt.Errorf("opening kit: %w; %s", err, reads)
	}
	if !info.IsDir() {
		return nil, ocispec.Descriptor{}, "", usagef("%s is a file, and %s. Import the kit file with `stella ouk import` and mirror \"active\", "+
			"or unpack it into a folder (`stella ouk push` takes kit files)", dir, reads)
	}
	index, src, err := layout.OpenDir(dir)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	base := ""
	dg, version, ok, err := delta.FindBase(ctx, src, index)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	if ok {
		base = fmt.Sprintf("kit %s (%s)", version, dg)
	}
	bundle, err := delta.BundleEntry(ctx, src, index)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", fmt.Errorf("layout folder %s lists no bundle index; pass a kit layout folder", dir)
	}
	return src, bundle, base, nil
}

// withDigest returns target with @digest added, unless target names its
// digest already.
func withDigest(target, digest string) string {
	if strings.Contains(target, "@") {
		return target
	}
	return target + "@" + digest
}
