package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// ImportStream imports a kit from an OCI image layout tar stream, plain or
// compressed with gzip or zstd (detected from the bytes). Blobs are stored as
// they are read, so the kit is never written to disk twice. When ctx ends,
// ImportStream returns ctx's error at once, even while a read from r is
// blocked, as one from a stalled pipe is. That read is then left running,
// and its bytes are dropped when it returns.
func ImportStream(ctx context.Context, r io.Reader, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSession(opts)
	defer s.discardTables()
	defer s.stopIndexer()
	index, err := s.readStream(ctx, newContextReader(ctx, r))
	if err != nil {
		err = s.opts.Store.WrapDiskFull(err)
		s.failedReading(ctx, err)
		return nil, err
	}
	return s.finishOrRollback(ctx, *index)
}

// ImportDir imports a kit from an OCI image layout folder.
func ImportDir(ctx context.Context, dir string, opts Options) (*Result, error) {
	index, src, err := layout.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening layout folder %s: %w", dir, err)
	}
	return importFrom(ctx, src, index, opts, dir)
}

// ImportFrom imports the kit whose bundle index and signature referrers are
// listed in index from any oras-go source: a layout folder or a registry.
// Only blobs the store lacks are read from src.
func ImportFrom(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, opts Options) (*Result, error) {
	return importFrom(ctx, src, index, opts, "")
}

// importFrom is ImportFrom for a source that is the layout folder dir, or
// any other source when dir is "".
func importFrom(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, opts Options, dir string) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSession(opts)
	s.dir = dir
	defer s.discardTables()
	carries := func(cfg delta.Config) (bool, error) { return cfg.CarriedBy(ctx, src) }
	index, err := s.withoutCarriedDelta(ctx, src, index, carries)
	if err != nil {
		return nil, err
	}
	if err := s.copyFrom(ctx, src, index); err != nil {
		err = s.explainBaseMissing(ctx, err, index, src, nil)
		err = s.opts.Store.WrapDiskFull(err)
		s.failedReading(ctx, err)
		return nil, err
	}
	return s.finishOrRollback(ctx, index)
}

// failed decides what to keep after an error. A transfer that
// broke off (cancelled, truncated, or a network or read failure) keeps the
// verified blobs it stored, so running the import again does not transfer
// them twice. An error that rejects the kit's content removes them, so bad
// input leaves the store as it was, and so does a full volume (see
// keepsStoredBlobs).
func (s *session) failed(ctx context.Context, err error) {
	s.logWarnings()
	if keepsStoredBlobs(err) {
		s.opts.Logger.Info("import interrupted; stored blobs kept for the next attempt",
			"blobs", len(s.added), "error", err)
		return
	}
	s.rollback(context.WithoutCancel(ctx))
}

// failedReading handles an error while the kit is read, before every blob
// is in the store, as failed does. A transfer that broke off keeps only the
// blobs that the verified bundle index reaches (see dropUnsigned).
func (s *session) failedReading(ctx context.Context, err error) {
	if keepsStoredBlobs(err) {
		s.dropUnsigned(context.WithoutCancel(ctx))
	}
	s.failed(ctx, err)
}

// dropUnsigned removes the blobs this import added that the verified
// bundle index does not reach, all of them when the signature was not
// checked yet. Without it, every broken transfer would leave up to
// MaxUnsignedBytes of blobs that no signature covers, and a series of
// small truncated files could fill the store. A rerun reads such blobs
// again, which costs little, because they are manifests and signatures.
func (s *session) dropUnsigned(ctx context.Context) {
	var signedBlobs []ocispec.Descriptor
	for _, d := range s.added {
		if s.guard != nil && s.guard.verified {
			if _, signed := s.guard.graph[d.Digest]; signed {
				signedBlobs = append(signedBlobs, d)
				continue
			}
		}
		if err := s.opts.Store.Delete(ctx, d); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			s.opts.Logger.Warn("removing unsigned blob of an interrupted import", "digest", d.Digest, "error", err)
		}
	}
	s.added = signedBlobs
}

