package main

import (
	"errors"
	"path/filepath"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

// storeDamagedMessage returns the line that main prints for cmd, which
// failed with err because a file of the store is damaged or missing: the
// error, what the failure left of the active kit, and how to recover.
func storeDamagedMessage(cmd *cobra.Command, err error) string {
	return err.Error() + ". " + damagedStoreOutcome(cmd) + " " + storeDamagedAdvice(damagedStoreFolder(err))
}

// damagedStoreOutcome returns the sentence that states what a command that
// met a damaged store left of the active kit. A command that activates a
// kit does so in one write at its end, so a failure before it leaves the
// active kit unchanged.
func damagedStoreOutcome(cmd *cobra.Command) string {
	name := ""
	if cmd != nil {
		name = cmd.Name()
	}
	switch name {
	case "gc":
		if flagIsTrue(cmd, "dry-run") {
			return "The dry run removed nothing."
		}
		return "gc stopped, and the active kit is unchanged; gc may have removed some blobs of kits that it " +
			"does not keep."
	case "import", "rollback", "watch":
		return "The active kit is unchanged."
	case "export":
		return "The export wrote no kit file, and the active kit is unchanged."
	case "check":
		return "The check changed nothing in the store."
	}
	return "The active kit could not be read."
}

// storeDamagedAdvice returns what to do about a damaged store in the store
// folder dir, or in the store folder given with --store when dir is "".
func storeDamagedAdvice(dir string) string {
	folder := "the store folder"
	if dir != "" {
		folder += " " + dir
	}
	return "Restore " + folder + " from a backup, or move it aside and import the kits again into a new " +
		"store. Importing into the damaged store does not repair it, because an import skips the blobs " +
		"that the store holds. Check the disk for errors too, such as in the kernel log (dmesg) or with smartctl."
}

// damagedStoreFolder returns the store folder that contains the database
// named by the *cas.DamagedError in err, or "".
func damagedStoreFolder(err error) string {
	var damage *cas.DamagedError
	if !errors.As(err, &damage) || damage.Dir == "" {
		return ""
	}
	if filepath.Base(damage.Dir) != storeDBDir {
		return damage.Dir
	}
	return filepath.Dir(damage.Dir)
}

// storeDamage returns the first of errs that reports a damaged store, or
// nil.
func storeDamage(errs ...error) error {
	for _, err := range errs {
		if errors.Is(err, errdef.ErrStoreDamaged) {
			return err
		}
	}
	return nil
}

// storeDamaged logs that the store of the watch is damaged, with what to
// do, and returns err marked as logged, which ends the watch with exit
// code 1. Other store failures may pass by the next round, but a damaged
// store fails every round until it is restored. So the watch stops, and a
// service manager that restarts it shows the failure in its status.
func (w *watcher) storeDamaged(err error) error {
	dir := w.storeDir
	if dir == "" {
		dir = damagedStoreFolder(err)
	}
	w.exitLog.Error("the store failed, not the kit; the store is damaged, so no kit is rejected for this, and "+
		"the watch stops. "+storeDamagedAdvice(dir), "store", dir, "dir", w.dir, "error", err)
	return loggedError{err: err}
}
