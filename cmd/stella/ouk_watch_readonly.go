package main

import (
	"context"
	"errors"
	"log/slog"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
)

// msgStoreReadOnlyRound is the warning of the first round that finished
// on the store opened read-only, because it failed to open for writing.
const msgStoreReadOnlyRound = "opening the store for writing failed, so the watch read the active kit from the " +
	"store opened read-only; no kit needed an import. A round with a kit to import fails until the cause given " +
	"as error= is fixed, such as by freeing space on the store's volume"

// readOnlyRounds records whether the watch has warned that rounds finish
// on the store opened read-only, so that it warns once while that lasts.
type readOnlyRounds struct {
	warned bool
}

// started logs msgStoreReadOnlyRound with attrs unless it was logged since
// the last open for writing.
func (r *readOnlyRounds) started(log *slog.Logger, attrs ...any) {
	if r.warned {
		return
	}
	r.warned = true
	log.Warn(msgStoreReadOnlyRound, attrs...)
}

// ended logs, once, that the store opened for writing again after rounds
// that read it read-only.
func (r *readOnlyRounds) ended(log *slog.Logger, dir string) {
	if !r.warned {
		return
	}
	r.warned = false
	log.Info("store opened for writing again after rounds that read it read-only", "dir", dir)
}

// roundReadOnly finishes a round in which opening the store for writing
// failed with openErr, such as on a volume too full for that open or on a
// read-only mount, when no candidate of listing needs a write to the
// store: each is the active kit, older than it, was active before, stays
// rejected, or waits for the next scan to read it. It opens the store
// read-only and processes them as round does, so their skips are logged
// and they count as handled for the next idle round. It reports false,
// and processes nothing, when a candidate needs a write or the store
// fails to open read-only too. The round then fails with openErr.
func (w *watcher) roundReadOnly(ctx context.Context, listing watch.Listing, res roundResult,
	openErr error) (roundResult, bool) {
	if ctx.Err() != nil || errors.Is(openErr, errdef.ErrStoreInUse) {
		// Another process has the store, and a read-only open would wait
		// for it too.
		return res, false
	}
	store, storeDir, err := w.g.openStoreWith(ctx, cas.Options{Logger: w.importLog, ReadOnly: true})
	if err != nil {
		w.log.Debug("opening the store read-only failed too", "dir", w.dir, "error", err)
		return res, false
	}
	defer store.Close()
	keys, err := trustedKeys(w.importLog, storeDir, w.opts.keys)
	if err != nil {
		return res, false
	}
	w.keySet = keySetID(keys)
	active, hasActive, err := activeKit(ctx, store)
	if err != nil {
		return res, false
	}
	w.storeDir = storeDir
	conflicts := watch.Conflicts(listing.Candidates, func(c watch.Candidate) bool {
		return w.countsInConflict(ctx, c, keys, active, hasActive)
	})
	for _, c := range listing.Candidates {
		if w.needsStoreWrite(ctx, store, c, conflicts[c.Path], active, hasActive) {
			w.log.Debug("kit needs the store opened for writing", "path", c.Path)
			return res, false
		}
	}

	w.roundReachedKits = true
	w.readOnlyRounds.started(w.log, "dir", w.dir, "store", storeDir, "error", openErr)
	opts := importer.Options{Store: store, Keys: keys, Logger: w.importLog}
	for _, c := range listing.Candidates {
		if ctx.Err() != nil {
			res.interrupted = true
			return res, true
		}
		o := w.process(ctx, store, opts, c, conflicts[c.Path])
		w.markHandled(c, o, active.Digest.String())
		switch o {
		case outcomeBlocked:
			res.blocked++
		case outcomeRejected:
			res.rejected++
			if _, ok := w.unwrittenNotes[c.Path]; ok {
				res.withoutNote++
			}
		case outcomeDeferred, outcomeStoreFailed:
			// A failed history read, which process logged.
			if res.deferred == nil {
				res.deferred = w.lastDeferred
			}
		}
	}
	return res, true
}

// needsStoreWrite reports whether process would need the store opened for
// writing for c, or would retry c, given the store's active kit. It follows
// the steps of process without their effects: c needs no write when it
// stays rejected, is skipped, or waits for the next scan to read it.
// Anything else, such as an import, a rejection or a failed history read,
// counts as work.
func (w *watcher) needsStoreWrite(ctx context.Context, store *cas.Store, c watch.Candidate,
	conflicts []watch.Candidate, active cas.KitRecord, hasActive bool) bool {
	activeDigest := active.Digest.String()
	if conflictReason(c, conflicts, active, hasActive) != "" {
		return true
	}
	if note, ok := w.readNote(c.Path); ok {
		if hasActive && note.Digest == activeDigest && !note.RetryOnActiveChange && !note.Conflict {
			return false
		}
		if !note.Conflict && !note.Stale(c, activeDigest) && !note.KeysChanged(w.keySet) {
			// skipRejected skips the kit or it remains rejected.
			return false
		}
	}
	if c.NotPeeked {
		return false
	}
	if c.PeekErr != nil {
		return true
	}
	msg, _, err := w.skipReason(ctx, store, c.Path, c.Summary, active, hasActive)
	return err != nil || msg == ""
}
