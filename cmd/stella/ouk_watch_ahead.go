package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
)

// msgOlderThanActiveAhead starts the skip of a kit older than an active
// kit that was created more than importer.CreationTolerance ahead of the
// clock and has the default sequence, its creation time. That sequence
// ranks it above every kit built at the right time, so the watch would
// skip each of them until the clock passes that time.
const msgOlderThanActiveAhead = "kit is older than the active kit, which was created ahead of this host's clock " +
	"with its creation time as sequence; skipped. If this host's clock is right, the active kit was built with a " +
	"wrong clock or SOURCE_DATE_EPOCH and blocks every kit built at the right time: run " +
	"`stella ouk import --allow-downgrade` on this file"

// msgRollbackAhead ends msgOlderThanActiveAhead when the history has a kit
// that `stella ouk rollback` can return to.
const msgRollbackAhead = ", or `stella ouk rollback` to return to the kit that was active before"

// skipOlderThanActiveAhead returns the skip message and log attributes of
// a kit of sequence seq, lower than the active kit's, when
// importer.ActiveBlocksByDate reports that the active kit blocks kits
// built at the right time. It reports false for any other active kit, and
// returns the error of a failed history read.
func (w *watcher) skipOlderThanActiveAhead(ctx context.Context, store *cas.Store, seq int64,
	active cas.KitRecord) (string, []any, bool, error) {
	ahead, ok := importer.ActiveBlocksByDate(active, w.now())
	if !ok {
		return "", nil, false, nil
	}
	canRollback, err := importer.HasRollbackTarget(ctx, store, active)
	if err != nil {
		return "", nil, false, err
	}
	msg := msgOlderThanActiveAhead
	if canRollback {
		msg += msgRollbackAhead
	}
	// The creation time and the distance go into attributes, not the
	// message, so logOnce logs the skip once per file as the clock moves.
	return msg, []any{"sequence", seq, "activeSequence", active.Sequence,
		"activeVersion", active.Version, "activeCreated", active.Created.UTC().Format(time.RFC3339),
		"activeAhead", importer.RoughDuration(ahead)}, true, nil
}

// skipLevel returns the log level of the skip message msg: an error for a
// skip that blocks kits built at the right time, else info. The error
// level keeps that skip in the log of `watch -q`, because it blocks every
// later kit until an operator acts.
func skipLevel(msg string) slog.Level {
	if strings.HasPrefix(msg, msgOlderThanActiveAhead) {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// skipOutcome returns the outcome of a kit skipped with the message msg:
// outcomeBlocked for a skip behind an active kit created ahead of the
// clock, else outcomeSkipped.
func skipOutcome(msg string) outcome {
	if strings.HasPrefix(msg, msgOlderThanActiveAhead) {
		return outcomeBlocked
	}
	return outcomeSkipped
}

// blockedSummary returns the error message of a --once run that ends with
// kits skipped behind an active kit created ahead of the clock. The run
// exits with 1 for them, so that a cron job notices the active kit that
// blocks every kit built at the right time.
func blockedSummary(res roundResult, dir string) string {
	return fmt.Sprintf("%d %s skipped in %s as older than the active kit, which was created ahead of this "+
		"host's clock with its creation time as sequence and blocks every kit built at the right time; "+
		"see the skip %s above for how to import %s", res.blocked, plural(res.blocked, "kit was", "kits were"),
		dir, plural(res.blocked, "line", "lines"), plural(res.blocked, "it", "them"))
}

// skipActiveBefore returns the skip message and extra log attributes of
// the kit of history record rec, which was active before current, the
// activation of the active kit. The message uses "rolled back" or
// "replaced" as current.Action records the change. It advises how to make
// the kit active again, unless the kit was created more than
// importer.CreationTolerance ahead of the clock. Such a kit would expire
// late and, with its default sequence, block every kit built at the right
// time again. When storeHasKit is set, the advice is `stella ouk rollback`,
// which reads nothing from the file and so works when the file is damaged.
// Otherwise it is an import of path, the kit's file.
func (w *watcher) skipActiveBefore(rec, current cas.KitRecord, path string, storeHasKit bool) (string, []any) {
	change := "the active kit was rolled back from it"
	if current.Action == "downgrade" {
		change = "a downgrade import (--allow-downgrade) replaced it with the active kit"
	}
	if _, ahead := importer.CreatedAhead(rec.Created, w.now()); ahead {
		// The creation time goes into an attribute, so logOnce logs the
		// skip once per file as the clock moves.
		return "kit was active before and was created ahead of this host's clock, and " + change + "; skipped",
			[]any{"created", rec.Created.UTC().Format(time.RFC3339)}
	}
	if storeHasKit {
		return "kit was active before, and " + change + "; skipped. The store still holds the kit, so run `" +
			w.stellaCommand([]string{"ouk", "rollback"}, rec.Digest.String()) + "` to activate it again", nil
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "kit was active before, and " + change + "; skipped. Run `" +
		w.stellaCommand([]string{"ouk", "import"}, path) + "` to activate it again", nil
}
