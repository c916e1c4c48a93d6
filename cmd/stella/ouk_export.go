package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

type exportOptions struct {
	output string
	format string
	force  bool
}

// exportResult describes a kit written by `stella ouk export`.
type exportResult struct {
	// Output is the kit file, or "-" for standard output.
	Output   string    `json:"output"`
	Digest   string    `json:"digest"`
	Version  string    `json:"version"`
	Sequence int64     `json:"sequence"`
	Created  time.Time `json:"created"`
	// Size is the size of the kit file in bytes.
	Size int64 `json:"size"`
	// Blobs and Bytes count the blobs in the file and their total size.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Signatures counts the signature manifests of the bundle index.
	Signatures int `json:"signatures"`
	// IndexTablesLeftOut is set when the bundle index names pre-built
	// lookup index tables, which the store does not keep.
	IndexTablesLeftOut bool `json:"indexTablesLeftOut"`
	// Expires is the expiry time of the kit, absent when it does not
	// expire, and Expired is set when that time has passed, so that an
	// import rejects the file without --allow-expired.
	Expires time.Time `json:"expires,omitzero"`
	Expired bool      `json:"expired"`
}

func newExportCommand(g *globalOptions) *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export [KIT] -o OUT",
		Short: "Write a kit held in the store to a kit file",
		Long: `Write a kit held in the store back out as a full kit file, to carry it on to
another isolated site, to give a host that lacks the base of a delta the
whole kit, or to keep a backup once the original file is gone.

KIT is "active" (the default), the version of a kit in the store, or its
bundle digest: a full digest (sha256:...) or a prefix of one that matches a
single kit, as ` + "`stella ouk history`" + ` lists them. "active" always names the
active kit, so a kit whose version is "active" is named by its digest. The
file holds the signed bundle index,
every manifest, config and layer it reaches, the signatures of the bundle
index and their referrers tag index, as ` + "`stella ouk build`" + ` writes them. A kit
that arrived as a delta is written in full, without its delta manifest, so
that a store without its base can import the file.

The compression follows the name of OUT (.tar, .tar.gz or .tgz, .tar.zst or
.tzst). With -o -, the kit goes to standard output as an uncompressed tar.
An existing OUT is kept unless --force is given. The file is written under a
temporary name and renamed when complete, so a failure or an interrupt
leaves no partial kit.

The store keeps no pre-built lookup index tables (` + "`ouk build --index-tables`" + `),
so the exported kit has none, and its import indexes the DB layers from
their records. Without tables, the file has the same bytes as the file that
` + "`stella ouk build`" + ` of this release wrote with the same compression, so a
detached signature made with ` + "`stella ouk sign`" + ` still verifies it.`,
		Example: `  stella ouk export -o kit-0602.tar.zst
  stella ouk export sha256:3f1c -o backup/kit-0601.tar.zst
  stella ouk export 2026.06.01-020000 -o backup/kit-0601.tar.zst
  stella ouk export active -o - | stella --store /mnt/usb/store ouk import --key cosign.pub -`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kit := "active"
			if len(args) == 1 {
				// Spaces copied along with a version or digest from the
				// history name the same kit, as in rollback and check.
				kit = strings.TrimSpace(args[0])
			}
			return o.run(cmd, g, kit)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "kit file to write (.tar, .tar.gz, .tgz, .tar.zst or .tzst), or - for standard output")
	f.BoolVar(&o.force, "force", false, "replace an existing file at the output path")
	f.StringVar(&o.format, "format", "text", "result format: text or json")
	return cmd
}

