package cas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

const (
	// DefaultKeepHistory is the number of history kits that GC keeps
	// besides the active one when GCOptions.KeepHistory is zero.
	DefaultKeepHistory = 3
	// DefaultLeaseTTL is the age after which GC ignores and removes a
	// lease whose holder it cannot check, when GCOptions.LeaseTTL is zero.
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
	// LeaseTTL is the age after which a lease whose holder GC cannot check
	// is stale: GC ignores it and removes it. A lease whose holder process
	// GC finds gone is stale at once, and one whose holder still runs is
	// live at any age. Zero or negative means DefaultLeaseTTL.
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
	// KeptReasons gives the reasons GC kept each digest of KeptKits, in
	// the same order.
	KeptReasons []KeptKit `json:"keptReasons"`
	// StaleLeases counts the leases GC removed, or in a dry run would
	// remove, because their holder has exited or they outlived LeaseTTL.
	StaleLeases int `json:"staleLeases"`
	// LeftoverRemoved and LeftoverBytes count what an interrupted run
	// left and this run freed, or in a dry run would free. That is the
	// large blobs an interrupted GC removed without compacting their
	// chunks away, and the chunks an interrupted Push left without
	// metadata. Removed and BytesRemoved do not include them.
	LeftoverRemoved int   `json:"leftoverRemoved"`
	LeftoverBytes   int64 `json:"leftoverBytes"`
}

// Kinds of KeepReason.
const (
	// ReasonActive marks the active kit.
	ReasonActive = "active"
	// ReasonHistory marks one of the KeepHistory kits kept from the history.
	ReasonHistory = "history"
	// ReasonLease marks a digest that a live lease pins.
	ReasonLease = "lease"
	// ReasonTag marks a tagged digest.
	ReasonTag = "tag"
)

// KeptKit is a root digest that GC kept, with every reason it had.
type KeptKit struct {
	Digest digest.Digest `json:"digest"`
	// Version is the kit version that the history records for Digest, or
	// "" when the digest was never activated.
	Version string       `json:"version,omitempty"`
	Reasons []KeepReason `json:"reasons"`
}

