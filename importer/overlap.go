package importer

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/vulndb"
)

// layerIndexer indexes the DB layers of a tar stream, once the signature
// is verified, while later blobs are still being stored: indexing is bound
// by the CPU and storing by the disk. indexDB waits for it, so finish runs
// its checks before it reports an indexing error.
type layerIndexer struct {
	s      *session
	ctx    context.Context
	cancel context.CancelFunc
	// importCtx is the context of the import. Unlike ctx, stop does not
	// cancel it, so a signal still stops the compaction in drop.
	importCtx context.Context
	// slots contains one token per layer being indexed, so at most one layer
	// per CPU is indexed at a time.
	slots chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error
	// indexed counts the layers indexed here.
	indexed int
	// touched lists the layers whose keys were written here, in full or
	// in part, so that a rejected import can remove them again.
	touched []digest.Digest
}

func newLayerIndexer(ctx context.Context, s *session) *layerIndexer {
	indexCtx, cancel := context.WithCancel(ctx)
	return &layerIndexer{s: s, ctx: indexCtx, cancel: cancel, importCtx: ctx,
		slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// start indexes a stored DB layer in the background, unless the layer is
// indexed already or the kit carries pre-built index tables for it.
func (x *layerIndexer) start(layer ocispec.Descriptor) {
	if t := x.s.tables; t != nil && t.expected[layer.Digest] > 0 {
		return
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		select {
		case x.slots <- struct{}{}:
		case <-x.ctx.Done():
			return
		}
		defer func() { <-x.slots }()
		indexed, err := x.index(layer)
		x.mu.Lock()
		defer x.mu.Unlock()
		if err != nil {
			if x.err == nil {
				x.err = err
			}
			x.cancel()
			return
		}
		if indexed {
			x.indexed++
		}
	}()
}

// index indexes one layer and reports whether it did.
func (x *layerIndexer) index(layer ocispec.Descriptor) (bool, error) {
	if err := x.ctx.Err(); err != nil {
		return false, err
	}
	store := x.s.opts.Store.KV(VulnDBNamespace)
	done, err := vulndb.IsIndexed(store, layer.Digest)
	if err != nil {
		return false, fmt.Errorf("checking index of DB layer %s: %w", layer.Digest, err)
	}
	if done {
		return false, nil
	}
	x.mu.Lock()
	x.touched = append(x.touched, layer.Digest)
	x.mu.Unlock()
	if err := x.s.indexLayer(x.ctx, store, layer, "DB layer indexed while the kit is read"); err != nil {
		return false, err
	}
	return true, nil
}

// wait waits for the layers started so far and returns the first error
// and the number of layers indexed.
func (x *layerIndexer) wait() (int, error) {
	x.wg.Wait()
	x.cancel()
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.indexed, x.err
}

// stop cancels the indexing that is still running and waits for it, so
// that a failed import can remove its blobs. It may be called more than
// once.
func (x *layerIndexer) stop() {
	x.cancel()
	x.wg.Wait()
}

// drop removes the index keys of every layer indexed here, in full or in
// part. It runs after stop, when a check rejects the kit.
func (x *layerIndexer) drop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	store := x.s.opts.Store.KV(VulnDBNamespace)
	for _, d := range x.touched {
		if err := vulndb.DropLayer(store, d); err != nil {
			x.s.opts.Logger.Warn("removing the index of a DB layer of the rejected kit failed", "layer", d, "error", err)
		}
	}
	if _, err := vulndb.CompactDroppedLayers(x.importCtx, store); err != nil {
		x.s.opts.Logger.Warn("compacting the removed index of the rejected kit failed, so its space is freed "+
			"only when `stella ouk gc` compacts it", "error", err)
	}
	x.touched = nil
}
