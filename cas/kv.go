package cas

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// KV returns a kv.Store whose keys live under namespace in the store's
// Pebble database; namespaces never see each other's keys. Its batches are
// Pebble batches, so a Commit is atomic, and durable when sync is true.
func (s *Store) KV(namespace string) kv.Store {
	return &namespaceStore{store: s, prefix: namespacePrefix(namespace)}
}

type namespaceStore struct {
	store  *Store
	prefix []byte
}

func (n *namespaceStore) key(k []byte) []byte {
	out := make([]byte, 0, len(n.prefix)+len(k))
	return append(append(out, n.prefix...), k...)
}

// Get implements kv.Store.
func (n *namespaceStore) Get(key []byte) ([]byte, error) {
	value, err := n.store.get(n.key(key))
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("key %q: %w", key, errdef.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading key %q: %w", key, err)
	}
	return value, nil
}

// Scan implements kv.Store.
func (n *namespaceStore) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return n.store.scan(n.key(prefix), func(key, value []byte) error {
		return fn(key[len(n.prefix):], value)
	})
}

// ScanPrefixes implements kv.PrefixScanner.
func (n *namespaceStore) ScanPrefixes(prefixes [][]byte, fn func(i int, key, value []byte) error) error {
	full := make([][]byte, len(prefixes))
	for i, p := range prefixes {
		full[i] = n.key(p)
	}
	return n.store.scanPrefixes(full, func(i int, key, value []byte) error {
		return fn(i, key[len(n.prefix):], value)
	})
}

// ScanRange implements kv.RangeScanner.
func (n *namespaceStore) ScanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	return n.store.scanRange(n.key(lower), n.key(upper), func(key, value []byte) error {
		return fn(key[len(n.prefix):], value)
	})
}

// CompactRange implements kv.Compacter. Pebble v2.1.7 stops waiting for the
// compaction, and cancels its parts that have not started, when ctx ends.
// On a full volume it returns an error wrapping errdef.ErrDiskFull instead
// of waiting for a flush that cannot succeed (see Store.compact).
func (n *namespaceStore) CompactRange(ctx context.Context, lower, upper []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("compacting keys from %q to %q: %w", lower, upper, err)
	}
	if err := n.store.compact(ctx, n.key(lower), n.key(upper)); err != nil {
		return n.store.WrapDiskFull(fmt.Errorf("compacting keys from %q to %q: %w", lower, upper, err))
	}
	return nil
}

// NewBatch implements kv.Store.
func (n *namespaceStore) NewBatch() kv.Batch {
	return &namespaceBatch{ns: n, batch: n.store.db.NewBatch()}
}

type namespaceBatch struct {
	ns     *namespaceStore
	batch  *pebble.Batch
	closed bool
}

func (b *namespaceBatch) Set(key, value []byte) error {
	return b.batch.Set(b.ns.key(key), value, nil)
}

func (b *namespaceBatch) Delete(key []byte) error {
	return b.batch.Delete(b.ns.key(key), nil)
}

// DeleteRange implements kv.RangeDeleter.
func (b *namespaceBatch) DeleteRange(lower, upper []byte) error {
	return b.batch.DeleteRange(b.ns.key(lower), b.ns.key(upper), nil)
}

func (b *namespaceBatch) Commit(sync bool) error {
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := b.ns.store.write(func() error { return b.batch.Commit(opts) }); err != nil {
		return b.ns.store.WrapDiskFull(fmt.Errorf("committing batch: %w", err))
	}
	return nil
}

func (b *namespaceBatch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.batch.Close()
}

// errNothingAdded stops IngestSorted from ingesting an empty table.
var errNothingAdded = errors.New("no keys added")

// IngestSorted implements kv.Ingester: the keys go into one sstable in
// the store's ingest folder, which is synced and then ingested, so they
// reach the disk once. Tables of keys that no other table overlaps land
// on the bottom level and are never compacted again.
func (n *namespaceStore) IngestSorted(fill func(add func(key, value []byte) error) error) error {
	added := 0
	// The writer copies each key, so one buffer serves them all.
	var k []byte
	err := n.store.ingestTable(context.Background(), "kv", sstable.SnappyCompression, false, func(w *sstable.Writer) error {
		err := fill(func(key, value []byte) error {
			k = append(append(k[:0], n.prefix...), key...)
			if err := w.Set(k, value); err != nil {
				return fmt.Errorf("adding key %q to a sorted table: %w", key, err)
			}
			added++
			return nil
		})
		if err == nil && added == 0 {
			return errNothingAdded
		}
		return err
	})
	if errors.Is(err, errNothingAdded) {
		return nil
	}
	return n.store.WrapDiskFull(err)
}
