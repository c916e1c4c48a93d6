package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

type watchOptions struct {
	keys     []string
	once     bool
	interval time.Duration
	settle   time.Duration
}

// defaultSettle is the time that a truncated or damaged kit file, or a
// layout folder that fails to import, must stay unchanged before a running
// watch rejects it. A copy in progress changes the fingerprint far more
// often. A copy that stalls longer is rejected, and the kit is retried
// once it changes again.
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
new one in sequence order. A kit is a file whose name ends in .tar,
.tar.gz, .tgz, .tar.zst or .tzst, in any case, or an OCI layout folder
(a folder holding an oci-layout file). Other entries are skipped, and -v
logs each of them once with the reason. A folder named like a kit file
but without an oci-layout file is logged as a warning instead, and makes
--once exit 1. The active kit, kits older than it
and kits that were active before (listed in 'stella ouk history') are
skipped, so a watch never undoes 'stella ouk rollback'. To activate such
a kit again, run 'stella ouk rollback DIGEST' while the store holds it,
else 'stella ouk import' on its file.

Two files of the same sequence that carry different kits, each signed by
a trusted key, are both rejected, and each note names the other file;
remove the one you do not want. When one of them is the active kit, only
the other is rejected. A kit whose signature does not verify with a
trusted key blocks no other kit, unless it is the active kit. The watch
tries it like any other kit, so its import rejects it for its signature.

A kit that import rejects stays in place and gets a note file
NAME.stella-rejected beside it with the reason and the store; the watch of
another store evaluates the kit itself and leaves that note as it is. A
rejected kit is retried only when the file or the folder's contents change
(a new copy made with cp -p or rsync -t counts), for a delta whose base
was missing when the active kit changes, and for a kit signed by a key
the store did not trust when the trusted keys (--key and the store's keys
folder) change. A rejected kit that is older
than the active kit is skipped, and its note removed. The note of a
removed kit is removed in the next round.
A truncated kit file, a layout folder that fails to import, and a kit
file with damaged content that changed within --settle are retried next
round while they may still be being copied; once such a kit has not
changed for --settle, and always with --once, it is rejected.
An import that fails on the host, not the kit, such as for a full disk
or an I/O error of the store's volume, rejects nothing: the kit is tried
again next round.

Copy kits into the folder under a hidden name (starting with a dot) and
rename them when the copy is complete, so a round never sees half a kit.
Each import, skip, rejection and retry is logged on stderr with the kit
version and digest; a skip is logged once until the file changes. The
skip of a kit older than an active kit created ahead of the clock with
its creation time as sequence is logged as an error, with -q too,
because it blocks every later kit. Every
line on stderr, the importer's lines and the error that ends the watch
included, is a log line of key=value pairs that starts with time=, level=
and msg=. An import shows its progress as 'stella ouk import' does: a bar
on a terminal, erased when the import ends, else an "import in progress"
line at info level every 15 seconds, also without -v.

