package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci/layout"
)

type importOptions struct {
	keys           []string
	skipSignature  bool
	allowDowngrade bool
	allowExpired   bool
	out            outputFlag
	reg            registryFlags
}

func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import [--key PUB]... SOURCE",
		Short: "Verify a kit and make it the active kit of the store",
		Long: `Import a kit into the store and activate it. SOURCE is a kit file (plain,
gzip or zstd tar, detected from its bytes), - for standard input, an OCI
layout folder, oci://REGISTRY/REPOSITORY:TAG (or @sha256:...) for a kit in a
registry, or an https:// or http:// URL of a kit file on a web server.
Over http:// the transfer is not encrypted, but the signature and digest
checks still reject a kit that was changed on the way. A web server that
responds with a Basic challenge gets the credentials of --username or
--registry-config for its host, and no other host ever gets them.

From a registry only the blobs the store lacks are fetched, and the
signatures are found through the referrers API or the sha256-<hex> tag. A
web download that breaks resumes with range requests. In air-gap mode
(STELLA_AIRGAP=true) only the host named in SOURCE is contacted.

Every blob is hashed as it is read and checked against its digest. Blobs
already in the store are skipped unread: the store checked them when they
were first imported, so a damaged copy of such a blob in SOURCE goes
unnoticed. The kit becomes active only after every blob it needs is in the
store, the signature of its bundle index and the site policy check out (its
sequence is not lower than the active kit's and it has not expired). An
interrupted import, Ctrl-C included, leaves the previous kit active; running
it again stores only what is still missing.

Trusted keys are those given with --key and every *.pub file in the store's
keys folder.

With -o json, a failed import prints {"status": "failed", "command", "source",
"error", "reason", "exitCode"} on stdout besides the message on stderr.`,
		Example: `  stella ouk import --key cosign.pub kit.tar.zst
  stella ouk import oci://registry.intranet/stella-ops/ouk:2026.12.04
  stella ouk import https://files.intranet/kits/kit.tar.zst
  cat kit.tar.zst | stella ouk import -
  stella ouk import -o json /media/usb/kit-layout`,
		Args: exactArgs(1),
		// With -o json, main prints the import failure object
		// (failureObject).
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file (repeatable)")
	f.BoolVar(&o.skipSignature, "insecure-skip-signature", false, "import a kit that is unsigned or signed by an untrusted key")
	f.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "import a kit whose sequence is lower than the active kit's; the history records it")
	f.BoolVar(&o.allowExpired, "allow-expired", false, "import a kit past its signed expiry time")
	o.out.register(cmd)
	o.reg.register(cmd)
	if g.request != nil {
		o.reg.clientEnv = g.getenv
	}
	return cmd
}

