package main

import (
	"log/slog"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
)

// msgOlderThanActiveAhead is the skip of a kit older than an active kit
// that was created more than importer.CreationTolerance ahead of the
// clock. Such a kit's default sequence, its creation time, ranks it above
// every kit built at the right time, so the watch would skip each of them
// until the clock passes that time.
const msgOlderThanActiveAhead = "kit is older than the active kit, which was created ahead of this host's clock; " +
	"skipped. If this host's clock is right, the active kit was built with a wrong clock or SOURCE_DATE_EPOCH and " +
	"blocks every kit built at the right time: run `stella ouk import --allow-downgrade` on this file, or " +
	"`stella ouk rollback` to return to the kit that was active before"

// skipOlderThanActiveAhead returns the skip message and log attributes of
// a kit of sequence seq, lower than the active kit's, when the active kit
// was created more than importer.CreationTolerance after the watch's
// clock. It reports false for an active kit created at the right time.
func (w *watcher) skipOlderThanActiveAhead(seq int64, active cas.KitRecord) (string, []any, bool) {
	ahead, ok := importer.CreatedAhead(active.Created, w.now())
	if !ok {
		return "", nil, false
	}
	// The creation time and the distance go into attributes, not the
	// message, so logOnce logs the skip once per file as the clock moves.
	return msgOlderThanActiveAhead, []any{"sequence", seq, "activeSequence", active.Sequence,
		"activeVersion", active.Version, "activeCreated", active.Created.UTC().Format(time.RFC3339),
		"activeAhead", importer.RoughDuration(ahead)}, true
}

// skipLevel returns the log level of the skip message msg: a warning for a
// skip that blocks kits built at the right time, else info.
func skipLevel(msg string) slog.Level {
	if msg == msgOlderThanActiveAhead {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
