package importer

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// checkSpaceOnceKnown runs checkSpace once the signed graph is known in
// full: the signature verified, and every manifest and index of the graph
// is stored. In the order that `stella ouk build` writes a tar, and for a
// layout folder or a registry, that is before any layer is stored.
func (g *streamGuard) checkSpaceOnceKnown(ctx context.Context) error {
	if g.spaceChecked || !g.verified || len(g.pending) > 0 {
		return nil
	}
	return g.checkSpace(ctx)
}

// checkSpace fails with an error wrapping errdef.ErrDiskFull when the
// volume lacks room for what the import has still to write: the blobs of
// the signed graph that the store lacks, the lookup index of their DB
// layers and the margin. It runs once per import, whatever the sizes of the
// blobs: checkSpaceOnceKnown or copyFrom starts it, or for a tar stream
// in another order the first large blob of the signed graph does. On
// failure it
// removes the blobs this import stored, so that the store keeps the room it
// needs to open. The message gives what the whole kit needs and the free
// space that the check found. Pebble frees the space of the removed blobs
// as it compacts, which can end after the command.
func (g *streamGuard) checkSpace(ctx context.Context) error {
	if g.spaceChecked {
		return nil
	}
	g.spaceChecked = true
	ours := g.s.addedDigests()
	// The check compares free space with remaining, the need of the writes
	// still to come. The message reports whole, which also counts the
	// blobs this import stored already and the index of their DB layers,
	// because the rollback removes them.
	var remaining, whole spaceNeed
	for _, d := range g.graph {
		stored := ours[d.Digest]
		if !stored {
			ok, err := g.s.opts.Store.Exists(ctx, d)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		blobs, index := g.blobNeed(d)
		whole.blobs += blobs
		whole.index += index
		if !stored {
			remaining.blobs += blobs
			remaining.index += index
		}
	}
	remaining.margin = spaceMargin(remaining.blobs + remaining.index)
	whole.margin = spaceMargin(whole.blobs + whole.index)
	dir := g.s.opts.Store.Dir()
	free, err := g.s.opts.FreeSpace(dir)
	if err != nil {
		g.s.opts.Logger.Warn("could not read the free disk space; importing without the check", "error", err)
		return nil
	}
	if remaining.total() <= free {
		return nil
	}
	// The advice leaves out the blobs of this import, so it runs before
	// the rollback empties s.added.
	advice := g.freeSpaceAdvice(ctx, remaining.total()-free)
	g.s.rollback(context.WithoutCancel(ctx))
	return fmt.Errorf("kit needs about %s of free disk but %s has %s free: %s for the blobs the store "+
		"lacks, %s (an estimate) for the lookup index of its new DB layers, and a margin of %s for the "+
		"store's write-ahead log, flushes and compactions; %s, then import again: %w",
		cas.FormatSize(whole.total()), dir, cas.FormatSize(free), cas.FormatSize(whole.blobs), cas.FormatSize(whole.index),
		cas.FormatSize(whole.margin), advice, errdef.ErrDiskFull)
}

// blobNeed returns the bytes that storing the blob d adds to the store,
// and the estimate for the lookup index of d when it is a DB layer. A
// staged table takes its own size as index, and a skipped one is not read
// at all.
func (g *streamGuard) blobNeed(d ocispec.Descriptor) (blobs, index int64) {
	if g.s.isTable(d.Digest) {
		if _, staged := g.s.tables.layerOf[d.Digest]; staged {
			return 0, d.Size
		}
		return 0, 0
	}
	if d.MediaType == oci.MediaTypeDBLayer && !g.s.hasTables(d.Digest) {
		return d.Size, indexBytesPerLayerByte * d.Size
	}
	return d.Size, 0
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
