package main

import (
	"context"
	"log/slog"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/watch"
)

// handledKit is the state in which a running watch last finished with a
// drop folder candidate: the candidate's fingerprint, whether a rejection
// note was beside it, and the active kit of that round.
type handledKit struct {
	fingerprint watch.Fingerprint
	noted       bool
	active      string
}

// markHandled records c as handled when its outcome o holds until c, its
// note or the active kit changes. It drops c after any other outcome,
// such as a copy in progress or a full disk, which the next round retries.
func (w *watcher) markHandled(c watch.Candidate, o outcome, active string) {
	switch o {
	case outcomeSkipped, outcomeImported, outcomeRejected, outcomeBlocked:
	default:
		delete(w.handled, c.Path)
		return
	}
	note, noted := w.readNote(c.Path)
	if noted && note.Conflict {
		// A conflict ends when the other kit's file is removed or expires,
		// which changes nothing of this kit, so every round checks it.
		delete(w.handled, c.Path)
		return
	}
	w.handled[c.Path] = handledKit{fingerprint: c.Fingerprint(), noted: noted, active: active}
}

// idle reports whether a running watch can skip this round's work on the
// store: an earlier round handled every candidate of listing, none of
// them, nor its note, changed since, and the active kit is the same. Only
// the last needs the store, which idle opens read-only, so an idle round
// creates no database files and syncs nothing. When that open or read
// fails, idle returns false, and the round opens the store as usual and
// reports the error.
func (w *watcher) idle(ctx context.Context, listing watch.Listing) bool {
	if !w.roundReachedKits {
		// The first round opens the store, which also checks the store
		// and the trusted keys once at start.
		return false
	}
	if w.forgetRemovedHandled(listing) {
		return false
	}
	// New trusted keys may verify a kit that a round rejected for its
	// signature. The round itself logs any problem with the key files.
	keys, err := trustedKeys(slog.New(slog.DiscardHandler), w.storeDir, w.opts.keys)
	if err != nil || keySetID(keys) != w.keySet {
		return false
	}
	for _, c := range listing.Candidates {
		h, ok := w.handled[c.Path]
		if !ok || !h.fingerprint.Equal(c.Fingerprint()) {
			return false
		}
		if _, noted := w.readNote(c.Path); noted != h.noted {
			return false
		}
	}
	if len(listing.Candidates) == 0 {
		return true
	}
	active, err := w.readActiveDigest(ctx)
	if err != nil {
		w.log.Debug("reading the active kit from the store opened read-only failed; opening it for writing",
			"dir", w.dir, "error", err)
		return false
	}
	for _, c := range listing.Candidates {
		if w.handled[c.Path].active != active {
			return false
		}
	}
	return true
}

// forgetRemovedHandled drops the handled state of candidates that are no
// longer in listing, and reports whether there were any. A removed kit may
// end a conflict, so the round after a removal does its work.
func (w *watcher) forgetRemovedHandled(listing watch.Listing) bool {
	present := make(map[string]bool, len(listing.Candidates))
	for _, c := range listing.Candidates {
		present[c.Path] = true
	}
	return watch.PruneAbsent(w.handled, present)
}

// readActiveDigest returns the digest of the active kit, or "" when there
// is none, from the store opened read-only. It does not wait for another
// process to release the store, because the round that follows a failure
// waits for it anyway.
func (w *watcher) readActiveDigest(ctx context.Context) (string, error) {
	if _, absent := w.g.storeAbsent(); absent {
		// A round removes the store it created when it imported nothing,
		// and a store that does not exist has no active kit. Opening it
		// would create its folder.
		return "", nil
	}
	store, _, err := w.g.openStoreWith(ctx, cas.Options{Logger: w.importLog, ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer store.Close()
	active, hasActive, err := activeKit(ctx, store)
	if err != nil || !hasActive {
		return "", err
	}
	return active.Digest.String(), nil
}
