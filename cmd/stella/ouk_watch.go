package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
)

type watchOptions struct {
	keys     []string
	once     bool
	interval time.Duration
	settle   time.Duration
}

// defaultSettle is how long a truncated kit file must stay unchanged before
// a running watch rejects it. A copy in progress changes the file's size and
// modification time far more often. A copy that stalls longer is rejected,
// and the kit is retried once the file changes again.
const defaultSettle = 2 * time.Minute

// rejectedKitsError ends a --once run in which kits were rejected, so the
// command exits with the code of a rejected kit.
type rejectedKitsError struct{ msg string }

func (e rejectedKitsError) Error() string { return e.msg }

func newWatchCommand(g *globalOptions) *cobra.Command {
	o := &watchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [--once] [--interval 30s] DIR",
		Short: "Import every new kit and delta dropped into a folder, in sequence order",
		Long: `Watch a drop folder where operators copy kits and deltas, and import each
new one in sequence order. The active kit, kits older than it and kits that
were active before (listed in 'stella ouk history') are skipped, so a watch
never undoes 'stella ouk rollback'; import such a kit by hand with
'stella ouk import' to activate it again.

A kit that import rejects stays in place and gets a note file
NAME.stella-rejected beside it with the reason; it is retried only when the
file changes or, for a delta whose base was missing, when the active kit
changes. A truncated kit file is retried next round while it may still be
being copied; once its size and modification time have not changed for
--settle, and always with --once, it is rejected.

Copy kits into the folder under a hidden name (starting with a dot) and
rename them when the copy is complete, so a round never sees half a kit.
Each import, skip, rejection and retry is logged on stderr with the kit
version and digest. With --once the folder is processed once and the exit
status is 3 when any kit in it is rejected.`,
		Example: `  stella ouk watch /srv/stella/drop
  stella ouk watch --once --key cosign.pub /media/usb`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args[0]) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file (repeatable)")
	f.BoolVar(&o.once, "once", false, "process the folder once and exit")
	f.DurationVar(&o.interval, "interval", 30*time.Second, "time between scans of the folder")
	f.DurationVar(&o.settle, "settle", defaultSettle,
		"time a truncated kit file must stay unchanged before it is rejected")
	return cmd
}

