package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

const (
	// DefaultKeepHistory is the number of history kits that GC keeps
	// besides the active one when GCOptions.KeepHistory is zero.
	DefaultKeepHistory = 3
	// DefaultLeaseTTL is the age after which GC ignores and removes a
	// lease when GCOptions.LeaseTTL is zero.
	DefaultLeaseTTL = 24 * time.Hour
	// gcBatchBlobs is the number of blobs GC removes per synced batch.
	gcBatchBlobs = 128
)

// GCOptions configures GC. The zero value uses the defaults.
type GCOptions struct {
	// KeepHistory is the number of distinct kits from the history that GC
	// keeps besides the active kit. Zero means DefaultKeepHistory, and a
	// negative value keeps none.
	KeepHistory int
	// LeaseTTL is the age after which a lease is stale: GC ignores it and
	// removes it. Zero or negative means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// DryRun reports what GC would remove without removing anything.
	DryRun bool
	// OnRemove, when set, is called for every blob GC removes (or would
	// remove in a dry run).
	OnRemove func(BlobInfo)
}

// GCReport sums up a GC run.
type GCReport struct {
	// Removed and BytesRemoved count the blobs removed, or in a dry run
	// the blobs that would be removed.
	Removed      int   `json:"removed"`
	BytesRemoved int64 `json:"bytesRemoved"`
	// Kept is the number of blobs left in the store.
	Kept int `json:"kept"`
	// KeptKits lists the root digests GC kept: the active kit first, then
	// the kept history kits newest first, then leased and tagged digests.
	KeptKits []digest.Digest `json:"keptKits"`
}

// GC removes every blob that is not reachable from the active kit, the last
// KeepHistory distinct kits of the history, a live lease or a tag. From each
// kept manifest or index it follows its config, layers, child manifests and
// subject, and its referrers (manifests whose subject it is).
//
// Blobs stored after GC started and blobs being pushed are never removed,
// so GC can run while an import adds blobs. GC also removes chunks that a
// crashed Push left without metadata, and stale leases. Pebble reclaims the
// disk space of removed blobs in later compactions, so DiskUsage drops with
// a delay.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	opts = opts.withDefaults()
	start := time.Now().UTC()
	var report GCReport

	roots, err := s.gcRoots(ctx, opts, start)
	if err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	report.KeptKits = roots
	marked, err := s.mark(ctx, roots)
	if err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	if err := s.sweep(ctx, opts, marked, start, &report); err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	if !opts.DryRun {
		if err := s.sweepOrphanChunks(ctx); err != nil {
			return report, fmt.Errorf("collecting garbage: %w", err)
		}
	}
	s.log.Info("garbage collected", "removed", report.Removed, "bytesRemoved", report.BytesRemoved,
		"kept", report.Kept, "dryRun", opts.DryRun)
	return report, nil
}

func (o GCOptions) withDefaults() GCOptions {
	if o.KeepHistory == 0 {
		o.KeepHistory = DefaultKeepHistory
	} else if o.KeepHistory < 0 {
		o.KeepHistory = 0
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	return o
}

// gcRoots returns the digests GC starts marking from, without duplicates,
// and removes stale leases unless opts.DryRun.
func (s *Store) gcRoots(ctx context.Context, opts GCOptions, now time.Time) ([]digest.Digest, error) {
	var roots []digest.Digest
	seen := map[digest.Digest]bool{}
	add := func(d digest.Digest) {
		if d != "" && !seen[d] {
			seen[d] = true
			roots = append(roots, d)
		}
	}

	active, err := s.Active(ctx)
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, err
	}
	add(active.Digest)
	history, err := s.History(ctx)
	if err != nil {
		return nil, err
	}
	kept := 0
	for _, rec := range history {
		if kept >= opts.KeepHistory {
			break
		}
		if rec.Digest != active.Digest && !seen[rec.Digest] {
			add(rec.Digest)
			kept++
		}
	}

	leased, err := s.liveLeases(opts, now)
	if err != nil {
		return nil, err
	}
	for _, d := range leased {
		add(d)
	}
	tags, err := s.tags()
	if err != nil {
		return nil, err
	}
	for _, desc := range tags {
		add(desc.Digest)
	}
	return roots, nil
}

// liveLeases returns the digests of leases younger than opts.LeaseTTL and
// deletes the stale ones unless opts.DryRun.
func (s *Store) liveLeases(opts GCOptions, now time.Time) ([]digest.Digest, error) {
	var live []digest.Digest
	var stale [][]byte
	prefix := []byte(prefixLease)
	err := s.scan(prefix, func(key, value []byte) error {
		rest := key[len(prefix):]
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			return fmt.Errorf("lease key %q has no holder", key)
		}
		taken, err := time.Parse(time.RFC3339Nano, string(value))
		if err != nil {
			return fmt.Errorf("decoding lease %q: %w", key, err)
		}
		if now.Sub(taken) > opts.LeaseTTL {
			stale = append(stale, bytes.Clone(key))
			return nil
		}
		live = append(live, digest.Digest(rest[:slash]))
		return nil
	})
	if err != nil || opts.DryRun || len(stale) == 0 {
		return live, err
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	for _, key := range stale {
		if err := batch.Delete(key, nil); err != nil {
			return nil, err
		}
	}
	s.log.Info("removing stale leases", "count", len(stale))
	return live, batch.Commit(pebble.Sync)
}