func (o *importOptions) run(cmd *cobra.Command, g *globalOptions, source string) (err error) {
	if err := o.out.validate(); err != nil {
		return err
	}
	if err := o.reg.validateTimeouts(); err != nil {
		return err
	}
	if source == "" {
		return usagef("the kit argument is empty; name a kit file, a layout folder, - for stdin, or an " +
			"oci://, https:// or http:// address")
	}
	scheme, remote, _ := strings.Cut(source, "://")
	if remote != "" && scheme != "oci" && scheme != "https" && scheme != "http" {
		return usagef("source %q: the scheme %s:// is not supported; use oci://REGISTRY/REPOSITORY:TAG, https://HOST/PATH, http://HOST/PATH, a kit file, a layout folder or -", source, scheme)
	}
	if remote == "" && (scheme == "oci" || scheme == "https" || scheme == "http") && strings.Contains(source, "://") {
		if _, err := os.Stat(source); err != nil {
			return usagef("source %q names no address after %s://; give oci://REGISTRY/REPOSITORY:TAG or https://HOST/PATH", source, scheme)
		}
	}
	if authority, _, _ := strings.Cut(remote, "/"); strings.Contains(authority, "@") {
		// Never echo the user information: it may contain a password.
		host := authority[strings.LastIndex(authority, "@")+1:]
		return usagef("the %s:// source carries a user name or password before its host %s; remove them from the "+
			"source and pass --username with --password-stdin, or add an auths entry for %s to the docker config "+
			"file (--registry-config)", scheme, host, host)
	}
	if remote == "" && source != "-" {
		if err := layout.CheckKitType(source); err != nil {
			return err
		}
		if err := checkNotKitFolder(source); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	// A kit is imported with a progress bar on a terminal, and the log
	// lines then share the terminal with it.
	var lines *terminalLines
	if !g.quiet && isTerminal(stderr) {
		lines = &terminalLines{w: stderr}
		stderr = lines
	}
	log := g.logger(stderr)
	newStore := g.absentStoreParts()
	store, dir, err := g.openStoreCache(ctx, log, g.lockWait, importCacheSize)
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() {
		if err != nil {
			removeUnusedStore(log, store, dir, newStore)
		}
	}()
	keys, err := trustedKeys(log, dir, o.keys)
	if err != nil {
		return err
	}
	opts := importer.Options{
		Store:                 store,
		Keys:                  keys,
		KeysDir:               filepath.Join(dir, storeKeysDir),
		InsecureSkipSignature: o.skipSignature,
		AllowDowngrade:        o.allowDowngrade,
		AllowExpired:          o.allowExpired,
		ImageWarnings:         imageRefWarnings,
		Logger:                log,
	}

	// progress returns the progress display of a transfer of total bytes,
	// where total is -1 when unknown. It returns nil with --quiet.
	progress := func(total int64) *transfer {
		return g.newTransfer(stderr, lines, "importing", total, "import in progress",
			"source", displayPath(mirror.RedactURL(source)))
	}
	var res *importer.Result
	switch info, statErr := os.Stat(source); {
	case scheme == "oci" && remote != "":
		res, err = o.importRegistry(cmd, log, remote, opts, progress(-1))
		err = o.reg.explain(ctx, damagedRegistryCopy(err))
	case (scheme == "https" || scheme == "http") && remote != "":
		res, err = o.importHTTP(cmd, log, source, opts, progress)
		err = o.reg.explain(ctx, err)
	case source == "-":
		res, err = importStream(ctx, cmd.InOrStdin(), opts, progress(-1))
	case statErr != nil:
		return fmt.Errorf("opening kit: %w; name a kit file, a layout folder, - for stdin, or an oci://, https:// or http:// address", statErr)
	case info.IsDir():
		res, err = importDir(ctx, source, opts, progress(-1))
	default:
		opts.SourcePath = source
		res, err = o.importFile(cmd, source, opts, progress(info.Size()))
	}
	if err != nil {
		return fmt.Errorf("importing %s: %w", displayPath(source), err)
	}
	for _, warning := range res.ImageWarnings {
		log.Warn(warning)
	}
	if o.out.json() {
		// Text output leaves them out, since stderr has them already.
		res.Warnings = append(res.Warnings, res.ImageWarnings...)
		return writeJSON(cmd.OutOrStdout(), res)
	}
	printImportResult(cmd.OutOrStdout(), res)
	return nil
}

// importFile streams a kit file, with its progress shown on progress
// unless that is nil.
func (o *importOptions) importFile(cmd *cobra.Command, path string, opts importer.Options, progress *transfer) (*importer.Result, error) {
	f, err := layout.OpenRegular(path)
	if err != nil {
		progress.stop()
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	return importStream(cmd.Context(), f, opts, progress)
}

// importStream imports the kit tar stream r, with its progress shown on
// progress unless that is nil. At the end of r, a bar gives way to a status
// line for the work that follows the last byte.
func importStream(ctx context.Context, r io.Reader, opts importer.Options, progress *transfer) (*importer.Result, error) {
	if progress != nil {
		defer progress.stop()
		r = &progressReader{r: r, transfer: progress, status: importStatus}
	}
	return importer.ImportStream(ctx, r, opts)
}

// importDir imports the layout folder dir, with the bytes of the blobs
// that the store lacks shown on progress unless that is nil.
func importDir(ctx context.Context, dir string, opts importer.Options, progress *transfer) (*importer.Result, error) {
	defer progress.stop()
	opts.Progress = progress.importProgress()
	return importer.ImportDir(ctx, dir, opts)
}

func printImportResult(w io.Writer, res *importer.Result) {
	if res.AlreadyActive && res.LayersIndexed > 0 {
		fmt.Fprintf(w, "Kit %s (%s) is already active; indexed %d of its DB %s again.\n",
			res.Version, res.Digest, res.LayersIndexed, plural(res.LayersIndexed, "layer", "layers"))
		return
	}
	if res.AlreadyActive {
		fmt.Fprintf(w, "Kit %s (%s) is already active; nothing changed.\n", res.Version, res.Digest)
		return
	}
	fmt.Fprintf(w, "Activated kit %s (%s)\n", res.Version, res.Digest)
	fmt.Fprintf(w, "  sequence      %d\n", res.Sequence)
	if res.SignedBy != "" {
		fmt.Fprintf(w, "  signed by     %s\n", res.SignedBy)
	}
	if res.BlobsStored == 0 && res.BlobsSkipped > 0 {
		fmt.Fprintf(w, "  read          no blob data: all %d blobs were already in the store\n", res.BlobsSkipped)
	} else {
		fmt.Fprintf(w, "  read          %s of new blobs, each checked against its digest\n", humanBytes(res.BytesRead))
	}
	fmt.Fprintf(w, "  stored        %s in %d %s (%d already present, skipped unread)\n",
		humanBytes(res.BytesStored), res.BlobsStored, plural(res.BlobsStored, "blob", "blobs"), res.BlobsSkipped)
	if res.TablesSkipped > 0 {
		fmt.Fprintf(w, "  index tables  %d pre-built tables not needed or not usable, skipped unread\n", res.TablesSkipped)
	}
	if res.LayersFromTables > 0 {
		fmt.Fprintf(w, "  DB layers     %d newly indexed, %d of them from pre-built tables\n", res.LayersIndexed, res.LayersFromTables)
	} else {
		fmt.Fprintf(w, "  DB layers     %d newly indexed\n", res.LayersIndexed)
	}
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "  warning       %s\n", warning)
	}
}