With --once the folder is processed in rounds until a round imports
nothing, so a kit rejected earlier in the run is tried again against the
kit that became active. The exit status is 3 when any kit in the folder
stays rejected, and 1 when the folder does not exist, holds a folder
named like a kit file, or holds a kit skipped as older than an active kit
created ahead of the clock; the last line of a run that exits 1 also
counts the kits it rejected. Without --once, a
missing folder, at start or later, is logged as an error and retried
each round, so the folder may be on media that is mounted later. A watch
stopped by SIGINT or SIGTERM exits 0 when it is waiting for the next
round, and 130 when it is stopped during a round, such as in the middle
of an import. A watch exits 1 when its volume fills while it opens the
store for writing, as under a disk quota or a file size limit, because
such an open leaves the store locked by the watch's process until it
exits. Run the watch under a service manager that restarts it on failure
(Restart=on-failure in systemd), so the store opens again once space is
freed.`,
		Example: `  stella ouk watch /srv/stella/drop
  stella ouk watch --once --key cosign.pub /media/usb`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := newWatcher(g, o, args[0], cmd.ErrOrStderr())
			return w.logExit(w.run(cmd.Context()))
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file (repeatable)")
	f.BoolVar(&o.once, "once", false, "process the folder once and exit")
	f.DurationVar(&o.interval, "interval", 30*time.Second, "time between scans of the folder")
	f.DurationVar(&o.settle, "settle", defaultSettle,
		"time a truncated or damaged kit file, or a layout folder that fails to import, must stay unchanged "+
			"before it is rejected")
	return cmd
}

// run watches the drop folder until ctx ends or, with --once, until a
// round imports nothing.
func (w *watcher) run(ctx context.Context) error {
	o, dir := w.opts, w.dir
	if o.interval <= 0 {
		return usagef("--interval is %s; give a positive duration such as 30s", o.interval)
	}
	if o.settle <= 0 {
		return usagef("--settle is %s; give a positive duration such as 2m", o.settle)
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && !o.once:
		// A folder on removable media may be mounted after the service
		// starts, so the rounds wait for it as for a folder that vanishes
		// later.
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("drop folder %q does not exist; create it, or check the path: %w", dir, err)
	case err != nil:
		return fmt.Errorf("drop folder %q: %w", dir, err)
	case !info.IsDir():
		return usagef("drop folder %q is a file, not a folder; give the folder that kits are copied into", dir)
	}
	w.log.Info("watching drop folder", "dir", dir, "once", o.once, "interval", o.interval)
	for {
		res, err := w.round(ctx)
		if ctx.Err() != nil && (res.interrupted || err != nil) {
			return w.stopped(res)
		}
		if errors.Is(err, errdef.ErrOpenAbandoned) {
			return w.abandoned(err)
		}
		if damage := storeDamage(err, res.deferred); damage != nil {
			return w.storeDamaged(damage)
		}
		if err != nil {
			if o.once {
				return err
			}
			w.roundFailed(err)
		} else {
			w.roundFailures.succeeded(w.log, "drop folder scanned again after failed rounds")
		}
		if o.once {
			// Another round gives a kit rejected earlier in this run a try
			// against the kit that became active since. Each import
			// activates a kit that the watch skips from then on, so the
			// rounds end once every kit in the folder had its turn.
			if res.imported > 0 {
				continue
			}
			return onceEnd(res, dir)
		}
		select {
		case <-ctx.Done():
			w.log.Info("watch stopped", "dir", dir)
			return nil
		case <-time.After(o.interval):
		}
	}
}

// abandoned logs why the watch exits after an open of the store that
// found the volume full partway, and returns the error that ends it. This
// process keeps the store's lock until it exits, so every later round would
// fail, and every other stella command would find the store in use.
func (w *watcher) abandoned(err error) error {
	w.exitLog.Error("watch exits, because its open of the store ran out of room partway and left the "+
		"store locked by this process; fix what the error names, then start the watch again (a service "+
		"manager with Restart=on-failure does that)", "dir", w.dir, "error", err)
	return loggedError{err: err}
}

// roundFailed logs the error of a round that failed before it reached the
// kits, unless the same failure was logged recently. The message names the
// step that failed, and a missing drop folder as such.
func (w *watcher) roundFailed(err error) {
	msg := "round failed; retrying next round"
	attrs := []any{"dir", w.dir}
	var stepErr roundStepError
	if errors.As(err, &stepErr) {
		msg = stepErr.msg
		if stepErr.store != "" {
			attrs = append(attrs, "store", stepErr.store)
		}
	}
	if _, statErr := os.Stat(w.dir); errors.Is(statErr, os.ErrNotExist) {
		msg = "drop folder does not exist; retrying each round until it is created or mounted"
	}
	w.roundFailures.failed(w.log, w.now(), msg, w.dir, append(attrs, "error", err)...)
}

// roundStepError is the error of a step that a round needs before it can
// process any kit, with the log message that names the step.
type roundStepError struct {
	msg string
	// store is the store folder when the step concerns the store, else "".
	store string
	err   error
}

func (e roundStepError) Error() string { return e.err.Error() }

func (e roundStepError) Unwrap() error { return e.err }

// Log messages of a round that failed before it processed any kit.
const (
	msgScanFailed      = "scanning the drop folder failed; retrying next round"
	msgOpenStoreFailed = "opening the store failed; retrying next round"
	msgKeysFailed      = "reading trusted keys failed; retrying next round"
	msgActiveKitFailed = "reading the active kit from the store failed; no kit is imported or rejected " +
		"until it can be read. Check the volume of the store folder given as store= for I/O errors or a " +
		"read-only remount; retrying next round"
)

// rejectedSummary returns the error message of a --once run that ends with
// rejected kits.
func rejectedSummary(res roundResult, dir string) string {
	msg := fmt.Sprintf("%d %s rejected in %s", res.rejected, plural(res.rejected, "kit was", "kits were"), dir)
	switch res.withoutNote {
	case 0:
		return msg + "; see the .stella-rejected " + plural(res.rejected, "note beside it", "notes beside them") +
			", and delete a note to make the watch try its kit again"
	case res.rejected:
		return msg + "; no .stella-rejected note of this store's watch records " +
			plural(res.rejected, "the rejection", "the rejections") + ", because writing it failed or the " +
			"note there belongs to the watch of another store, so see the reasons in the log above"
	}
	return fmt.Sprintf("%s; see the .stella-rejected notes beside them, and the log above for the %d "+
		"whose note could not be written or belongs to the watch of another store", msg, res.withoutNote)
}

// stopped logs why a signal ended the watch during a round and returns the
// error that makes the command exit with exitInterrupted. A watch stopped
// between rounds leaves nothing half done, so run exits 0 then instead.
// The line is the last of the watch, so it appears with --quiet too.
func (w *watcher) stopped(res roundResult) error {
	if res.interruptedKit != "" {
		w.exitLog.Warn("watch stopped by a signal during an import, which left the active kit as it was; "+
			"kits imported earlier in this run stay active. Start the watch again to import this kit",
			"dir", w.dir, "path", res.interruptedKit)
		return loggedError{err: fmt.Errorf("watch stopped during the import of %s: %w", res.interruptedKit, context.Canceled)}
	}
	w.exitLog.Warn("watch stopped by a signal before the round finished; kits imported earlier stay active. "+
		"Start the watch again to process the rest of the folder", "dir", w.dir)
	return loggedError{err: fmt.Errorf("watch stopped during a round in %s: %w", w.dir, context.Canceled)}
}

// logExit logs err, the error that ends the watch, as its last line in
// the format of the other lines, unless it was logged already, and marks
// it as logged so main does not print it again. The line appears with
// --quiet too.
func (w *watcher) logExit(err error) error {
	if err == nil || errors.As(err, new(loggedError)) {
		return err
	}
	msg := "watch failed"
	if errors.As(err, new(rejectedKitsError)) {
		// The round imported what it could, and only some kits were rejected.
		msg = "watch finished with rejected kits"
	}
	w.exitLog.Error(msg, "dir", w.dir, "error", err)
	return loggedError{err: err}
}

// watchLoggers returns the logger of watch events, the logger for the
// store and the importer, and the logger of the line that ends the watch.
// All three share one text handler, so every line starts with its time and
// lines logged at once by several goroutines never mix. Watch events log
// from info level and the importer from warn level. --verbose lowers both
// by one level, --quiet keeps only errors, and the exit logger logs every
// level.
func watchLoggers(g *globalOptions, stderr io.Writer) (watchLog, importLog, exitLog *slog.Logger) {
	base := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: plainError})
	watchLevel, importLevel := slog.LevelInfo, slog.LevelWarn
	if g.verbose {
		watchLevel, importLevel = slog.LevelDebug, slog.LevelInfo
	}
	if g.quiet {
		watchLevel, importLevel = slog.LevelError, slog.LevelError
	}
	return slog.New(minLevelHandler{min: watchLevel, next: base}),
		slog.New(minLevelHandler{min: importLevel, next: base}), slog.New(base)
}

// minLevelHandler passes the records of level min and above to next, so
// loggers with different levels can share one handler and its lock.
type minLevelHandler struct {
	min  slog.Level
	next slog.Handler
}

func (h minLevelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.min && h.next.Enabled(ctx, level)
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{min: h.min, next: h.next.WithAttrs(attrs)}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{min: h.min, next: h.next.WithGroup(name)}
}

type watcher struct {
	g         *globalOptions
	opts      *watchOptions
	dir       string
	log       *slog.Logger
	importLog *slog.Logger
	exitLog   *slog.Logger
	storeDir  string
	// keySet identifies the trusted keys of the current round, as
	// watch.KeySetID does. A kit rejected for its signature is tried again
	// once it differs from the key set of the rejection.
	keySet string
	// store names the store in the rejection notes of this watch: its
	// folder and, once it exists, its ID (see refreshStore). A note that
	// the watch of another store wrote is not this watch's rejection.
	store watch.StoreRef
	// scanner lists the drop folder and keeps each kit's summary until the
	// kit changes.
	scanner *watch.Scanner
	// logged maps a drop folder entry's path to the last event that logOnce
	// logged for it, so a running watch does not repeat a skip every round.
	logged map[string]loggedEvent
	// unwrittenNotes are the rejection notes that could not be written
	// beside their kits, such as in a read-only drop folder, or that were
	// not written because the note there belongs to the watch of another
	// store. They keep this process from importing the kit again every
	// round.
	unwrittenNotes map[string]watch.Note
	// lastDeferred is the error of the last import that failed for a
	// reason outside its kit.
	lastDeferred error
	// roundFailures counts rounds that failed before they reached the
	// kits, so that a failure repeating every round is not logged every
	// round. importFailures does the same, by kit path, for imports that
	// failed for lack of space. Each kit has its own count because the
	// kits of one round fail in turn, and a shared count would log each
	// of them every round.
	roundFailures  failureRepeats
	importFailures map[string]*failureRepeats
	// storeFailures counts the rounds that an error of the store itself
	// ended. It has one count, because such an error ends the round at its
	// first kit. An import, or a round that processes every kit without
	// such an error, clears it.
	storeFailures failureRepeats
	// handled maps the path of each candidate that an earlier round
	// finished with to the state it had then, so that a round in which
	// nothing changed does not open the store for writing. roundReachedKits
	// is set once a round has opened the store and read the active kit.
	handled          map[string]handledKit
	roundReachedKits bool
	// readOnlyRounds records the warning that rounds without work read
	// the store read-only, because it failed to open for writing.
	readOnlyRounds readOnlyRounds
	// newStoreRemoved is set once the watch has removed a store that a
	// round created and left empty, so it logs that once.
	newStoreRemoved bool
	// waitingCopies maps the path of each kit that the last import left
	// waiting for its copy to finish to the state it had then, so that
	// the kit is not imported again until it changes. A racy kit (see
	// watch.Candidate.Racy) is not recorded.
	waitingCopies map[string]waitingCopy
	// now returns the time, and importKit imports a candidate. Tests
	// replace both.
	now       func() time.Time
	importKit func(ctx context.Context, c watch.Candidate, opts importer.Options) (*importer.Result, error)
	// lines is set when stderr is a terminal, for the progress bar.
	lines *terminalLines
}

// waitingCopy is the state of a kit whose import failed as if it were
// still being copied: its fingerprint, the active kit and the error.
type waitingCopy struct {
	fingerprint watch.Fingerprint
	active      string
	err         error
}

func newWatcher(g *globalOptions, o *watchOptions, dir string, stderr io.Writer) *watcher {
	var store watch.StoreRef
	if storeDir, err := g.storeDir(); err == nil {
		store = watch.StoreRef{Path: watch.StoreIdentity(storeDir), ID: cas.StoreID(filepath.Join(storeDir, storeDBDir))}
	}
	w := &watcher{g: g, opts: o, dir: dir, store: store, scanner: watch.NewScanner(dir, store),
		logged: map[string]loggedEvent{}, unwrittenNotes: map[string]watch.Note{},
		importFailures: map[string]*failureRepeats{}, handled: map[string]handledKit{},
		waitingCopies: map[string]waitingCopy{}, now: time.Now}
	w.importKit = w.importWithProgress
	// On a terminal, the log lines share stderr with the progress bar of
	// an import.
	if w.lines = g.progressLines(stderr); w.lines != nil {
		stderr = w.lines
	}
	w.log, w.importLog, w.exitLog = watchLoggers(g, stderr)
	return w
}

// refreshStore reads the ID of the watch's store, which the store gets at
// its first open for writing, so a watch that created the store records it
// from then on.
func (w *watcher) refreshStore() {
	if w.store.ID != "" || w.store.Path == "" {
		return
	}
	storeDir, err := w.g.storeDir()
	if err != nil {
		return
	}
	if id := cas.StoreID(filepath.Join(storeDir, storeDBDir)); id != "" {
		w.store.ID = id
		w.scanner.SetStore(w.store)
	}
}

// outcome is the result of processing one candidate.
type outcome int

const (
	// outcomeSkipped means nothing was imported, because the kit is
	// applied already or needs no import.
	outcomeSkipped outcome = iota
	// outcomeImported means the kit became active.
	outcomeImported
	// outcomeRejected means the kit is left in place as rejected.
	outcomeRejected
	// outcomeInterrupted means a signal stopped the import.
	outcomeInterrupted
	// outcomeDeferred means the import failed for a reason outside the
	// kit, such as a full disk: the kit is not rejected, and the next
	// round tries it again.
	outcomeDeferred
	// outcomeStoreFailed is an outcomeDeferred caused by the store itself,
	// such as an I/O error of its volume. It ends the round, because
	// every later kit would fail on the same store.
	outcomeStoreFailed
	// outcomeWaiting means nothing was imported yet, and the next round
	// tries the kit again: its copy may still be in progress, or another
	// process had the store.
	outcomeWaiting
	// outcomeBlocked means the kit is skipped as older than an active kit
	// that blocks every kit built at the right time (see
	// skipOlderThanActiveAhead). A --once run exits with 1 for it, because
	// the kit waits for an operator.
	outcomeBlocked
)

// onceEnd returns the result of a --once run whose last round imported
// nothing: the first import error outside the kits, else the rejections,
// else the kits that an active kit created ahead of the clock blocks.
func onceEnd(res roundResult, dir string) error {
	if res.deferred != nil {
		also := ""
		if res.rejected > 0 {
			// The exit status reports the failure outside the kits, so
			// the line names the rejections too.
			also = "; besides, " + rejectedSummary(res, dir)
		}
		return fmt.Errorf("an entry of %s was not imported and stays in place, not rejected (%w); fix the cause "+
			"and run the watch again%s", dir, res.deferred, also)
	}
	if res.rejected > 0 {
		return rejectedKitsError{msg: rejectedSummary(res, dir)}
	}
	if res.blocked > 0 {
		return errors.New(blockedSummary(res, dir))
	}
	return nil
}

// roundResult counts the outcomes of one round.
type roundResult struct {
	imported int
	rejected int
	// withoutNote counts the rejected kits whose note could not be written.
	withoutNote int
	// interrupted is set when a signal ended the round before every kit
	// was processed.
	interrupted bool
	// interruptedKit is the path of the kit whose import a signal stopped.
	interruptedKit string
	// deferred is the first error outside the kits, such as a full disk,
	// that stopped an import this round.
	deferred error
	// blocked counts the kits skipped with outcomeBlocked.
	blocked int
}

// round scans the folder once and imports what is new.
func (w *watcher) round(ctx context.Context) (roundResult, error) {
	var res roundResult
	w.refreshStore()
	listing, err := w.scanner.Scan(ctx)
	if err != nil {
		return res, roundStepError{msg: msgScanFailed, err: err}
	}
	w.log.Debug("drop folder scanned", "dir", w.dir, "kits", len(listing.Candidates),
		"skipped", len(listing.Skipped))
	w.forgetMissing(listing)
	// A misnamed folder ends a --once run with an error, as a kit this host
	// cannot read does, because the operator meant to drop a kit.
	res.deferred = w.logSkipped(ctx, listing.Skipped)
	w.removeOrphanNotes(ctx, listing.OrphanNotes)
	if !w.opts.once && w.idle(ctx, listing) {
		w.log.Debug("no kit changed since the last round, and the active kit is the same; store not opened for writing",
			"dir", w.dir)
		return res, nil
	}
	newStore := w.g.absentStoreParts()
	store, storeDir, err := w.g.openStoreCache(ctx, w.importLog, w.g.lockWait, importCacheSize)
	if errors.Is(err, errdef.ErrOpenAbandoned) {
		// A read-only open fails the same way, and so does every later
		// round, so run ends the watch.
		return res, err
	}
	if err != nil {
		if readOnlyRes, ok := w.roundReadOnly(ctx, listing, res, err); ok {
			return readOnlyRes, nil
		}
		return res, roundStepError{msg: msgOpenStoreFailed, err: err}
	}
	// In the store service, the next command that changes the store runs
	// once this round is done with it.
	defer w.g.releaseWriter()
	defer store.Close()
	defer w.removeUnusedNewStore(store, storeDir, newStore)
	w.readOnlyRounds.ended(w.log, w.dir)
	keys, err := trustedKeys(w.importLog, storeDir, w.opts.keys)
	if err != nil {
		return res, roundStepError{msg: msgKeysFailed, err: err}
	}
	w.keySet = keySetID(keys)
	w.storeDir = storeDir
	opts := importer.Options{Store: store, Keys: keys, KeysDir: filepath.Join(w.storeDir, storeKeysDir),
		ImageWarnings: imageRefWarnings, Logger: w.importLog}
	active, hasActive, err := activeKit(ctx, store)
	if err != nil {
		return res, roundStepError{msg: msgActiveKitFailed, store: storeDir, err: err}
	}
	w.roundReachedKits = true
	conflicts := watch.Conflicts(listing.Candidates, func(c watch.Candidate) bool {
		return w.countsInConflict(ctx, c, keys, active, hasActive)
	})
	for _, c := range listing.Candidates {
		if ctx.Err() != nil {
			res.interrupted = true
			return res, nil
		}
		o := w.process(ctx, store, opts, c, conflicts[c.Path])
		w.markHandled(c, o, active.Digest.String())
		switch o {
		case outcomeImported:
			res.imported++
		case outcomeBlocked:
			res.blocked++
		case outcomeRejected:
			res.rejected++
			if _, ok := w.unwrittenNotes[c.Path]; ok {
				res.withoutNote++
			}
		case outcomeInterrupted:
			res.interrupted = true
			res.interruptedKit = c.Path
			return res, nil
		case outcomeDeferred:
			if res.deferred == nil {
				res.deferred = w.lastDeferred
			}
			if store.Broken() != nil {
				// A full disk during a write can leave the store unable to
				// write, and later kits would fail at once.
				return res, nil
			}
		case outcomeStoreFailed:
			// Every later kit of the round would fail on the same store.
			if res.deferred == nil {
				res.deferred = w.lastDeferred
			}
			return res, nil
		}
	}
	// A compaction may have found a damaged file that no read returned,
	// and run ends the watch on it.
	if err := store.Damage(); err != nil {
		return res, err
	}
	// The round read the active kit and processed every kit without a
	// failure of the store, so the store works again, even when no kit
	// was imported. The next store failure is a new one and is logged.
	w.storeFailures.succeeded(w.log, "round finished without a store failure after rounds in which the store failed")
	return res, nil
}

// process handles one candidate. conflicts are the other candidates of the
// same sequence with another digest.
func (w *watcher) process(ctx context.Context, store *cas.Store, opts importer.Options, c watch.Candidate,
	conflicts []watch.Candidate) outcome {
	active, hasActive, err := activeKit(ctx, store)
	if err != nil {
		return w.storeFailed(c, kitAttrs(c.Path, "", ""), err)
	}
	activeDigest := active.Digest.String()
	if reason := conflictReason(c, conflicts, active, hasActive); reason != "" {
		return w.rejectConflict(ctx, c, reason, activeDigest)
	}
	if note, ok := w.readNote(c.Path); ok {
		if hasActive && note.Digest == activeDigest && !note.RetryOnActiveChange && !note.Conflict {
			// The file is a damaged copy of a kit that arrived intact
			// by another file, so nothing is missing. A delta rejected
			// for its missing base is intact, so it is retried below
			// and skipped as already active.
			w.logOnce(ctx, c, slog.LevelInfo, "kit was rejected, but the kit it carries is active; skipped. Remove the file",
				append(kitAttrs(c.Path, note.Version, note.Digest), "reason", note.Reason)...)
			return outcomeSkipped
		}
		// A conflict note is stale once the conflict that wrote it ended,
		// because conflictReason found none this round.
		if !note.Conflict && !note.Stale(c, activeDigest) && !note.KeysChanged(w.keySet) {
			if o, skipped := w.skipRejected(ctx, store, c, note, active, hasActive); skipped {
				return o
			}
			return w.remainsRejected(ctx, c, note)
		}
		w.log.Info("retrying rejected kit", kitAttrs(c.Path, note.Version, note.Digest)...)
	}
	if c.NotPeeked {
		// The note that kept the scan from reading the kit is gone or
		// stale now, so the next scan reads it.
		return outcomeWaiting
	}
	if c.PeekErr != nil && isLocalReadError(c.PeekErr) {
		return w.unreadable(ctx, c, kitAttrs(c.Path, "", ""), c.PeekErr)
	}
	if c.PeekErr != nil {
		return w.contentFailed(ctx, c, nil, activeDigest, c.PeekErr)
	}
	s := c.Summary
	attrs := []any{"path", c.Path, "version", s.Version, "digest", s.Digest, "kind", s.Kind}
	msg, extra, err := w.skipReason(ctx, store, c.Path, s, active, hasActive)
	if err != nil {
		return w.historyFailed(ctx, c, attrs, err)
	}
	if msg != "" {
		w.logOnce(ctx, c, skipLevel(msg), msg, append(attrs, extra...)...)
		w.removeNote(c.Path)
		return skipOutcome(msg)
	}
	if wc, ok := w.waitingCopies[c.Path]; ok && wc.fingerprint.Equal(c.Fingerprint()) && wc.active == activeDigest {
		// Nothing changed since the import failed as if the kit were still
		// being copied, so another import would fail the same way. Only
		// the settle time may have run out since.
		return w.contentFailed(ctx, c, s, activeDigest, wc.err)
	}
	delete(w.waitingCopies, c.Path)
	res, err := w.importKit(ctx, c, opts)
	if err == nil {
		if f, ok := w.importFailures[c.Path]; ok {
			f.succeeded(w.log, "kit imported after rounds that lacked disk space")
			delete(w.importFailures, c.Path)
		}
		w.storeFailures.succeeded(w.log, "kit imported after rounds in which the store failed")
		return w.imported(c, attrs, res)
	}
	return w.importFailed(ctx, c, s, attrs, activeDigest, err)
}

// importFailed handles a failed import: it separates a problem of the host,
// retried next round, from a problem of the kit, which rejects it.
func (w *watcher) importFailed(ctx context.Context, c watch.Candidate, s *delta.Summary, attrs []any,
	activeDigest string, err error) outcome {
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		w.log.Info("import interrupted by a signal", append(attrs, "error", err)...)
		return outcomeInterrupted
	case errors.Is(err, errdef.ErrStoreInUse) || errors.Is(err, context.Canceled):
		w.log.Info("import interrupted; retrying next round", append(attrs, "error", err)...)
		return outcomeWaiting
	case errors.Is(err, errdef.ErrDiskFull):
		f, ok := w.importFailures[c.Path]
		if !ok {
			f = &failureRepeats{}
			w.importFailures[c.Path] = f
		}
		f.failed(w.log, w.now(),
			"import failed for lack of disk space; the kit is not rejected and is tried again next round", c.Path,
			append(attrs, "error", err)...)
		w.lastDeferred = err
		return outcomeDeferred
	case cas.IsStoreError(err):
		return w.storeFailed(c, attrs, err)
	case isLocalReadError(err):
		return w.unreadable(ctx, c, attrs, err)
	}
	return w.contentFailed(ctx, c, s, activeDigest, err)
}

// contentFailed handles a kit whose content failed to read or import. It
// rejects the kit unless the failure may come from a copy in progress. An
// empty file is the first moment of a copy, and a file may be truncated
// or a layout folder incomplete because its copy is still running. A
// running watch also waits for a file with damaged content that changed
// within --settle, because some copy tools set a file's size first and
// then fill it, and its unwritten part reads as zero bytes.
func (w *watcher) contentFailed(ctx context.Context, c watch.Candidate, s *delta.Summary, active string,
	err error) outcome {
	if c.IsDir || c.Size == 0 || errors.Is(err, io.ErrUnexpectedEOF) || (!w.opts.once && isDamagedContent(err)) {
		return w.incomplete(ctx, c, s, active, err)
	}
	w.reject(c, s, active, err)
	return outcomeRejected
}

// isDamagedContent reports whether err rejects a kit for bytes that do not
// form a valid kit: a digest or size mismatch, a corrupt or invalid
// stream, or an unknown compression, such as of a file that starts with
// zero bytes. A file still being filled fails in these ways. A kit that
// fails a signature, expiry or sequence check was read in full, so those
// failures do not count.
func isDamagedContent(err error) bool {
	for _, sentinel := range []error{errdef.ErrDigestMismatch, errdef.ErrSizeMismatch, errdef.ErrInvalidKit,
		errdef.ErrUnknownCompression} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}

// remainsRejected logs that a kit stays rejected, once while it stays
// unchanged, and returns its outcome.
func (w *watcher) remainsRejected(ctx context.Context, c watch.Candidate, note watch.Note) outcome {
	// A running watch logs this at debug level, but a --once run that
	// exits 3 names every kit it counts.
	level := slog.LevelDebug
	if w.opts.once {
		level = slog.LevelInfo
	}
	attrs := append(kitAttrs(c.Path, note.Version, note.Digest), "reason", note.Reason)
	w.logOnce(ctx, c, level, msgRemainsRejected, append(attrs, retryAttrs(c.Path, note.Keys != "")...)...)
	return outcomeRejected
}

// skipRejected skips a rejected kit that the watch would skip if its file
// were new: one older than the active kit, or one that was active before.
// Its rejection no longer matters, so the note is removed and the kit does
// not count as rejected. It reports false when the kit is not skipped, or
// when neither the scan nor the note has the kit's sequence and digest.
func (w *watcher) skipRejected(ctx context.Context, store *cas.Store, c watch.Candidate, note watch.Note,
	active cas.KitRecord, hasActive bool) (outcome, bool) {
	s := c.Summary
	if s == nil {
		d, err := digest.Parse(note.Digest)
		if err != nil || note.Sequence == nil {
			return outcomeRejected, false
		}
		s = &delta.Summary{Digest: d, Version: note.Version, Sequence: *note.Sequence}
	}
	attrs := kitAttrs(c.Path, s.Version, s.Digest.String())
	if s.Kind != "" {
		attrs = append(attrs, "kind", s.Kind)
	}
	msg, extra, err := w.skipReason(ctx, store, c.Path, s, active, hasActive)
	switch {
	case err != nil:
		return w.historyFailed(ctx, c, attrs, err), true
	case msg == "":
		return outcomeRejected, false
	}
	w.logOnce(ctx, c, skipLevel(msg), msg, append(attrs, append(extra, "removedNote", watch.NotePath(c.Path))...)...)
	w.removeNote(c.Path)
	return skipOutcome(msg), true
}

// imported logs a successful import and returns its outcome.
func (w *watcher) imported(c watch.Candidate, attrs []any, res *importer.Result) outcome {
	w.log.Info("kit imported", append(attrs, "sequence", res.Sequence, "action", res.Action,
		"blobsStored", res.BlobsStored, "bytesStored", res.BytesStored,
		"layersIndexed", res.LayersIndexed, "layersFromTables", res.LayersFromTables)...)
	for _, warning := range append(slices.Clone(res.Warnings), res.ImageWarnings...) {
		w.log.Warn("kit imported with a warning", append(attrs, "warning", warning)...)
	}
	w.removeNote(c.Path)
	// The next round finds the kit active; that needs no second line.
	w.markLogged(c, msgAlreadyActive)
	if res.AlreadyActive {
		return outcomeSkipped
	}
	return outcomeImported
}

// Log messages that logOnce compares.
const (
	msgAlreadyActive   = "kit already active; skipped"
	msgRemainsRejected = "kit remains rejected; skipped"
)

// skipReason returns why the kit of file path needs no import, with extra log
// attributes, or "" when it needs one: it is the active kit, it is older
// than the active kit, or it was active before. A newer kit that was active
// before is one the operator rolled back from. It returns the error of a
// failed history read, because without the history a kit rolled back from
// cannot be distinguished from a new one.
func (w *watcher) skipReason(ctx context.Context, store *cas.Store, path string, s *delta.Summary,
	active cas.KitRecord, hasActive bool) (string, []any, error) {
	if !hasActive {
		return "", nil, nil
	}
	if s.Digest == active.Digest {
		return msgAlreadyActive, nil, nil
	}
	hist, err := store.History(ctx)
	if err != nil {
		return "", nil, err
	}
	wasActive := slices.ContainsFunc(hist, func(rec cas.KitRecord) bool { return rec.Digest == s.Digest })
	if s.Sequence < active.Sequence {
		msg, extra, ahead, err := w.skipOlderThanActiveAhead(ctx, store, s.Sequence, active)
		if err != nil || ahead {
			return msg, extra, err
		}
		if wasActive {
			return "kit was imported before and a newer kit is active; skipped",
				[]any{"sequence", s.Sequence, "activeSequence", active.Sequence}, nil
		}
		return "kit is older than the active kit; skipped",
			[]any{"sequence", s.Sequence, "activeSequence", active.Sequence}, nil
	}
	for _, rec := range hist {
		if rec.Digest == s.Digest {
			// A failed check only costs the better advice, so it does not
			// fail the skip.
			storeHasKit, _ := store.KitComplete(ctx, rec.Digest)
			msg, extra := w.skipActiveBefore(rec, hist[0], path, storeHasKit)
			return msg, append([]any{"sequence", s.Sequence, "activeVersion", active.Version,
				"activeDigest", active.Digest}, extra...), nil
		}
	}
	return "", nil, nil
}

// activeKit returns the active kit, and false when the store has none. It
// returns an error when the active record cannot be read, because treating
// that as "no kit active" would import, or reject, kits against the wrong
// state.
func activeKit(ctx context.Context, store *cas.Store) (cas.KitRecord, bool, error) {
	rec, err := store.Active(ctx)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return cas.KitRecord{}, false, nil
	case err != nil:
		return cas.KitRecord{}, false, err
	}
	return rec, true, nil
}

// importWithProgress imports the kit of c with its progress shown as ouk
// import shows it: a bar on a terminal, else an "import in progress" line
// at info level at most once per interval.
func (w *watcher) importWithProgress(ctx context.Context, c watch.Candidate, opts importer.Options) (*importer.Result, error) {
	progress := func(total int64) *transfer {
		return w.g.newLoggedTransfer(w.log, w.lines, "importing", total, "import in progress", "path", c.Path)
	}
	return importPath(ctx, c, opts, progress)
}

// importPath imports the kit file or layout folder of c. For a file, the
// rejection of a delta whose base is missing names the full kit beside it.
// progress returns the display of the import's progress for a kit of total
// bytes, -1 for a folder.
func importPath(ctx context.Context, c watch.Candidate, opts importer.Options,
	progress func(total int64) *transfer) (*importer.Result, error) {
	if c.IsDir {
		return importDir(ctx, c.Path, opts, progress(-1))
	}
	opts.SourcePath = c.Path
	f, err := layout.OpenRegular(c.Path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	total := int64(-1)
	if info, err := f.Stat(); err == nil {
		total = info.Size()
	}
	return importStream(ctx, f, opts, progress(total))
}