func (o *exportOptions) run(cmd *cobra.Command, g *globalOptions, kit string) error {
	if err := o.check(kit, g.resolvePath(kit)); err != nil {
		return err
	}
	toStdout := o.output == "-"
	if toStdout && isTerminal(cmd.OutOrStdout()) {
		return usagef("-o - writes the kit, a tar stream, to standard output, which is a terminal; " +
			"redirect it to a file or a pipe, such as -o - > kit.tar, or give -o a file name")
	}
	out := o.output
	if !toStdout {
		out = g.resolvePath(o.output)
		if err := checkExportOutput(out, o.output, o.force); err != nil {
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
	store, _, err := g.openExistingStoreForReading(ctx, log, g.lockWait)
	if err != nil {
		return err
	}
	defer store.Close()
	d, release, err := pinExportKit(ctx, g, store, kit)
	if err != nil {
		return err
	}
	defer release()

	plan, err := planExport(ctx, store, d)
	if err != nil {
		return err
	}
	res := plan.result
	res.Output = o.output
	if res.IndexTablesLeftOut {
		log.Warn("the store keeps no pre-built lookup index tables, so the exported kit has none; its import "+
			"indexes the DB layers from their records, and the file differs from the one that ouk build wrote",
			"version", res.Version)
	}
	if res.Signatures == 0 {
		log.Warn("the kit carries no signature, as it was imported with --insecure-skip-signature, so an import "+
			"of the file rejects it unless given that flag too; to carry a signed kit on, build it with --key",
			"version", res.Version)
	}
	if res.Expired {
		log.Warn("the kit has expired, so an import of the file rejects it unless given --allow-expired; "+
			"export a newer kit where the store holds one", "version", res.Version,
			"expired", res.Expires.UTC().Format(time.RFC3339))
	}
	log.Info("exporting kit", "version", res.Version, "digest", res.Digest, "blobs", res.Blobs, "bytes", res.Bytes)
	opts := layout.TarOptions{ModTime: plan.kit.Meta.Created}
	shownOutput := "-"
	if !toStdout {
		shownOutput = displayPath(out)
	}
	progress := g.newTransfer(stderr, lines, "exporting", res.Bytes, "export in progress", "output", shownOutput)
	if progress != nil {
		opts.Progress = func(p layout.TarProgress) {
			if p.Bytes > 0 {
				progress.add(int(p.Bytes), p.Blob.String())
			}
		}
	}
	if toStdout {
		counter := &countingWriter{w: cmd.OutOrStdout()}
		err := layout.WriteTar(ctx, counter, plan.index, plan.source, opts)
		progress.stop()
		if err != nil {
			return fmt.Errorf("writing kit %s to standard output: %w", res.Version, err)
		}
		res.Size = counter.n
		log.Info("kit exported", "version", res.Version, "output", "-", "bytes", res.Size)
		return nil
	}
	res.Size, err = writeExportFile(ctx, out, plan, opts, o.force)
	progress.stop()
	if err != nil {
		return err
	}
	log.Info("kit exported", "version", res.Version, "output", out, "bytes", res.Size)
	if o.format == "json" {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	printExportResult(cmd.OutOrStdout(), res)
	return nil
}

// check rejects flag values and a KIT argument that cannot work, before
// the store is opened. kitPath is KIT read as a path in the client's
// working folder.
func (o *exportOptions) check(kit, kitPath string) error {
	o.format = strings.ToLower(o.format)
	if o.format != "text" && o.format != "json" {
		return usagef("--format is %q; use text or json", o.format)
	}
	if o.output == "" {
		return usagef("pass -o OUT, the kit file to write, such as -o kit.tar.zst, or -o - for standard output")
	}
	if o.output == "-" && o.format == "json" {
		return usagef("-o - writes the kit to standard output, so the JSON result has no place; " +
			"give -o a file name to get the result with --format json")
	}
	if o.output == "-" && o.force {
		return usagef("--force replaces an existing file, and -o - writes no file; drop --force")
	}
	if o.output != "-" {
		if err := checkTilde("-o", o.output); err != nil {
			return err
		}
		if err := checkKitName(o.output); err != nil {
			return err
		}
	}
	return checkExportKitArg(kit, kitPath)
}

// checkExportKitArg rejects a KIT argument that names no kit in the store:
// a file or folder at kitPath, or a word that is neither "active", hex
// digits of a digest nor a version that a stored kit may have.
func checkExportKitArg(kit, kitPath string) error {
	if kit == "active" {
		return nil
	}
	if _, err := os.Stat(kitPath); err == nil {
		return usagef("%s is a file or folder, but ouk export writes a kit held in the store, named by active, "+
			"its version or its bundle digest; to carry a kit file on, copy the file itself", kit)
	}
	if strings.EqualFold(kit, "active") {
		return usagef("KIT %s: the keyword is lower case, so write active", kit)
	}
	hex := strings.TrimPrefix(kit, "sha256:")
	isDigest := hex != "" && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == ""
	if !isDigest && !mayBeKitVersion(kit) {
		return usagef("KIT %q is neither active, a kit version nor a kit digest; give active, a version, or "+
			"sha256: followed by up to 64 lower-case hex digits of a digest, as `stella ouk history` lists "+
			"them%s", kit, digestPrefixAdvice(kit))
	}
	return nil
}

// fileAbove returns the nearest path above path that exists and is not a
// folder, or the parent of path when there is none.
func fileAbove(path string) string {
	for d := filepath.Dir(path); d != filepath.Dir(d); d = filepath.Dir(d) {
		if info, err := os.Stat(d); err == nil && !info.IsDir() {
			return d
		}
	}
	return filepath.Dir(path)
}

// checkExportOutput rejects an output path that is a folder, and an
// existing file there unless force is set. display is the path as given.
func checkExportOutput(out, display string, force bool) error {
	info, err := os.Lstat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return usagef("-o %s names a path under %s, which is a file, not a folder; give a file name in a "+
			"folder, such as %s", display, displayPath(fileAbove(out)), displayPath(filepath.Join(filepath.Dir(fileAbove(out)),
			"kit.tar.zst")))
	case err != nil:
		return fmt.Errorf("checking the output %s: %w", display, err)
	case info.IsDir():
		return usagef("-o %s is an existing folder, but ouk export writes a kit file; give a file name, "+
			"such as %s", display, displayPath(out+"/kit.tar.zst"))
	}
	if err := checkOutputNotSpecial("-o", out, display); err != nil {
		return err
	}
	if !force {
		return &existsError{msg: fmt.Sprintf("-o %s exists already, and ouk export does not replace it; "+
			"give another file name, or pass --force to replace it", display)}
	}
	return nil
}

// storedKitNamed returns the bundle digest of the kit of the store's
// history that arg names by its version, digest or digest prefix.
func storedKitNamed(ctx context.Context, store *cas.Store, arg string) (digest.Digest, error) {
	hist, err := store.History(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the kit history: %w", err)
	}
	matches := kitsNamed(hist, arg)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no kit in the store matches %q; run `stella ouk history` to list them: %w",
			arg, errdef.ErrNotFound)
	case 1:
		return matches[0].Digest, nil
	}
	return "", ambiguousKitError(arg, matches)
}

