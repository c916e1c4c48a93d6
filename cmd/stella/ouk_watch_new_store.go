package main

import "stella-ops.org/ouk/cas"

// removeUnusedNewStore removes the store when the round created it and it
// holds nothing when the round ends, as an import that imports nothing
// does. Without it, a watch given a mistyped --store would leave an empty
// store behind, and `stella ouk status` would report that store instead of
// a missing one. The next round that has a kit to import creates the store
// again.
func (w *watcher) removeUnusedNewStore(store *cas.Store, dir string, created newStoreParts) {
	if !removeUnusedStore(w.log, store, dir, created) || w.newStoreRemoved {
		return
	}
	w.newStoreRemoved = true
	w.log.Info("the store does not exist yet. This round created it, imported no kit and removed it again. "+
		"The watch creates the store when it imports its first kit, and until then `stella ouk status` reports "+
		"it absent. If a store was expected here, check --store and $STELLA_HOME", "store", dir)
}
