package main

import (
	"log/slog"
	"time"
)

// repeatLogInterval is how often a running watch logs a failure again
// while it repeats every round unchanged.
const repeatLogInterval = 30 * time.Minute

// failureRepeats keeps a failure that repeats every round, such as a full
// volume, from filling the log. The first round that fails logs the
// error. Later rounds with the same failure log only a reminder with the
// number of failed rounds, once every repeatLogInterval. The round after
// the last failure logs that it ended.
type failureRepeats struct {
	// key names the failure being counted: its message and the path it
	// is about. An error text that changes between rounds, such as the
	// free space in a disk-full message, does not make it a new failure.
	key        string
	rounds     int
	since      time.Time
	lastLogged time.Time
}

// failed logs msg with attrs at error level unless the same failure (msg
// and path) was logged less than repeatLogInterval ago.
func (f *failureRepeats) failed(log *slog.Logger, now time.Time, msg, path string, attrs ...any) {
	key := msg + "\x00" + path
	if f.key != key {
		f.key, f.rounds, f.since, f.lastLogged = key, 1, now, now
		log.Error(msg, attrs...)
		return
	}
	f.rounds++
	if now.Sub(f.lastLogged) < repeatLogInterval {
		return
	}
	f.lastLogged = now
	log.Error(msg, append(attrs, "failedRounds", f.rounds, "failingSince", f.since.UTC().Format(time.RFC3339))...)
}

// succeeded logs msg, once, when a failure counted by failed has ended,
// and clears the count.
func (f *failureRepeats) succeeded(log *slog.Logger, msg string) {
	if f.key == "" {
		return
	}
	log.Info(msg, "failedRounds", f.rounds, "failingSince", f.since.UTC().Format(time.RFC3339))
	*f = failureRepeats{}
}