// pinExportKit resolves kit, "active", a version, a digest or a digest
// prefix, to a bundle digest in the store's history and pins that kit, so
// that a gc in the store service cannot remove its blobs during the
// export. A store open read-only gets no pin, because its lock keeps every
// writer out. The returned release removes the pin, and a signal that ends
// the process before then removes it too (see pinGuard).
func pinExportKit(ctx context.Context, g *globalOptions, store *cas.Store, kit string) (digest.Digest, func(), error) {
	var d digest.Digest
	var unpin func()
	if kit == "active" {
		rec, release, err := pinActiveKit(ctx, g, store)
		if errors.As(err, new(noActiveKitError)) {
			return "", nil, noActiveKitError{msg: fmt.Sprintf("no kit is active in the store %s, so there is no kit "+
				"to export; import a kit first, or name a kit that `stella ouk history` lists", store.Dir())}
		}
		if err != nil {
			return "", nil, err
		}
		d, unpin = rec.Digest, release
	} else {
		var err error
		if d, err = storedKitNamed(ctx, store, kit); err != nil {
			return "", nil, err
		}
		unpin = func() {}
		switch {
		case store.ReadOnly():
		case g.svc != nil && g.request != nil:
			// On a volume short of space, the service writes no pin (see
			// service.pinKit).
			if unpin, err = g.svc.pinKit(ctx, d, g.pinHolder(), g.request.id); err != nil {
				return "", nil, fmt.Errorf("pinning kit %s: %w", d, err)
			}
		default:
			if unpin, err = store.PinProcess(ctx, d, g.pinHolder()); err != nil {
				return "", nil, fmt.Errorf("pinning kit %s: %w", d, err)
			}
		}
	}
	guard := inertPinGuard()
	if g.svc == nil {
		guard = guardPin(ctx, unpin)
	}
	release := func() {
		unpin()
		guard.stop()
	}
	// A gc may have removed a kit named by digest before the pin, as a
	// kit that is no longer kept.
	if _, err := store.Stat(ctx, d); err != nil {
		release()
		return "", nil, fmt.Errorf("kit %s is listed in the history of the store %s, but its bundle index is no "+
			"longer stored, as after a gc; run `stella ouk history` to list the kits that remain: %w", d, store.Dir(), err)
	}
	return d, release, nil
}

// exportPlan is the content of an exported kit.
type exportPlan struct {
	kit    *delta.Kit
	index  ocispec.Index
	source *firstThenStore
	result exportResult
}