// keepsStoredBlobs reports whether an import that failed with err keeps
// the verified blobs it stored for the next attempt. Only a transfer that
// broke off does. A full volume, whether the space check found it or a
// write did, removes them too, so that they do not take the room that
// opening the store and `stella ouk gc` need. A rerun cannot get past a
// full volume anyway, and the space check then names what the kit needs.
func keepsStoredBlobs(err error) bool {
	return !isRejection(err) && !errors.Is(err, errdef.ErrDiskFull)
}

// isRejection reports whether err rejects the kit's content, as opposed to
// a transfer that broke off. A truncated stream counts as a transfer error:
// the blobs read before the cut were verified and stay useful.
func isRejection(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errdef.ErrTransferFailed) {
		return false
	}
	for _, sentinel := range []error{errdef.ErrInvalidKit, errdef.ErrDigestMismatch, errdef.ErrSizeMismatch,
		errdef.ErrUnsafePath, errdef.ErrUnknownCompression, errdef.ErrSizeExceedsLimit, errdef.ErrSignature,
		errdef.ErrDowngrade, errdef.ErrExpired, errdef.ErrBaseMissing, errdef.ErrInvalidRecord} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}

// finishOrRollback finishes the import, or removes the blobs it stored
// when it fails. An import cancelled while it indexes keeps its verified
// blobs and the layers it indexed instead, as one cancelled while reading
// does, so that running it again reads and indexes only the rest. Such
// blobs stay until stella ouk gc when the next attempt rejects the kit.
func (s *session) finishOrRollback(ctx context.Context, index ocispec.Index) (*Result, error) {
	res, err := s.finish(ctx, index)
	err = s.explainBaseMissing(ctx, err, index, nil, nil)
	err = s.opts.Store.WrapDiskFull(err)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// Not a rejection, so failed keeps the blobs.
		s.failed(ctx, err)
	default:
		s.logWarnings()
		s.rollback(context.WithoutCancel(ctx))
	}
	return nil, err
}

// readStream stores every blob of a tar stream and returns its index.json.
func (s *session) readStream(ctx context.Context, r io.Reader) (_ *ocispec.Index, err error) {
	tr, err := layout.NewTarReader(r, s.opts.Limits)
	if err != nil {
		return nil, err
	}
	var index *ocispec.Index
	defer func() {
		if err != nil && index != nil {
			err = s.explainBaseMissing(ctx, err, *index, nil, tr)
		}
	}()
	sawLayout := false
	guard := newStreamGuard(s)
	guard.tarStream = true
	s.guard = guard
	s.indexer = newLayerIndexer(ctx, s)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch e.Kind {
		case layout.LayoutFile:
			if err := layout.ReadKitLayoutFile(e.Reader); err != nil {
				return nil, err
			}
			sawLayout = true
		case layout.IndexJSON:
			idx, err := readIndexJSON(e.Reader)
			if err != nil {
				return nil, err
			}
			index = idx
			if err := s.checkDeltaEarly(ctx, *idx, nil); err != nil {
				return nil, err
			}
			if err := guard.setIndex(ctx, idx); err != nil {
				return nil, err
			}
		case layout.Blob:
			desc := ocispec.Descriptor{Digest: e.Digest, Size: e.Size}
			if err := guard.admit(ctx, desc); err != nil {
				return nil, err
			}
			// The store hashes every blob it reads and checks the digest
			// itself, so the tar reader need not hash it too.
			tr.HashedByCaller()
			stored, err := s.store(ctx, desc, e.Reader)
			if errors.Is(err, errdef.ErrDigestMismatch) {
				return nil, fmt.Errorf("tar entry %s: %w; the file is corrupt or was altered, so copy the kit again", e.Name, err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("tar entry %s: %w; the stream ends inside this blob, so the kit file is truncated: copy it again", e.Name, err)
			}
			if err != nil {
				return nil, fmt.Errorf("tar entry %s: %w", e.Name, err)
			}
			if !stored {
				tr.SkipBlob()
			}
			s.streamed[desc.Digest] = true
			if err := guard.seen(ctx, desc, stored); err != nil {
				return nil, err
			}
			if signed, ok := guard.graph[desc.Digest]; ok && stored && guard.verified && signed.MediaType == oci.MediaTypeDBLayer {
				s.indexer.start(signed)
			}
			if index != nil {
				if err := s.checkBaseEarly(ctx, *index, desc); err != nil {
					return nil, err
				}
				if !s.omittedChecked {
					if s.omittedChecked, err = s.checkOmittedEarly(ctx, s.opts.Store, *index); err != nil {
						if !errors.Is(err, errdef.ErrBaseMissing) || namesBase(*index) {
							return nil, err
						}
						// index.json names no base, as in a tar of a folder that oras
						// wrote, so the rest of the stream may carry the omitted blobs.
						s.deferredBase = err
						s.omittedChecked = true
					}
				}
			}
		}
	}
	if !sawLayout {
		return nil, layout.ErrNoLayoutFile
	}
	if index == nil {
		return nil, layout.MissingIndexError("")
	}
	if err := s.checkReferenced(ctx, *index); err != nil {
		return nil, err
	}
	full, err := s.withoutCarriedDelta(ctx, s.opts.Store, *index, s.streamCarries)
	if err != nil {
		return nil, err
	}
	if s.deferredBase != nil && slices.ContainsFunc(full.Manifests, delta.IsDeltaEntry) {
		return nil, s.deferredBase
	}
	return &full, nil
}

