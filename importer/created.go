package importer

import (
	"context"
	"fmt"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci"
)

// CreationTolerance is the maximum time by which a kit's creation time may
// lie ahead of the host's clock before import, inspect and verify warn. A day covers hosts
// whose clocks are off by hours, or set to the wrong time zone. A kit
// dated further ahead points at a wrong clock or SOURCE_DATE_EPOCH on the
// build host.
const CreationTolerance = 24 * time.Hour

// CheckCreated returns a warning when the kit meta was created more than
// CreationTolerance after now, else "". Such a kit expires later than its
// builder meant, and when its sequence took the default, the creation
// time in Unix seconds, it ranks above every kit built at the right time.
func CheckCreated(meta oci.Meta, now time.Time) string {
	ahead, ok := CreatedAhead(meta.Created, now)
	if !ok {
		return ""
	}
	return fmt.Sprintf("kit %s was created at %s, %s ahead of this host's clock: the clock or SOURCE_DATE_EPOCH of its "+
		"build host was likely wrong, so the kit expires late, and a default sequence ranks it above kits built at "+
		"the right time. Check this host's clock, and ask the builder to build the kit again with the right time",
		meta.Version, meta.Created.UTC().Format(time.RFC3339), RoughDuration(ahead))
}

// CreatedAhead returns how far the creation time created lies ahead of
// now, and whether that is more than CreationTolerance. A zero created
// time is never ahead.
func CreatedAhead(created, now time.Time) (time.Duration, bool) {
	ahead := created.Sub(now)
	return ahead, !created.IsZero() && ahead > CreationTolerance
}

// ActiveBlocksByDate returns how far the active kit was created ahead of
// now, and whether its date blocks kits built at the right time. It does
// when the creation time is more than CreationTolerance after now and the
// sequence is the default of `stella ouk build`, the creation time in Unix
// seconds. A kit with an explicit sequence blocks lower sequences whatever
// the clock reads, so its date explains nothing.
func ActiveBlocksByDate(active cas.KitRecord, now time.Time) (time.Duration, bool) {
	ahead, ok := CreatedAhead(active.Created, now)
	return ahead, ok && active.Sequence == active.Created.Unix()
}

// HasRollbackTarget reports whether `stella ouk rollback` without a digest
// finds a kit to return to: a kit of the history other than active whose
// blobs are all still in store.
func HasRollbackTarget(ctx context.Context, store *cas.Store, active cas.KitRecord) (bool, error) {
	hist, err := store.History(ctx)
	if err != nil {
		return false, err
	}
	for _, rec := range hist {
		if rec.Digest == active.Digest {
			continue
		}
		complete, err := store.KitComplete(ctx, rec.Digest)
		if err != nil {
			return false, err
		}
		if complete {
			return true, nil
		}
	}
	return false, nil
}

// activeAheadAdvice returns the explanation and recovery for the rejection
// of a kit older than active, which ActiveBlocksByDate reports as blocking
// kits built at the right time. It offers `stella ouk rollback` only when
// canRollback is set.
func activeAheadAdvice(active cas.KitRecord, now time.Time, canRollback bool) string {
	ahead, _ := ActiveBlocksByDate(active, now)
	recovery := "import this kit with --allow-downgrade"
	if canRollback {
		recovery += fmt.Sprintf(", or run `stella ouk rollback` to return to the kit that was active before %s",
			active.Version)
	}
	return fmt.Sprintf("The active kit %s was created at %s, %s ahead of this host's clock, so the clock or "+
		"SOURCE_DATE_EPOCH of its build host was likely wrong, and its sequence is the default, its creation time, "+
		"which ranks it above every kit built at the right time. If this host's clock is right, %s",
		active.Version, active.Created.UTC().Format(time.RFC3339), RoughDuration(ahead), recovery)
}

// RoughDuration formats d rounded to whole days from two days on, else to
// whole hours, minutes or seconds, for messages.
func RoughDuration(d time.Duration) string {
	unit := func(size time.Duration, one, many string) string {
		n := (d + size/2) / size
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(24*time.Hour, "day", "days")
	case d >= 2*time.Hour:
		return unit(time.Hour, "hour", "hours")
	case d >= 2*time.Minute:
		return unit(time.Minute, "minute", "minutes")
	}
	return unit(time.Second, "second", "seconds")
}
