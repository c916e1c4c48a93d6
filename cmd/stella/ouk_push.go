package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

type pushOptions struct {
	reg           registryFlags
	noSBOM        bool
	allowUnsigned bool
	out           outputFlag
}

func newPushCommand(g *globalOptions) *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push [flags] KIT REGISTRY/REPOSITORY:TAG",
		Short: "Publish a kit to an OCI registry with its signatures and SBOM",
		Long: `Push a kit to an OCI registry and tag its bundle index. KIT is a kit file
(read as a stream, never unpacked), an OCI layout folder, or a kit in the
store: "active" or a digest (a prefix is enough).

The signatures of the bundle index and the kit's SBOM are attached as OCI 1.1
referrers: through the referrers API where the registry offers it, else
through the sha256-<hex> tag that oras, cosign and regctl read. A delta goes
only into a repository that holds its base kit, and its delta manifest is
not pushed: the repository then holds the complete kit. Blobs the registry
holds already are not sent again, so an interrupted push resumes.

A kit that carries no signature is rejected with exit code 3 before the tag
is set, unless --allow-unsigned is given.`,
		Example: `  stella ouk push kit.tar.zst registry.intranet/stella-ops/ouk:2026.12.04
  stella ouk push active registry.intranet/stella-ops/ouk:latest
  echo "$PASS" | stella ouk push -u ci --password-stdin kit.tar.zst registry.intranet/ouk:v1`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.reg.explain(cmd.Context(), o.run(cmd, g, args[0], args[1]))
		},
	}
	cmd.Flags().BoolVar(&o.noSBOM, "no-sbom-referrer", false, "do not attach the SBOM as a referrer of the bundle index")
	cmd.Flags().BoolVar(&o.allowUnsigned, "allow-unsigned", false,
		"push a kit that carries no signature, which importers reject unless they skip the check")
	o.reg.register(cmd)
	o.out.register(cmd)
	return cmd
}