// namesBase reports whether an index.json entry of a delta manifest names
// the base in its annotations, as stella writes a delta. Such a kit file
// states that it leaves the omitted blobs out, so a stream import rejects
// it as soon as it finds the base missing.
func namesBase(index ocispec.Index) bool {
	for _, d := range index.Manifests {
		if _, _, ok := delta.BaseHint(d); ok {
			return true
		}
	}
	return false
}

// checkBaseEarly rejects a delta whose base is absent as soon as its bundle
// index has arrived, before the rest of the stream is stored.
func (s *session) checkBaseEarly(ctx context.Context, index ocispec.Index, stored ocispec.Descriptor) error {
	for _, d := range index.Manifests {
		if d.Digest != stored.Digest || d.MediaType != ocispec.MediaTypeImageIndex || d.Size != stored.Size {
			continue // a size mismatch is reported by finish with both sizes
		}
		b, err := s.readManifest(ctx, d)
		if err != nil {
			return err
		}
		_, meta, err := oci.ParseBundleIndex(b)
		if err != nil {
			return nil // not the bundle index, or invalid: finish reports it
		}
		return s.checkBase(ctx, d.Digest, meta)
	}
	return nil
}

func readIndexJSON(r io.Reader) (*ocispec.Index, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading index.json: %w", err)
	}
	return layout.ParseKitIndex(b)
}

// contextReaderBuffer is the size of the buffer that a contextReader reads
// the source into.
const contextReaderBuffer = 128 << 10

// contextReader reads from r until ctx ends, and then returns ctx.Err()
// without waiting for a read from r that is blocked. Each read from r runs
// in a goroutine and fills a buffer of the contextReader's own, so that a
// read abandoned this way never writes into the caller's slice.
type contextReader struct {
	ctx context.Context
	r   io.Reader
	buf []byte
	// pending holds bytes read from r and not yet returned, and err the
	// error r returned with them, which Read returns once pending is empty.
	pending []byte
	err     error
	// results receives the outcome of the read from r that is running,
	// and is nil while none runs.
	results chan readResult
}

type readResult struct {
	n   int
	err error
}

// newContextReader wraps r in a contextReader, or returns r itself when ctx
// can never end.
func newContextReader(ctx context.Context, r io.Reader) io.Reader {
	if ctx.Done() == nil {
		return r
	}
	return &contextReader{ctx: ctx, r: r, buf: make([]byte, contextReaderBuffer)}
}

func (c *contextReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.pending) == 0 && c.err == nil {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 && c.err != nil {
		return n, c.err
	}
	return n, nil
}

// fill reads once from r into c.buf, and returns ctx.Err() when ctx ends
// first. The read then keeps running, and c.buf stays its own.
func (c *contextReader) fill() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if c.results == nil {
		results := make(chan readResult, 1)
		buf := c.buf
		go func() {
			n, err := c.r.Read(buf)
			results <- readResult{n, err}
		}()
		c.results = results
	}
	select {
	case res := <-c.results:
		c.results = nil
		c.pending, c.err = c.buf[:res.n], res.err
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}
