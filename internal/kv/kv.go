// Package kv defines the small ordered key-value interface that the lookup
// index and the quota counters use, so they run on the Pebble store in
// production and on an in-memory map in unit tests.
package kv

import (
	"bytes"
	"context"
)

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

// PrefixScanner is implemented by stores that scan several prefixes with
// one iterator, which costs less than a Scan per prefix.
type PrefixScanner interface {
	// ScanPrefixes calls fn for every key under each prefix, one prefix
	// after the other, with the prefix's index in prefixes. Otherwise it
	// behaves as Scan.
	ScanPrefixes(prefixes [][]byte, fn func(i int, key, value []byte) error) error
}

// ScanPrefixes scans each prefix in turn, with one iterator where the store
// is a PrefixScanner and with a Scan per prefix otherwise.
func ScanPrefixes(s Store, prefixes [][]byte, fn func(i int, key, value []byte) error) error {
	if ps, ok := s.(PrefixScanner); ok {
		return ps.ScanPrefixes(prefixes, fn)
	}
	for i, p := range prefixes {
		if err := s.Scan(p, func(k, v []byte) error { return fn(i, k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// RangeScanner is implemented by stores that scan a range of keys that
// share no single prefix.
type RangeScanner interface {
	// ScanRange calls fn for every key from lower (inclusive) to upper
	// (exclusive) in ascending key order. Otherwise it behaves as Scan.
	ScanRange(lower, upper []byte, fn func(key, value []byte) error) error
}

// ScanRange scans the keys from lower up to upper with the store's own range
// scan, or by filtering a scan of the whole store when it has none.
func ScanRange(s Store, lower, upper []byte, fn func(key, value []byte) error) error {
	if rs, ok := s.(RangeScanner); ok {
		return rs.ScanRange(lower, upper, fn)
	}
	return s.Scan(nil, func(k, v []byte) error {
		if bytes.Compare(k, lower) < 0 || bytes.Compare(k, upper) >= 0 {
			return nil
		}
		return fn(k, v)
	})
}

// Compacter is implemented by stores that compact a range of keys on
// request. Deleted keys keep their disk space until a compaction of their
// range, which a store may otherwise run much later or never.
type Compacter interface {
	// CompactRange compacts the keys from lower (inclusive) to upper
	// (exclusive), which drops the deleted keys there from the store's
	// files. It returns ctx's error when ctx ends first.
	CompactRange(ctx context.Context, lower, upper []byte) error
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

// RangeDeleter is implemented by batches that delete a range of keys with
// one write, however many keys the range holds.
type RangeDeleter interface {
	// DeleteRange deletes the keys from lower (inclusive) to upper
	// (exclusive) when the batch commits.
	DeleteRange(lower, upper []byte) error
}

// Ingester is implemented by stores that can take a run of keys in
// ascending order as one sorted file, written to disk once, rather than
// through batches.
type Ingester interface {
	// IngestSorted calls fill with a function that adds a key and its
	// value; keys must be added in strictly ascending order, and add fails
	// otherwise. The keys become visible, and durable, together when fill
	// returns nil. When fill fails, none of them is stored. An added key
	// replaces the value the store had for it.
	IngestSorted(fill func(add func(key, value []byte) error) error) error
}

// TableIngester is implemented by stores that can take whole tables
// written ahead of time, such as the pre-built index tables of a kit.
type TableIngester interface {
	// IngestTables makes the keys of the tables at paths visible together,
	// and durable. Each table's keys must all start with one of prefixes,
	// and the key ranges of no two tables may overlap.
	IngestTables(paths []string, prefixes [][]byte) error
}
