package importer

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// spaceMargin is the free space an import leaves for the store's own
// files (write-ahead log, compactions) besides the blobs it adds.
const spaceMargin = 64 << 20

// freeSpace returns the bytes available to unprivileged users on the file
// system that holds dir.
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkSpace fails when the blobs of the signed graph that the store lacks
// do not fit in the free space of the store's file system. It runs once,
// before the first large blob is stored.
func (g *streamGuard) checkSpace(ctx context.Context) error {
	if g.spaceChecked {
		return nil
	}
	g.spaceChecked = true
	var missing int64
	for _, d := range g.graph {
		ok, err := g.s.opts.Store.Exists(ctx, d)
		if err != nil {
			return err
		}
		if !ok {
			missing += d.Size
		}
	}
	free, err := g.s.opts.FreeSpace(g.s.opts.Store.Dir())
	if err != nil {
		g.s.opts.Logger.Warn("could not read the free disk space; importing without the check", "error", err)
		return nil
	}
	if missing+spaceMargin > free {
		return fmt.Errorf("kit needs %d bytes of free disk for the blobs the store lacks, plus a %d byte margin, "+
			"but %s has %d bytes free; run `stella ouk gc` or free space, then import again: %w",
			missing, spaceMargin, g.s.opts.Store.Dir(), free, errdef.ErrSizeExceedsLimit)
	}
	return nil
}
