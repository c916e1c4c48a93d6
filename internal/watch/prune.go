package watch

import "maps"

// PruneAbsent deletes the entries of m whose path is not in present, and
// reports whether it deleted any. The watch uses it to forget the state
// of drop folder entries that are gone.
func PruneAbsent[V any](m map[string]V, present map[string]bool) bool {
	before := len(m)
	maps.DeleteFunc(m, func(path string, _ V) bool { return !present[path] })
	return len(m) < before
}