// mark returns every stored digest reachable from roots.
func (s *Store) mark(ctx context.Context, roots []digest.Digest) (map[digest.Digest]bool, error) {
	marked := map[digest.Digest]bool{}
	queue := append([]digest.Digest(nil), roots...)
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := queue[0]
		queue = queue[1:]
		if marked[d] {
			continue
		}
		m, err := s.meta(d)
		if errors.Is(err, errdef.ErrNotFound) {
			continue // a delta may omit blobs; nothing to keep
		}
		if err != nil {
			return nil, err
		}
		marked[d] = true
		queue = append(queue, m.Children...)
		if m.Subject != "" {
			queue = append(queue, m.Subject)
		}
		edges, err := s.edges(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, e := range edges {
			if e.Subject {
				queue = append(queue, e.Parent.Digest)
			}
		}
	}
	return marked, nil
}

// gcCandidate is a blob that GC found unreachable.
type gcCandidate struct {
	digest digest.Digest
	meta   *blobMeta
}

// sweep removes the stored blobs that are not marked and were stored
// before start, in synced batches.
func (s *Store) sweep(ctx context.Context, opts GCOptions, marked map[digest.Digest]bool,
	start time.Time, report *GCReport) error {
	var candidates []gcCandidate
	prefix := []byte(prefixBlob)
	err := s.scan(prefix, func(key, value []byte) error {
		d := digest.Digest(bytes.Clone(key[len(prefix):]))
		m, err := decodeMeta(d, value)
		if err != nil {
			return err
		}
		if marked[d] || !m.Stored.Before(start) {
			report.Kept++
			return nil
		}
		candidates = append(candidates, gcCandidate{d, m})
		return nil
	})
	if err != nil {
		return err
	}

	for len(candidates) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(gcBatchBlobs, len(candidates))
		removed, err := s.removeGroup(opts, candidates[:n], report)
		candidates = candidates[n:]
		if err != nil {
			return err
		}
		report.Kept += n - removed
	}
	return nil
}

// removeGroup deletes a group of blobs in one synced batch, skipping blobs
// that a concurrent Push or Delete holds, and returns how many it removed.
func (s *Store) removeGroup(opts GCOptions, group []gcCandidate, report *GCReport) (int, error) {
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	var releases []func()
	defer func() {
		for _, release := range releases {
			release()
		}
	}()

	removed := 0
	for _, c := range group {
		release, ok := s.tryClaim(c.digest)
		if !ok {
			continue
		}
		releases = append(releases, release)
		if opts.OnRemove != nil {
			opts.OnRemove(c.meta.info(c.digest))
		}
		report.Removed++
		report.BytesRemoved += c.meta.Size
		removed++
		if opts.DryRun {
			continue
		}
		if err := deleteBlob(batch, c.digest, c.meta); err != nil {
			return removed, err
		}
	}
	if batch.Empty() {
		return removed, nil
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return removed, err
	}
	// A large blob has an sstable of its own. Compacting its key range
	// drops that table now, instead of whenever Pebble next compacts
	// there, so gc frees the space before it returns.
	for _, c := range group {
		if c.meta.Size < ingestThreshold {
			continue
		}
		prefix := chunkPrefix(c.digest)
		if err := s.db.Compact(context.Background(), prefix, prefixEnd(prefix), false); err != nil {
			s.log.Warn("compacting the range of a removed blob", "digest", c.digest, "error", err)
		}
	}
	return removed, nil
}

// sweepOrphanChunks removes the chunks of digests that have no metadata and
// no Push running, which a crash during Push leaves behind.
func (s *Store) sweepOrphanChunks(ctx context.Context) error {
	prefix := []byte(prefixChunk)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	var orphans []digest.Digest
	for ok := it.First(); ok; {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return err
		}
		rest := it.Key()[len(prefix):]
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			ok = it.Next()
			continue
		}
		d := digest.Digest(bytes.Clone(rest[:slash]))
		present, err := s.has(d)
		if err != nil {
			_ = it.Close()
			return err
		}
		if !present {
			orphans = append(orphans, d)
		}
		// Skip the remaining chunks of d.
		ok = it.SeekGE(prefixEnd(chunkPrefix(d)))
	}
	if err := it.Close(); err != nil {
		return err
	}

	for _, d := range orphans {
		release, ok := s.tryClaim(d)
		if !ok {
			continue // a Push of d runs and removes leftovers itself
		}
		present, err := s.has(d)
		if err == nil && !present {
			s.log.Info("removing chunks left by an interrupted push", "digest", d)
			err = s.deleteChunks(d)
		}
		release()
		if err != nil {
			return err
		}
	}
	return nil
}
