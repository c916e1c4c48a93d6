package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/sign"
)

// loggedEvent is a log line that logOnce wrote for a drop folder entry,
// with the entry's fingerprint at the time.
type loggedEvent struct {
	msg         string
	fingerprint watch.Fingerprint
}

func eventOf(c watch.Candidate, msg string) loggedEvent {
	return loggedEvent{msg: msg, fingerprint: c.Fingerprint()}
}

func (e loggedEvent) equal(o loggedEvent) bool {
	return e.msg == o.msg && e.fingerprint.Equal(o.fingerprint)
}

// logOnce logs msg for a candidate unless the same message was the last one
// logged for it and the file or folder has not changed since.
func (w *watcher) logOnce(ctx context.Context, c watch.Candidate, level slog.Level, msg string, attrs ...any) {
	if prev, ok := w.logged[c.Path]; ok && prev.equal(eventOf(c, msg)) {
		return
	}
	w.markLogged(c, msg)
	w.log.Log(ctx, level, msg, attrs...)
}

// markLogged records msg as logged for a candidate, so logOnce does not log
// it while the candidate stays unchanged.
func (w *watcher) markLogged(c watch.Candidate, msg string) {
	w.logged[c.Path] = eventOf(c, msg)
}

// forgetMissing drops what the watcher remembers about entries that are no
// longer in the drop folder, so an entry copied in again is logged again.
func (w *watcher) forgetMissing(l watch.Listing) {
	present := map[string]bool{}
	for _, c := range l.Candidates {
		present[c.Path] = true
	}
	for _, s := range l.Skipped {
		present[s.Path] = true
	}
	for _, n := range l.OrphanNotes {
		present[n] = true
	}
	watch.PruneAbsent(w.logged, present)
	watch.PruneAbsent(w.unwrittenNotes, present)
	watch.PruneAbsent(w.importFailures, present)
	watch.PruneAbsent(w.waitingCopies, present)
}

// logSkipped logs, once while the reason stays the same, each drop folder
// entry that is not a kit: at debug level, except a folder named like a
// kit file, which is almost certainly a mistake and logged as a warning.
// It returns an error that names the first such folder, so that a --once
// run exits with it.
func (w *watcher) logSkipped(ctx context.Context, skipped []watch.Skipped) error {
	var misnamed error
	for _, s := range skipped {
		if s.NamedLikeKit {
			w.logOnce(ctx, watch.Candidate{Path: s.Path}, slog.LevelWarn, msgNamedLikeKit,
				"path", s.Path, "reason", s.Reason)
			if misnamed == nil {
				misnamed = fmt.Errorf("%s: %s", s.Path, s.Reason)
			}
			continue
		}
		// The reason is part of the message, so logOnce logs a changed
		// reason again.
		msg := "entry is not a kit; skipped: " + s.Reason
		w.logOnce(ctx, watch.Candidate{Path: s.Path}, slog.LevelDebug, msg, "path", s.Path)
	}
	return misnamed
}

const msgNamedLikeKit = "folder named like a kit file is not a kit; skipped"

// removeOrphanNotes deletes the rejection notes whose kit was removed from
// the drop folder. A note that cannot be removed is reported once.
func (w *watcher) removeOrphanNotes(ctx context.Context, notes []string) {
	for _, n := range notes {
		// The watch of another store on this folder may remove it first.
		if err := os.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.logOnce(ctx, watch.Candidate{Path: n}, slog.LevelWarn,
				"removing the rejection note of a kit no longer in the drop folder failed", "note", n, "error", err)
			continue
		}
		w.log.Debug("removed the rejection note of a kit no longer in the drop folder", "note", n)
	}
}

// readNote returns this watch's rejection note of a kit from beside it or,
// when it is not there, from this process's memory. A note that records
// another store or no store is not this watch's.
func (w *watcher) readNote(kit string) (watch.Note, bool) {
	if n, ok := watch.ReadNote(kit); ok && n.WrittenBy(w.store) {
		return n, true
	}
	n, ok := w.unwrittenNotes[kit]
	return n, ok
}

// removeNote deletes the rejection note of a kit that needs one no longer,
// unless the watch of another store wrote it, because that rejection still
// holds for that store.
func (w *watcher) removeNote(kit string) {
	delete(w.unwrittenNotes, kit)
	if n, ok := watch.ReadNote(kit); ok && n.Foreign(w.store) {
		return
	}
	if err := watch.RemoveNote(kit); err != nil {
		w.log.Warn("removing a rejection note failed; remove it by hand", "path", kit, "error", err)
	}
}

// keySetID identifies the trusted keys keys, as rejection notes record
// them.
func keySetID(keys []sign.TrustedKey) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return watch.KeySetID(ids)
}
