package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/importer"
)

type importOptions struct {
	keys           []string
	skipSignature  bool
	allowDowngrade bool
	allowExpired   bool
	out            outputFlag
}

func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import [--key PUB]... SOURCE",
		Short: "Verify a kit and make it the active kit of the store",
		Long: `Import a kit into the store and activate it. SOURCE is a kit file (plain,
gzip or zstd tar, detected from its bytes), - for standard input, or an OCI
layout folder.

Every blob is hashed as it is read and blobs already in the store are
skipped. The kit becomes active only after every digest, the signature of
its bundle index and the site policy check out (its sequence is not lower
than the active kit's and it has not expired). An interrupted import leaves
the previous kit active; running it again stores only what is still missing.

Trusted keys are those given with --key and every *.pub file in the store's
keys folder.`,
		Example: `  stella ouk import --key cosign.pub kit.tar.zst
  cat kit.tar.zst | stella ouk import -
  stella ouk import -o json /media/usb/kit-layout`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args[0]) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file (repeatable)")
	f.BoolVar(&o.skipSignature, "insecure-skip-signature", false, "import a kit that is unsigned or signed by an untrusted key")
	f.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "import a kit whose sequence is lower than the active kit's; the history records it")
	f.BoolVar(&o.allowExpired, "allow-expired", false, "import a kit past its signed expiry time")
	o.out.register(cmd)
	return cmd
}

func (o *importOptions) run(cmd *cobra.Command, g *globalOptions, source string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if strings.Contains(source, "://") {
		return usagef("source %q: registry and web sources are not supported by this build; copy the kit file to this host and import the file", source)
	}
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	store, dir, err := g.openStore(ctx, log, g.lockWait)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := trustedKeys(dir, o.keys)
	if err != nil {
		return err
	}
	opts := importer.Options{
		Store:                 store,
		Keys:                  keys,
		InsecureSkipSignature: o.skipSignature,
		AllowDowngrade:        o.allowDowngrade,
		AllowExpired:          o.allowExpired,
		Logger:                log,
	}

	var res *importer.Result
	switch info, statErr := os.Stat(source); {
	case source == "-":
		res, err = importer.ImportStream(ctx, cmd.InOrStdin(), opts)
	case statErr != nil:
		return fmt.Errorf("opening kit: %w", statErr)
	case info.IsDir():
		res, err = importer.ImportDir(ctx, source, opts)
	default:
		res, err = o.importFile(cmd, source, info.Size(), !g.quiet, opts)
	}
	if err != nil {
		return fmt.Errorf("importing %s: %w", source, err)
	}
	if o.out.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	printImportResult(cmd.OutOrStdout(), res)
	return nil
}

// importFile streams a kit file, with a progress bar when stderr is a terminal.
func (o *importOptions) importFile(cmd *cobra.Command, path string, size int64, showBar bool, opts importer.Options) (*importer.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if showBar && isTerminal(cmd.ErrOrStderr()) {
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		defer bar.Finish()
		pr := progressbar.NewReader(f, bar)
		r = &pr
	}
	return importer.ImportStream(cmd.Context(), r, opts)
}

func printImportResult(w io.Writer, res *importer.Result) {
	if res.AlreadyActive {
		fmt.Fprintf(w, "Kit %s (%s) is already active; nothing changed.\n", res.Version, res.Digest)
		return
	}
	fmt.Fprintf(w, "Activated kit %s (%s)\n", res.Version, res.Digest)
	fmt.Fprintf(w, "  sequence      %d\n", res.Sequence)
	if res.SignedBy != "" {
		fmt.Fprintf(w, "  signed by     %s\n", res.SignedBy)
	}
	fmt.Fprintf(w, "  read          %s\n", humanBytes(res.BytesRead))
	fmt.Fprintf(w, "  stored        %s in %d blobs (%d already present)\n",
		humanBytes(res.BytesStored), res.BlobsStored, res.BlobsSkipped)
	fmt.Fprintf(w, "  DB layers     %d newly indexed\n", res.LayersIndexed)
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "  warning       %s\n", warning)
	}
}