func (o *watchOptions) run(cmd *cobra.Command, g *globalOptions, dir string) error {
	if o.interval <= 0 {
		return usagef("--interval is %s; give a positive duration such as 30s", o.interval)
	}
	if o.settle <= 0 {
		return usagef("--settle is %s; give a positive duration such as 2m", o.settle)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usagef("drop folder %q is not a folder", dir)
	}
	ctx := cmd.Context()
	w := &watcher{g: g, opts: o, dir: dir, log: watchLogger(g, cmd.ErrOrStderr()),
		importLog: g.logger(cmd.ErrOrStderr())}
	w.log.Info("watching drop folder", "dir", dir, "once", o.once, "interval", o.interval)
	for {
		rejected, err := w.round(ctx)
		if err != nil {
			if o.once {
				return err
			}
			w.log.Error("scanning drop folder failed; retrying next round", "dir", dir, "error", err)
		}
		if o.once {
			if rejected > 0 {
				return rejectedKitsError{msg: fmt.Sprintf("%d %s rejected in %s; see the .stella-rejected %s",
					rejected, plural(rejected, "kit was", "kits were"), dir,
					plural(rejected, "note beside it", "notes beside them"))}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			w.log.Info("watch stopped", "dir", dir)
			return nil
		case <-time.After(o.interval):
		}
	}
}

// watchLogger logs watch events at info level unless --quiet is set.
func watchLogger(g *globalOptions, stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

type watcher struct {
	g         *globalOptions
	opts      *watchOptions
	dir       string
	log       *slog.Logger
	importLog *slog.Logger
	storeDir  string
}

// round scans the folder once, imports what is new and returns how many
// kits are rejected.
func (w *watcher) round(ctx context.Context) (int, error) {
	cands, err := watch.Scan(ctx, w.dir)
	if err != nil {
		return 0, err
	}
	store, storeDir, err := w.g.openStoreCache(ctx, w.importLog, w.g.lockWait, importCacheSize)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	keys, err := trustedKeys(storeDir, w.opts.keys)
	if err != nil {
		return 0, err
	}
	w.storeDir = storeDir
	rejected := 0
	for _, c := range cands {
		if ctx.Err() != nil {
			return rejected, nil
		}
		if !w.process(ctx, store, importer.Options{Store: store, Keys: keys,
			KeysDir: filepath.Join(w.storeDir, storeKeysDir), Logger: w.importLog}, c) {
			rejected++
		}
	}
	return rejected, nil
}

// process handles one candidate and returns false when it is rejected.
func (w *watcher) process(ctx context.Context, store *cas.Store, opts importer.Options, c watch.Candidate) bool {
	active, hasActive := activeKit(ctx, store)
	if note, ok := watch.ReadNote(c.Path); ok {
		if hasActive && note.Digest == active.Digest.String() {
			// The file is a damaged copy of a kit that arrived intact
			// by another file, so nothing is missing.
			w.log.Info("kit was rejected, but the kit it carries is active; skipped. Remove the file",
				append(kitAttrs(c.Path, note.Version, note.Digest), "reason", note.Reason)...)
			return true
		}
		if !note.Stale(c, string(active.Digest)) {
			// A running watch would repeat this line every round, but a
			// --once run that exits 3 names every kit it counts.
			level := slog.LevelDebug
			if w.opts.once {
				level = slog.LevelInfo
			}
			w.log.Log(ctx, level, "kit remains rejected; skipped",
				append(kitAttrs(c.Path, note.Version, note.Digest), "reason", note.Reason)...)
			return false
		}
		w.log.Info("retrying rejected kit", kitAttrs(c.Path, note.Version, note.Digest)...)
	}
	if c.PeekErr != nil {
		// An empty file is the first moment of a copy, not a bad kit.
		if errors.Is(c.PeekErr, io.ErrUnexpectedEOF) || (!c.IsDir && c.Size == 0) {
			return w.incomplete(c, nil, active.Digest.String(), c.PeekErr)
		}
		w.reject(c, nil, active.Digest.String(), c.PeekErr)
		return false
	}
	s := c.Summary
	log := w.log.With("path", c.Path, "version", s.Version, "digest", s.Digest, "kind", s.Kind)
	if w.skip(ctx, store, log, s, active, hasActive) {
		watch.RemoveNote(c.Path)
		return true
	}
	res, err := importPath(ctx, c, opts)
	switch {
	case err == nil:
		log.Info("kit imported", "sequence", res.Sequence, "action", res.Action,
			"blobsStored", res.BlobsStored, "bytesStored", res.BytesStored,
			"layersIndexed", res.LayersIndexed, "layersFromTables", res.LayersFromTables)
		for _, warning := range res.Warnings {
			log.Warn("kit imported with a warning", "warning", warning)
		}
		watch.RemoveNote(c.Path)
		return true
	case errors.Is(err, io.ErrUnexpectedEOF):
		return w.incomplete(c, s, active.Digest.String(), err)
	case errors.Is(err, errdef.ErrStoreInUse) || errors.Is(err, context.Canceled):
		log.Info("import interrupted; retrying next round", "error", err)
		return true
	}
	w.reject(c, s, active.Digest.String(), err)
	return false
}

// skip reports whether the kit needs no import and logs why: it is the
// active kit, it is older than the active kit, or it was active before. A
// newer kit that was active before is one the operator rolled back from.
func (w *watcher) skip(ctx context.Context, store *cas.Store, log *slog.Logger, s *delta.Summary,
	active cas.KitRecord, hasActive bool) bool {
	if !hasActive {
		return false
	}
	if s.Digest == active.Digest {
		log.Info("kit already active; skipped")
		return true
	}
	if s.Sequence < active.Sequence {
		log.Info("kit is older than the active kit; skipped", "sequence", s.Sequence, "activeSequence", active.Sequence)
		return true
	}
	hist, err := store.History(ctx)
	if err != nil {
		log.Warn("reading kit history failed; importing the kit if it is new", "error", err)
	}
	for _, rec := range hist {
		if rec.Digest == s.Digest {
			log.Info("kit was active before, so the active kit was rolled back from it; skipped. "+
				"Run `stella ouk import` on the file to activate it again",
				"sequence", s.Sequence, "activeVersion", active.Version, "activeDigest", active.Digest)
			return true
		}
	}
	return false
}

// incomplete handles a truncated kit. While the file may still be being
// copied it is retried next round. It is rejected once the file has not
// changed for the settle time, and with --once at once, except an empty
// file: that is the first moment of a copy, so --once waits for it to
// settle too.
func (w *watcher) incomplete(c watch.Candidate, s *delta.Summary, active string, err error) bool {
	age := time.Since(c.ModTime)
	settled := age >= w.opts.settle
	var retry bool
	switch {
	case c.IsDir:
		// A folder's modification time does not change while a file in it grows.
		retry = !w.opts.once
	case c.Size == 0:
		retry = !settled
	default:
		retry = !w.opts.once && !settled
	}
	if retry {
		msg := "kit is incomplete, perhaps still being copied; retrying next round"
		if w.opts.once {
			msg = "kit file is empty, perhaps still being copied; skipped until a later run"
		}
		w.log.Info(msg, append(kitAttrs(c.Path, summaryVersion(s), summaryDigest(s)), "error", err)...)
		return true
	}
	state := "truncated"
	if !c.IsDir && c.Size == 0 {
		state = "empty"
	}
	// The import error may already give the advice, so it is added only once.
	advice := "; copy the kit file again"
	if strings.Contains(err.Error(), "copy the kit file again") {
		advice = ""
	}
	reason := fmt.Errorf("kit file is %s%s: %w", state, advice, err)
	if settled && !c.IsDir {
		reason = fmt.Errorf("kit file is %s and has not changed for %s%s: %w",
			state, age.Round(time.Second), advice, err)
	}
	w.reject(c, s, active, reason)
	return false
}

func (w *watcher) reject(c watch.Candidate, s *delta.Summary, active string, err error) {
	err = w.withManualOverride(err, c.Path)
	note := watch.Note{Size: c.Size, ModTime: c.ModTime, Reason: err.Error(), At: time.Now().UTC(), Active: active,
		RetryOnActiveChange: errors.Is(err, errdef.ErrBaseMissing)}
	note.Version, note.Digest = summaryVersion(s), summaryDigest(s)
	w.log.Warn("kit rejected; left in place", append(kitAttrs(c.Path, note.Version, note.Digest), "reason", err)...)
	if werr := watch.WriteNote(c.Path, note); werr != nil {
		w.log.Error("writing rejection note failed", "path", c.Path, "error", werr)
	}
}

// kitAttrs returns the log attributes of a kit file, leaving out a version
// or digest that could not be read.
func kitAttrs(path, version, digest string) []any {
	attrs := []any{"path", path}
	if version != "" {
		attrs = append(attrs, "version", version)
	}
	if digest != "" {
		attrs = append(attrs, "digest", digest)
	}
	return attrs
}

func summaryVersion(s *delta.Summary) string {
	if s == nil {
		return ""
	}
	return s.Version
}

func summaryDigest(s *delta.Summary) string {
	if s == nil {
		return ""
	}
	return s.Digest.String()
}

func activeKit(ctx context.Context, store *cas.Store) (cas.KitRecord, bool) {
	rec, err := store.Active(ctx)
	return rec, err == nil
}

func importPath(ctx context.Context, c watch.Candidate, opts importer.Options) (*importer.Result, error) {
	if c.IsDir {
		return importer.ImportDir(ctx, c.Path, opts)
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	return importer.ImportStream(ctx, f, opts)
}

// withManualOverride appends, to a rejection that an import flag can
// override, the stella ouk import command with that flag and watch's store
// and keys, because watch itself has none of those flags.
func (w *watcher) withManualOverride(err error, path string) error {
	var flag, intro string
	switch {
	case errors.Is(err, errdef.ErrExpired):
		flag, intro = "--allow-expired", "watch never imports an expired kit; to import it anyway, run"
	case errors.Is(err, errdef.ErrDowngrade):
		flag, intro = "--allow-downgrade", "watch never imports an older kit; to import it anyway, run"
	case errors.Is(err, errdef.ErrSignature):
		flag, intro = "--insecure-skip-signature", "watch never skips the signature check; if you trust the "+
			"kit's builder, add the builder's public key with --key, or run"
	default:
		return err
	}
	args := []string{"stella"}
	if w.storeDir != "" {
		args = append(args, "--store", w.storeDir)
	}
	args = append(args, "ouk", "import", flag)
	for _, k := range w.opts.keys {
		if abs, aerr := filepath.Abs(k); aerr == nil {
			k = abs
		}
		args = append(args, "--key", k)
	}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	args = append(args, path)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return fmt.Errorf("%w; %s: %s", err, intro, strings.Join(args, " "))
}

// shellQuote returns s as one word for a POSIX shell: unchanged when it
// contains only safe characters, otherwise in single quotes.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