// KeepReason is one reason GC kept a root digest.
type KeepReason struct {
	// Kind is ReasonActive, ReasonHistory, ReasonLease or ReasonTag.
	Kind string `json:"kind"`
	// Position is, for ReasonHistory, the kit's place among the kept
	// history kits, newest first. Position 1 is the kit a rollback returns
	// to.
	Position int `json:"position,omitempty"`
	// Holder, PID and Since describe a ReasonLease: the holder's name, its
	// process ID when the lease records one, and when it took the lease.
	Holder string    `json:"holder,omitempty"`
	PID    int       `json:"pid,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// HolderRunning is set when GC found the lease holder's process still
	// running on this host. Otherwise GC cannot check the holder, and the
	// lease lasts until Until (Since plus LeaseTTL).
	HolderRunning bool      `json:"holderRunning,omitempty"`
	Until         time.Time `json:"until,omitzero"`
	// Tag is the reference of a ReasonTag.
	Tag string `json:"tag,omitempty"`
}

// GC removes every blob that is not reachable from the active kit, the last
// KeepHistory distinct kits of the history, a live lease or a tag. A lease
// is live while the process it records runs (see PinProcess), or, when GC
// cannot check that process, until it is LeaseTTL old. From each
// kept manifest or index it follows its config, layers, child manifests and
// subject, and its referrers (manifests whose subject it is).
//
// Blobs committed after GC started and blobs being pushed are not removed
// (see changedSince for the one exception). GC detects them by a snapshot
// of the database, not by their stored time, so a clock that was ahead
// when a blob was stored does not keep it. Still, GC must not run while an
// import is in progress. A blob that the import finds stored already and
// skips is not protected, so GC removes it when no kept kit reaches it,
// and the kit that the import then activates lacks it. GC also removes
// chunks that a crashed Push left without metadata, and stale leases.
// Pebble reclaims the disk space of removed blobs in later compactions, so
// DiskUsage drops with a delay.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	opts = opts.withDefaults()
	start := time.Now().UTC()
	// Taken before the roots are read. A blob whose metadata differs from
	// this snapshot's was committed since, and sweep keeps it.
	snap := s.db.NewSnapshot()
	defer func() { _ = snap.Close() }()
	if gcSnapshotTaken != nil {
		gcSnapshotTaken()
	}
	var report GCReport

	if err := s.finishCompactions(ctx, opts, &report); err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	kept, err := s.gcRoots(ctx, opts, start, &report)
	if err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	roots := make([]digest.Digest, len(kept))
	for i, k := range kept {
		roots[i] = k.Digest
	}
	report.KeptKits, report.KeptReasons = roots, kept
	marked, err := s.mark(ctx, roots)
	if err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	if err := s.sweep(ctx, opts, marked, snap, &report); err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	if err := s.sweepOrphanChunks(ctx, opts.DryRun, &report); err != nil {
		return report, fmt.Errorf("collecting garbage: %w", err)
	}
	s.log.Info("garbage collected", "removed", report.Removed, "bytesRemoved", report.BytesRemoved,
		"kept", report.Kept, "leftoverRemoved", report.LeftoverRemoved, "leftoverBytes", report.LeftoverBytes,
		"dryRun", opts.DryRun)
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
// each with the reasons to keep it. It removes stale leases unless
// opts.DryRun and counts them in report.
func (s *Store) gcRoots(ctx context.Context, opts GCOptions, now time.Time,
	report *GCReport) ([]KeptKit, error) {
	// Not nil, so that a report without roots lists them as [] in JSON.
	roots := []KeptKit{}
	index := map[digest.Digest]int{}
	add := func(d digest.Digest, reason KeepReason) {
		if d == "" {
			return
		}
		i, ok := index[d]
		if !ok {
			i = len(roots)
			index[d] = i
			roots = append(roots, KeptKit{Digest: d})
		}
		roots[i].Reasons = append(roots[i].Reasons, reason)
	}

	active, err := s.Active(ctx)
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, err
	}
	add(active.Digest, KeepReason{Kind: ReasonActive})
	history, err := s.History(ctx)
	if err != nil {
		return nil, err
	}
	kept := 0
	for _, rec := range history {
		if kept >= opts.KeepHistory {
			break
		}
		if _, seen := index[rec.Digest]; rec.Digest == active.Digest || seen {
			continue
		}
		// A kit an earlier gc removed is gone for good: it takes no place
		// among the kits kept. So does one that an interrupted import
		// stored in part again, which no rollback could activate.
		stored, err := s.KitComplete(ctx, rec.Digest)
		if err != nil {
			return nil, err
		}
		if stored {
			kept++
			add(rec.Digest, KeepReason{Kind: ReasonHistory, Position: kept})
		}
	}

	leased, stale, err := s.liveLeases(opts, now)
	if err != nil {
		return nil, err
	}
	report.StaleLeases = stale
	for _, l := range leased {
		add(l.digest, l.reason)
	}
	tags, err := s.taggedDigests()
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		add(t.digest, t.reason)
	}

	versions := map[digest.Digest]string{}
	for _, rec := range history {
		if _, ok := versions[rec.Digest]; !ok {
			versions[rec.Digest] = rec.Version
		}
	}
	for i := range roots {
		roots[i].Version = versions[roots[i].Digest]
	}
	return roots, nil
}

// gcRoot is a digest GC keeps for one reason.
type gcRoot struct {
	digest digest.Digest
	reason KeepReason
}

// liveLeases returns the digests of live leases and the number of stale
// ones, which it deletes unless opts.DryRun. A lease is stale when the
// process it records is no longer running, or, when GC cannot check its
// holder, once it is older than opts.LeaseTTL.
func (s *Store) liveLeases(opts GCOptions, now time.Time) ([]gcRoot, int, error) {
	var live []gcRoot
	var stale [][]byte
	here := currentProcess()
	prefix := []byte(prefixLease)
	err := s.scan(prefix, func(key, value []byte) error {
		rest := key[len(prefix):]
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			return fmt.Errorf("lease key %q has no holder", key)
		}
		rec, err := decodeLease(value)
		if err != nil {
			return fmt.Errorf("decoding lease %q: %w", key, err)
		}
		reason := KeepReason{Kind: ReasonLease, Holder: string(rest[slash+1:]), PID: rec.PID,
			Since: rec.Taken}
		switch checkHolder(rec.process, here) {
		case holderGone:
			s.log.Info("lease holder is no longer running", "lease", string(key), "pid", rec.PID)
			stale = append(stale, bytes.Clone(key))
			return nil
		case holderRunning:
			reason.HolderRunning = true
		default:
			if now.Sub(rec.Taken) > opts.LeaseTTL {
				stale = append(stale, bytes.Clone(key))
				return nil
			}
			reason.Until = rec.Taken.Add(opts.LeaseTTL)
		}
		live = append(live, gcRoot{digest: digest.Digest(rest[:slash]), reason: reason})
		return nil
	})
	if err != nil || opts.DryRun || len(stale) == 0 {
		return live, len(stale), err
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	for _, key := range stale {
		if err := batch.Delete(key, nil); err != nil {
			return nil, 0, err
		}
	}
	s.log.Info("removing stale leases", "count", len(stale))
	return live, len(stale), s.write(func() error { return batch.Commit(pebble.Sync) })
}

// taggedDigests returns the digest of every tag, with the tag as reason.
func (s *Store) taggedDigests() ([]gcRoot, error) {
	var out []gcRoot
	prefix := []byte(prefixTag)
	err := s.scan(prefix, func(key, value []byte) error {
		var desc ocispec.Descriptor
		if err := json.Unmarshal(value, &desc); err != nil {
			return fmt.Errorf("decoding tag %q: %w", key, err)
		}
		ref := string(key[len(prefix):])
		out = append(out, gcRoot{digest: desc.Digest, reason: KeepReason{Kind: ReasonTag, Tag: ref}})
		return nil
	})
	return out, err
}

// KitComplete reports whether the store contains the blob d and every blob
// that it and its manifests reach, as for a kit whose import finished. A
// kit that gc removed, or that an interrupted import stored in part, is
// not complete.
func (s *Store) KitComplete(ctx context.Context, d digest.Digest) (bool, error) {
	seen := map[digest.Digest]bool{}
	queue := []digest.Digest{d}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		next := queue[0]
		queue = queue[1:]
		if seen[next] {
			continue
		}
		seen[next] = true
		m, err := s.graphMeta(next)
		if errors.Is(err, errdef.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		queue = append(queue, m.Children...)
	}
	return true, nil
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
		m, err := s.graphMeta(d)
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

// gcCandidate is a blob that GC found unreachable, with its metadata
// value as GC read it.
type gcCandidate struct {
	digest digest.Digest
	meta   *blobMeta
	value  []byte
}

// sweep removes the stored blobs that are not marked and whose metadata is
// the same in snap, the snapshot taken when GC started, in synced batches.
func (s *Store) sweep(ctx context.Context, opts GCOptions, marked map[digest.Digest]bool,
	snap *pebble.Snapshot, report *GCReport) error {
	var candidates []gcCandidate
	prefix := []byte(prefixBlob)
	err := s.scan(prefix, func(key, value []byte) error {
		d := digest.Digest(bytes.Clone(key[len(prefix):]))
		if marked[d] {
			report.Kept++
			return nil
		}
		committedSince, err := s.changedSince(snap, key, value)
		if err != nil {
			return err
		}
		if committedSince {
			report.Kept++
			return nil
		}
		m, err := decodeMeta(d, value)
		if err != nil {
			return err
		}
		candidates = append(candidates, gcCandidate{d, m, bytes.Clone(value)})
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

// changedSince reports whether value, the metadata now stored at key, is
// absent from snap or differs there, because a Push committed the blob
// after snap was taken.
// NOTE: a blob deleted and pushed again since snap counts as unchanged when
// its new metadata equals the old byte for byte, stored time included.
func (s *Store) changedSince(snap *pebble.Snapshot, key, value []byte) (bool, error) {
	old, closer, err := snap.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, s.storeError(err)
	}
	changed := !bytes.Equal(old, value)
	return changed, s.storeError(closer.Close())
}

// removeGroup deletes a group of blobs in one synced batch, skipping blobs
// that a concurrent Push or Delete holds or that were pushed again since
// sweep read them, and returns how many it removed.
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
		current, err := s.get(blobKey(c.digest))
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err != nil {
			return removed, err
		}
		if !bytes.Equal(current, c.value) {
			continue
		}
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
	if err := s.write(func() error { return batch.Commit(pebble.Sync) }); err != nil {
		return removed, err
	}
	if gcCommitted != nil {
		gcCommitted()
	}
	for _, c := range group {
		if hasOwnTable(c.meta) {
			s.compactRemoved(c.digest)
		}
	}
	return removed, nil
}

// gcCommitted, when set by a test, runs after GC commits the removal of a
// group of blobs and before it compacts their ranges.
var gcCommitted func()

// gcSnapshotTaken, when set by a test, runs after GC takes its snapshot
// and before it reads the roots.
var gcSnapshotTaken func()

// compactRemoved compacts the chunk range of removed blob d and then
// deletes its compactKey. A large blob has an sstable of its own, and the
// compaction drops that table now, instead of whenever Pebble next
// compacts there, so GC frees the space before it returns. A failure, as
// on a full volume (see compact), is logged and leaves the key for the next
// GC.
func (s *Store) compactRemoved(d digest.Digest) {
	prefix := chunkPrefix(d)
	err := s.compact(context.Background(), prefix, prefixEnd(prefix))
	if err == nil {
		err = s.write(func() error { return s.db.Delete(compactKey(d), pebble.NoSync) })
	}
	if err != nil {
		s.log.Warn("compacting the range of a removed blob failed, so the next gc retries it", "digest", d, "error", err)
	}
}

// finishCompactions compacts the chunk ranges of the large blobs that an
// interrupted GC removed but did not compact, and counts them in report.
// A blob pushed again since then keeps its chunks and is not counted.
func (s *Store) finishCompactions(ctx context.Context, opts GCOptions, report *GCReport) error {
	type pending struct {
		digest digest.Digest
		size   int64
	}
	var todo []pending
	prefix := []byte(prefixCompact)
	err := s.scan(prefix, func(key, value []byte) error {
		size, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			size = 0 // the key still names a range to compact
		}
		todo = append(todo, pending{digest.Digest(bytes.Clone(key[len(prefix):])), size})
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		stored, err := s.has(p.digest)
		if err != nil {
			return err
		}
		if stored {
			if !opts.DryRun {
				if err := s.write(func() error { return s.db.Delete(compactKey(p.digest), pebble.NoSync) }); err != nil {
					return err
				}
			}
			continue
		}
		report.LeftoverRemoved++
		report.LeftoverBytes += p.size
		if opts.DryRun {
			continue
		}
		s.log.Info("compacting a blob that an interrupted gc removed", "digest", p.digest, "size", p.size)
		s.compactRemoved(p.digest)
	}
	return nil
}

// sweepOrphanChunks removes the chunks of digests that have no metadata and
// no Push running, which a crash during Push leaves behind, unless dryRun,
// and counts them in report.
func (s *Store) sweepOrphanChunks(ctx context.Context, dryRun bool, report *GCReport) error {
	prefix := []byte(prefixChunk)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return s.storeError(err)
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
		return s.storeError(err)
	}

	for _, d := range orphans {
		release, ok := s.tryClaim(d)
		if !ok {
			continue // a Push of d runs and removes leftovers itself
		}
		present, err := s.has(d)
		var size int64
		if err == nil && !present {
			size, err = s.chunkBytes(d)
		}
		if err == nil && !present {
			report.LeftoverRemoved++
			report.LeftoverBytes += size
			if !dryRun {
				s.log.Info("removing chunks left by an interrupted push", "digest", d, "size", size)
				err = s.deleteChunks(d)
			}
		}
		release()
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkBytes returns the total size of the stored chunks of d.
func (s *Store) chunkBytes(d digest.Digest) (int64, error) {
	var total int64
	err := s.scan(chunkPrefix(d), func(_, value []byte) error {
		total += int64(len(value))
		return nil
	})
	return total, err
}
