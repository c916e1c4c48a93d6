package importer

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

const (
	// spaceMarginBase is the part of the free-space margin that every
	// import needs: new MANIFEST and OPTIONS files and Pebble's other small
	// files.
	spaceMarginBase = 8 << 20
	// spaceMarginMax caps the part of the margin that grows with the kit.
	// Blobs under 256 KiB and index batches go through the write-ahead log
	// before a flush writes them into a table. Compactions write new tables
	// before they delete the old ones. So new bytes can be on disk twice
	// for a while, and since Pebble flushes every 64 MiB memtable, about
	// that many at a time.
	spaceMarginMax = 64 << 20
	// indexBytesPerLayerByte estimates the bytes that the lookup index of
	// a DB layer adds to the store per byte of the compressed layer.
	// docs/benchmarks.md measured 293 MiB of store for 76.2 MiB of zstd
	// layers holding 300,000 records, a factor of 3.8.
	// NOTE: the factor comes from that one synthetic data set; records
	// with more aliases or packages per byte need more.
	indexBytesPerLayerByte = 4
)

// spaceNeed is the breakdown of the bytes an import adds to the store's
// volume.
type spaceNeed struct {
	blobs  int64 // the blobs of the kit that the store lacks
	index  int64 // an estimate for the lookup index of new DB layers
	margin int64 // room for Pebble's log, flushes and compactions
}

func (n spaceNeed) total() int64 { return n.blobs + n.index + n.margin }

// spaceMargin returns the free space an import of new bytes leaves for the
// store's own work: spaceMarginBase plus the new bytes, at most
// spaceMarginMax of them.
func spaceMargin(newBytes int64) int64 {
	return spaceMarginBase + min(newBytes, spaceMarginMax)
}

// freeSpace returns the bytes available to unprivileged users on the file
// system that holds dir.
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	// Linux counts Bavail in fragment-size units, which most file systems
	// make equal to Bsize.
	return int64(st.Bavail) * int64(st.Frsize), nil
}

// spaceError is the rejection of a kit by the space check. It wraps
// errdef.ErrDiskFull, and unlike a write that found the disk full, it
// removes the blobs the import stored (see isRejection).
type spaceError struct{ err error }

func (e *spaceError) Error() string { return e.err.Error() }

func (e *spaceError) Unwrap() error { return e.err }

// checkSpace fails with a *spaceError when the volume lacks room for the
// blobs of the signed graph that the store lacked before this import, the
// lookup index of their DB layers and the margin. The room is the free
// space plus the blobs of the graph this import stored so far. It runs
// once, before the first large blob is stored. On failure it removes the
// blobs this import stored, so that the store keeps the room it needs to
// open, and the message gives the free space after that removal.
func (g *streamGuard) checkSpace(ctx context.Context) error {
	if g.spaceChecked {
		return nil
	}
	g.spaceChecked = true
	ours := g.s.addedDigests()
	var need spaceNeed
	// stored counts the bytes of the graph's blobs that this import stored
	// already: they are part of the need, and their space is taken.
	var stored int64
	for _, d := range g.graph {
		if ours[d.Digest] {
			stored += d.Size
		} else {
			ok, err := g.s.opts.Store.Exists(ctx, d)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		// A staged table takes its own size in the store, and a skipped
		// one is not read at all.
		if g.s.isTable(d.Digest) {
			if _, staged := g.s.tables.layerOf[d.Digest]; staged {
				need.index += d.Size
			}
			continue
		}
		need.blobs += d.Size
		if d.MediaType == oci.MediaTypeDBLayer && !g.s.hasTables(d.Digest) {
			need.index += indexBytesPerLayerByte * d.Size
		}
	}
	need.margin = spaceMargin(need.blobs + need.index)
	dir := g.s.opts.Store.Dir()
	free, err := g.s.opts.FreeSpace(dir)
	if err != nil {
		g.s.opts.Logger.Warn("could not read the free disk space; importing without the check", "error", err)
		return nil
	}
	if need.total() <= free+stored {
		return nil
	}
	// The advice leaves out the blobs of this import, so it runs before
	// the rollback empties s.added.
	advice := g.freeSpaceAdvice(ctx, need.total()-free-stored)
	g.s.rollback(context.WithoutCancel(ctx))
	if after, err := g.s.opts.FreeSpace(dir); err == nil {
		free = after
	} else {
		free += stored
	}
	return &spaceError{fmt.Errorf("kit needs about %s of free disk but %s has %s free: %s for the blobs the store "+
		"lacks, %s (an estimate) for the lookup index of its new DB layers, and a %s margin for the "+
		"store's write-ahead log, flushes and compactions; %s, then import again: %w",
		cas.FormatSize(need.total()), dir, cas.FormatSize(free), cas.FormatSize(need.blobs), cas.FormatSize(need.index),
		cas.FormatSize(need.margin), advice, errdef.ErrDiskFull)}
}

// freeSpaceAdvice returns the step that makes room for the missing bytes:
// `stella ouk gc` when a dry run of it finds enough blobs to remove, else
// freeing space on the volume. Blobs that this import stored or will use
// do not count.
func (g *streamGuard) freeSpaceAdvice(ctx context.Context, missing int64) string {
	ours := g.s.addedDigests()
	var reclaimable int64
	_, err := g.s.opts.Store.GC(ctx, cas.GCOptions{DryRun: true, OnRemove: func(b cas.BlobInfo) {
		if _, inKit := g.graph[b.Digest]; !inKit && !ours[b.Digest] {
			reclaimable += b.Size
		}
	}})
	const volume = "free space on that volume, grow it or move the store to a larger one"
	switch {
	case err != nil:
		g.s.opts.Logger.Warn("could not find what `stella ouk gc` would remove", "error", err)
		return volume + ", or run `stella ouk gc` if the store holds kits you no longer need"
	case reclaimable == 0:
		return "the store holds no blobs that `stella ouk gc` could remove, so " + volume
	case reclaimable < missing:
		return fmt.Sprintf("%s; `stella ouk gc` would remove only %s of blobs that no kept kit uses, less than the "+
			"%s missing", volume, cas.FormatSize(reclaimable), cas.FormatSize(missing))
	default:
		return fmt.Sprintf("run `stella ouk gc`, which would remove %s of blobs that no kept kit uses, "+
			"or %s", cas.FormatSize(reclaimable), volume)
	}
}