// planExport lists the index.json of the kit with bundle digest d as
// `stella ouk build` writes it: the bundle index tagged with the kit's
// version, its signature manifests, and the referrers tag index that
// lists them. The store keeps no referrers tag index, so planExport
// encodes it again, which gives the same bytes as the build's for the
// same signatures.
func planExport(ctx context.Context, store *cas.Store, d digest.Digest) (*exportPlan, error) {
	kit, err := storedKit(ctx, store, d)
	if err != nil {
		return nil, err
	}
	p := &exportPlan{kit: kit, index: kit.Index}
	p.index.SchemaVersion = 2
	p.index.MediaType = ocispec.MediaTypeImageIndex
	sigs := kit.Index.Manifests[1:]
	mem := memory.New()
	if len(sigs) > 0 {
		listed := make([]ocispec.Descriptor, 0, len(sigs))
		for _, s := range sigs {
			raw, err := content.FetchAll(ctx, store, s)
			if err != nil {
				return nil, fmt.Errorf("reading signature manifest %s of kit %s: %w", s.Digest, kit.Meta.Version, err)
			}
			r, err := layout.ReferrerDescriptor(s, raw)
			if err != nil {
				return nil, err
			}
			listed = append(listed, r)
		}
		entry, raw, err := layout.NewReferrersTagIndex(d, listed)
		if err != nil {
			return nil, err
		}
		if err := mem.Push(ctx, entry, bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("staging the referrers tag index of kit %s: %w", kit.Meta.Version, err)
		}
		p.index.Manifests = append(p.index.Manifests, entry)
	}
	p.source = &firstThenStore{first: mem, store: store}

	p.result = exportResult{Digest: d.String(), Version: kit.Meta.Version, Sequence: kit.Meta.Sequence,
		Created: kit.Meta.Created, Signatures: len(sigs), Expires: kit.Meta.Expires,
		Expired: !kit.Meta.Expires.IsZero() && time.Now().After(kit.Meta.Expires)}
	// The store drops the manifest of pre-built index tables after the
	// import, and keeps no tables (see importer.indexTables).
	p.result.IndexTablesLeftOut = kit.BundleIndex.Annotations[oci.AnnotationDBIndex] != ""
	seen := map[digest.Digest]bool{}
	for _, entry := range p.index.Manifests {
		graph, err := delta.WalkGraph(ctx, p.source, entry)
		if err != nil {
			return nil, fmt.Errorf("reading the graph of kit %s: %w", kit.Meta.Version, err)
		}
		for _, part := range []map[digest.Digest]ocispec.Descriptor{graph.Meta, graph.Data} {
			for dg, desc := range part {
				if !seen[dg] {
					seen[dg] = true
					p.result.Blobs++
					p.result.Bytes += desc.Size
				}
			}
		}
	}
	return p, nil
}

// writeExportFile writes the planned kit to out, under a temporary name
// that it renames to out once the file is complete and synced. Without
// force, the rename fails when a file appeared at out meanwhile. It returns
// the size of the file.
func writeExportFile(ctx context.Context, out string, p *exportPlan, opts layout.TarOptions, force bool) (int64, error) {
	comp, err := layout.CompressionFromName(out)
	if err != nil {
		return 0, err
	}
	opts.Compression = comp
	removeFolders, err := build.CreateParentFolder(out)
	if err != nil {
		return 0, err
	}
	defer removeFolders()
	p.source.writing = true
	pending, err := layout.WritePendingTarFile(ctx, out, p.index, p.source, opts)
	if err != nil {
		return 0, err
	}
	defer pending.Discard()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if force {
		err = pending.Commit()
	} else if err = pending.CommitNew(); errors.Is(err, fs.ErrExist) {
		return 0, &existsError{msg: fmt.Sprintf("%s appeared while the kit was written, and ouk export does not "+
			"replace it; give another file name, or pass --force to replace it", out)}
	}
	if err != nil {
		return 0, err
	}
	return pending.Size(), nil
}

func printExportResult(w io.Writer, res exportResult) {
	fmt.Fprintf(w, "Exported kit %s to %s, %s\n", res.Version, res.Output, humanBytes(res.Size))
	fmt.Fprintf(w, "  bundle digest  %s\n", res.Digest)
	fmt.Fprintf(w, "  blobs          %d, %s\n", res.Blobs, humanBytes(res.Bytes))
	fmt.Fprintf(w, "  signatures     %d\n", res.Signatures)
	if !res.Expires.IsZero() {
		state := "expires"
		if res.Expired {
			state = "expired"
		}
		fmt.Fprintf(w, "  %-14s %s\n", state, res.Expires.UTC().Format(time.RFC3339))
	}
	if res.IndexTablesLeftOut {
		fmt.Fprintln(w, "  index tables   left out, because the store keeps none; an import indexes the DB layers from their records")
	}
}

// exportWriting, when not nil, runs once in an export that writes a file,
// at its first read of a blob after the temporary file exists, while the
// kit is pinned. End-to-end tests set it to pause an export there, and
// the stella binary leaves it nil.
var exportWriting func(ctx context.Context)

// firstThenStore serves the blobs of first, and the others from store.
type firstThenStore struct {
	first *memory.Store
	store *cas.Store
	// writing is set once the temporary file of the export exists.
	writing bool
}

func (s *firstThenStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if s.writing && exportWriting != nil {
		hook := exportWriting
		exportWriting = nil
		hook(ctx)
	}
	if ok, err := s.first.Exists(ctx, d); err == nil && ok {
		return s.first.Fetch(ctx, d)
	}
	return s.store.Fetch(ctx, d)
}

func (s *firstThenStore) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if ok, err := s.first.Exists(ctx, d); err == nil && ok {
		return true, nil
	}
	return s.store.Exists(ctx, d)
}