// importRegistry imports the kit at ref (REGISTRY/REPOSITORY:TAG or @DIGEST),
// fetching only the blobs the store lacks.
func (o *importOptions) importRegistry(cmd *cobra.Command, log *slog.Logger, ref string, opts importer.Options,
	progress *transfer) (*importer.Result, error) {
	defer progress.stop()
	if _, err := registry.ParseReference(ref); err != nil {
		return nil, usagef("%s", referenceProblem(ref, err))
	}
	client, err := o.reg.client(cmd, log, registryHost(ref))
	if err != nil {
		return nil, err
	}
	repo, err := client.Repository(ref)
	if err != nil {
		return nil, err
	}
	if repo.Reference.Reference == "" {
		return nil, usagef("oci://%s names no tag or digest; add :TAG or @sha256:...", ref)
	}
	src, err := mirror.OpenKit(cmd.Context(), repo, repo.Reference.Reference, log)
	if err != nil {
		return nil, err
	}
	opts.Registry = repo.Reference.Registry + "/" + repo.Reference.Repository
	opts.SignatureLookup = src.SignatureLookup
	opts.OtherReferrers = src.OtherReferrers
	opts.Progress = progress.importProgress()
	return importer.ImportFrom(cmd.Context(), src.Storage(), src.Index, opts)
}

// importHTTP streams a kit file from a web server, resuming a broken
// download with range requests. progress returns the display of the
// download, given the file length from the response.
func (o *importOptions) importHTTP(cmd *cobra.Command, log *slog.Logger, rawURL string, opts importer.Options,
	progress func(total int64) *transfer) (*importer.Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, usagef("kit URL %q is not a valid URL", rawURL)
	}
	if o.reg.plainHTTP && u.Scheme == "https" {
		log.Warn("--plain-http has no effect on an https:// address; write http:// for a server that speaks plain HTTP",
			"url", u.Redacted())
	}
	client, err := o.reg.client(cmd, log, u.Host)
	if err != nil {
		return nil, err
	}
	r, err := mirror.OpenHTTP(cmd.Context(), client.WebClient(u), rawURL, log)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return importStream(cmd.Context(), r, opts, progress(r.Size()))
}

// importFailure is the -o json output of an import that failed.
type importFailure struct {
	Status   string `json:"status"`
	Command  string `json:"command"`
	Source   string `json:"source"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
	ExitCode int    `json:"exitCode"`
}

// damagedRegistryCopy adds the cause and the way out to the error of a
// registry import that received a blob other than the one the kit names.
// That is content that does not hash to its digest, as the store finds,
// or a response of another length. Errors that name the registry's
// damaged copy already are returned as they are.
func damagedRegistryCopy(err error) error {
	if err == nil || strings.Contains(err.Error(), "damaged or altered copy") {
		return err
	}
	if errors.Is(err, errdef.ErrDigestMismatch) || strings.Contains(err.Error(), "mismatch Content-Length") {
		return fmt.Errorf("%w; the registry served a blob that differs from the one the kit names, so its "+
			"copy is damaged or altered. Pushing the kit again does not replace it, because a push skips what "+
			"the registry holds already. Import the kit file instead, or remove the damaged copy at the "+
			"registry (delete it and run the registry's garbage collection) and push the kit again", err)
	}
	return err
}
