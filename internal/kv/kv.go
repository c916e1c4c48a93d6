// Package kv defines the small ordered key-value interface that the lookup
// index and the quota counters use, so they run on the Pebble store in
// production and on an in-memory map in unit tests.
package kv

// Store is an ordered key-value store with atomic batches.
type Store interface {
	// Get returns a copy of the value of key, or an error wrapping
	// errdef.ErrNotFound when the key is absent.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for every key with the given prefix in ascending key
	// order. The slices passed to fn are valid only during the call. Scan
	// stops at the first error fn returns and returns it.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// NewBatch starts an atomic batch of writes.
	NewBatch() Batch
}

// Batch collects writes that Commit applies atomically.
type Batch interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	// Commit applies the writes; with sync true it returns only once they
	// are durable on disk.
	Commit(sync bool) error
	// Close releases the batch; it is safe to call after Commit.
	Close() error
}

// SortedGetter is implemented by stores that read a run of keys faster in
// ascending order than one Get at a time, by moving one iterator forward.
type SortedGetter interface {
	// GetSorted reads keys, which must be in ascending order, and calls fn
	// with each key's position in keys and a copy of its value. A key that
	// is absent gets an error wrapping errdef.ErrNotFound.
	GetSorted(keys [][]byte, fn func(i int, value []byte) error) error
}

// GetSorted reads keys, in ascending order, with the store's GetSorted
// when it has one and with Get otherwise.
func GetSorted(s Store, keys [][]byte, fn func(i int, value []byte) error) error {
	if g, ok := s.(SortedGetter); ok {
		return g.GetSorted(keys, fn)
	}
	for i, k := range keys {
		v, err := s.Get(k)
		if err != nil {
			return err
		}
		if err := fn(i, v); err != nil {
			return err
		}
	}
	return nil
}