func (o *pushOptions) run(cmd *cobra.Command, g *globalOptions, kit, target string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if err := layout.CheckKitType(kit); err != nil {
		return err
	}
	ref, err := parseRegistryRef("target", target)
	if err != nil {
		return err
	}
	if ref.Reference == "" || ref.ValidateReferenceAsTag() != nil {
		return usagef("target %q names no tag, and push tags the kit; write it as REGISTRY/REPOSITORY:TAG", target)
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	// On a terminal, the log lines share it with the progress bar.
	lines := g.progressLines(stderr)
	if lines != nil {
		stderr = lines
	}
	log := g.logger(stderr)
	client, err := o.reg.client(cmd, log, ref.Registry)
	if err != nil {
		return err
	}
	repo, err := client.Repository(target)
	if err != nil {
		return err
	}
	opts := mirror.PushOptions{Logger: log, SkipSBOMReferrer: o.noSBOM, AllowUnsigned: o.allowUnsigned,
		KitPath: kit}
	// progress returns the progress display of a push that reads total
	// bytes, where total is -1 when unknown. It returns nil with --quiet.
	progress := func(total int64) *transfer {
		return g.newTransfer(stderr, lines, "pushing", total, "push in progress", "kit", displayPath(kit), "target", target)
	}

	var res *mirror.PushResult
	switch info, statErr := os.Stat(kit); {
	case statErr == nil && info.IsDir():
		index, src, err := layout.OpenDir(kit)
		if err != nil {
			return err
		}
		t := progress(-1)
		res, err = mirror.PushKit(ctx, t.storage(src), index, repo, ref.Reference, opts)
		t.stop()
		if err != nil {
			return err
		}
	case statErr == nil:
		t := progress(info.Size())
		open := func() (io.ReadCloser, error) {
			f, err := layout.OpenRegular(kit)
			if err != nil {
				return nil, err
			}
			// A push after a transient failure reads the file again
			// from its start.
			t.restart()
			return struct {
				io.Reader
				io.Closer
			}{t.reader(f), f}, nil
		}
		res, err = mirror.PushKitStream(ctx, open, repo, ref.Reference, opts)
		t.stop()
		if err != nil {
			return err
		}
	case kit == "active" || isStoredKitArg(kit):
		res, err = o.pushStored(ctx, g, kit, repo, ref.Reference, opts, progress)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("opening kit: %w; name a kit file, a layout folder, \"active\" or a kit digest from `stella ouk history`%s",
			statErr, digestPrefixAdvice(kit))
	}
	if o.out.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Pushed kit %s to %s\n", res.Version, res.Reference)
	fmt.Fprintf(w, "  digest        %s\n", res.Digest)
	fmt.Fprintf(w, "  blobs         %d pushed (%s), %d already present\n", res.BlobsPushed, humanBytes(res.BytesPushed), res.BlobsSkipped)
	for _, r := range res.Referrers {
		fmt.Fprintf(w, "  referrer      %s %s\n", r.Digest, r.ArtifactType)
	}
	return nil
}

// pushStored pushes a kit held in the store, with the progress shown on
// the display that progress returns.
func (o *pushOptions) pushStored(ctx context.Context, g *globalOptions, want string,
	repo *remote.Repository, tag string, opts mirror.PushOptions, progress func(total int64) *transfer) (*mirror.PushResult, error) {
	store, _, err := g.openExistingStore(ctx, opts.Logger, g.lockWait)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	var d digest.Digest
	if want == "active" {
		d, err = activeKitDigest(ctx, store, "a kit file or a layout folder")
	} else {
		d, err = resolveStoredKit(ctx, store, want)
	}
	if err != nil {
		return nil, err
	}
	index, err := storedKitIndex(ctx, store, d)
	if err != nil {
		return nil, err
	}
	t := progress(-1)
	defer t.stop()
	return mirror.PushKit(ctx, t.storage(store), index, repo, tag, opts)
}

// digestPrefixAdvice returns the rule that arg breaks when it is hex digits
// meant as a digest prefix that isStoredKitArg does not accept: fewer than
// four digits without "sha256:", or upper-case ones. It returns "" for any
// other argument.
func digestPrefixAdvice(arg string) string {
	lower := strings.ToLower(arg)
	if arg == "" || len(arg) > 64 || strings.Trim(lower, "0123456789abcdef") != "" {
		return ""
	}
	if len(arg) < 4 {
		return fmt.Sprintf("; a digest prefix without sha256: needs at least four hex digits, so give more of the "+
			"digest, or write sha256:%s", lower)
	}
	if lower != arg {
		return fmt.Sprintf("; a digest prefix is written in lower-case hex digits, such as %s", lower)
	}
	return ""
}

func looksLikeDigest(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) < 6 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// activeKitDigest returns the bundle digest of the active kit. When no
// kit is active, the error advises importing one or naming otherSources,
// the other kits that the command reads, such as "a kit file". A store
// without an active kit has an empty history, because the store records
// an activation in both at once, so no kit digest can help then.
func activeKitDigest(ctx context.Context, store *cas.Store, otherSources string) (digest.Digest, error) {
	rec, err := store.Active(ctx)
	if errors.Is(err, errdef.ErrNotFound) {
		return "", fmt.Errorf("no kit is active in the store, so import a kit first or name %s: %w", otherSources, err)
	}
	if err != nil {
		return "", fmt.Errorf("reading the active kit: %w", err)
	}
	return rec.Digest, nil
}

// storeKitDigest resolves a digest or a digest prefix to a kit in the
// store's history.
func storeKitDigest(ctx context.Context, store *cas.Store, want string) (digest.Digest, error) {
	hist, err := store.History(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the kit history: %w", err)
	}
	prefix := strings.TrimPrefix(want, "sha256:")
	var matches []digest.Digest
	seen := map[digest.Digest]bool{}
	for _, h := range hist {
		if !seen[h.Digest] && strings.HasPrefix(h.Digest.Encoded(), prefix) {
			matches = append(matches, h.Digest)
		}
		seen[h.Digest] = true
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no kit in the store matches %q; run `stella ouk history` to list them: %w", want, errdef.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	return "", usagef("digest prefix %q matches %d kits; give more of the digest", want, len(matches))
}

// storedKitIndex lists a stored bundle index and the signature referrers
// the store holds for it, as a layout's index.json would. A kit imported
// as a delta keeps its delta manifest in the store, but the store holds
// the kit complete, so the delta manifest is left out.
func storedKitIndex(ctx context.Context, store *cas.Store, d digest.Digest) (ocispec.Index, error) {
	bundle, err := stat(ctx, store, d, ocispec.MediaTypeImageIndex)
	if err != nil {
		return ocispec.Index{}, err
	}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{bundle}}
	index.SchemaVersion = 2
	preds, err := store.Predecessors(ctx, bundle)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("finding signatures of kit %s: %w", d, err)
	}
	seen := map[digest.Digest]bool{}
	for _, p := range preds {
		if p.MediaType != ocispec.MediaTypeImageManifest || p.ArtifactType != oci.MediaTypeSigstoreBundle || seen[p.Digest] {
			continue
		}
		seen[p.Digest] = true
		index.Manifests = append(index.Manifests, p)
	}
	return index, nil
}
