package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// Docker media types that images in a kit may still use.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// session is the state of one import: what it stored, so a failed check can
// remove exactly that, and the figures of the final report.
type session struct {
	opts Options
	// dir is the layout folder that the kit is read from, or "" for a tar
	// stream or a registry.
	dir      string
	added    []ocispec.Descriptor
	result   Result
	manifest map[digest.Digest][]byte
	// omittedChecked is set once the blobs a delta omits were checked.
	omittedChecked bool
	// baseChecked is set once the base of a delta was checked before
	// anything was stored.
	baseChecked bool
	// streamed lists the blobs that a tar stream had an entry for, stored
	// or found stored already.
	streamed map[digest.Digest]bool
	// deferredBase is the rejection of a delta in a tar stream whose base
	// or omitted blobs the store lacks, held until the end of the stream,
	// because the stream may carry those blobs itself (see readStream).
	deferredBase error
	// verifiedEarly is set once the stream guard has checked the signature
	// of the bundle index, so finish does not check it again.
	verifiedEarly bool
	// signatureSkipped is set when InsecureSkipSignature let a kit through
	// whose signature did not verify.
	signatureSkipped bool
	// guard limits what is read before and outside the signed graph, and
	// records which blobs the signature covers, which an interrupted
	// import keeps. early
	// serves imports from a folder or registry and lists the blobs
	// copyHeads stored.
	guard *streamGuard
	early map[digest.Digest]bool
	// tables is the plan for the kit's pre-built index tables, or nil.
	tables *indexTables
	// indexer indexes the DB layers of a tar stream as they arrive, or is
	// nil.
	indexer *layerIndexer
}

func newSession(opts Options) *session {
	return &session{opts: opts, manifest: make(map[digest.Digest][]byte), streamed: make(map[digest.Digest]bool)}
}

// store pushes one blob into the content store unless it is there already,
// and reports whether it read and stored the bytes.
func (s *session) store(ctx context.Context, desc ocispec.Descriptor, r io.Reader) (bool, error) {
	if s.isTable(desc.Digest) {
		return s.stageTable(ctx, desc, r)
	}
	ok, err := s.opts.Store.Exists(ctx, desc)
	if err != nil {
		return false, fmt.Errorf("checking blob %s: %w", desc.Digest, err)
	}
	if ok {
		s.result.BlobsSkipped++
		return false, nil
	}
	counted := &countingReader{r: r, onRead: s.onRead(desc.Digest)}
	if err := s.opts.Store.Push(ctx, desc, counted); err != nil {
		if errors.Is(err, errdef.ErrAlreadyExists) {
			s.result.BlobsSkipped++
			return false, nil
		}
		// The store's error names the blob already.
		return false, err
	}
	s.added = append(s.added, desc)
	s.result.BlobsStored++
	s.result.BytesStored += desc.Size
	return true, nil
}

func (s *session) onRead(d digest.Digest) func(int) {
	return func(n int) {
		s.result.BytesRead += int64(n)
		if s.opts.Progress != nil {
			s.opts.Progress(Progress{BytesRead: s.result.BytesRead, Blob: d.String()})
		}
	}
}

// stopIndexer stops the indexing of layers that a tar stream started, so
// that no layer is read while a failed import removes its blobs.
func (s *session) stopIndexer() {
	if s.indexer != nil {
		s.indexer.stop()
	}
}

// rollback removes the blobs this import added. It runs when a check fails,
// so that a rejected kit leaves the store as it was, and after a full
// volume. It stops removing after the store stopped writing, as after a
// write-ahead log write that found no room, and while Pebble's flushes and
// compactions find the volume full. Then no removal can reach a table, so
// rollback logs once how many blobs stay and leaves them to `stella ouk gc`.
func (s *session) rollback(ctx context.Context) {
	if s.indexer != nil {
		s.indexer.stop()
		s.indexer.drop()
	}
	for i := len(s.added) - 1; i >= 0; i-- {
		// NOTE: in a long-running process such as stella serve, VolumeFull
		// still reports a full volume after space was freed, until Pebble's
		// next flush or compaction ends, so a rollback then leaves its blobs
		// to gc too.
		if err := s.opts.Store.VolumeFull(); err != nil {
			s.warnBlobsLeft(i+1, "because the volume of the store is full", err)
			break
		}
		d := s.added[i]
		err := s.opts.Store.Delete(ctx, d)
		if err == nil || errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if s.opts.Store.Broken() != nil {
			s.warnBlobsLeft(i+1, "because the store stopped writing", err)
			break
		}
		if errors.Is(err, errdef.ErrDiskFull) {
			s.warnBlobsLeft(i+1, "because the volume of the store is full", err)
			break
		}
		s.opts.Logger.Warn("removing blob of rejected kit", "digest", d.Digest, "error", err)
	}
	s.added = nil
}

// warnBlobsLeft logs that the first n blobs of s.added, which rollback
// removes last, stay in the store for the reason given.
func (s *session) warnBlobsLeft(n int, reason string, err error) {
	s.opts.Logger.Warn("could not remove the blobs of the failed import, "+reason+
		"; free space on its volume, then run `stella ouk gc` to remove them", "blobs", n, "error", err)
}

// addedDigests returns the set of blobs this import stored.
func (s *session) addedDigests() map[digest.Digest]bool {
	added := make(map[digest.Digest]bool, len(s.added))
	for _, d := range s.added {
		added[d.Digest] = true
	}
	return added
}

// readManifest returns the bytes of a manifest-like blob from the store,
// rejecting descriptors over MaxManifestSize before reading.
func (s *session) readManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := s.manifest[desc.Digest]; ok {
		return b, nil
	}
	if desc.Size > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s declares %d bytes, over the %d byte limit: %w",
			desc.Digest, desc.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("manifest %s declares a negative size %d: %w", desc.Digest, desc.Size, errdef.ErrInvalidKit)
	}
	b, err := content.FetchAll(ctx, s.opts.Store, desc)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", desc.Digest, err)
	}
	s.manifest[desc.Digest] = b
	return b, nil
}

// childrenOf reads a stored manifest or image index and returns the
// descriptors it points to; a leaf blob has none and is not read.
func (s *session) childrenOf(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if !isManifest(desc.MediaType) {
		return nil, nil
	}
	b, err := s.readManifest(ctx, desc)
	if err != nil {
		return nil, err
	}
	return children(desc, b)
}

// children decodes the descriptors a manifest or image index points to.
// Leaf blobs have none.
func children(desc ocispec.Descriptor, b []byte) ([]ocispec.Descriptor, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("decoding image index %s: %v: %w", desc.Digest, err, errdef.ErrInvalidKit)
		}
		return idx.Manifests, nil
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decoding manifest %s: %v: %w", desc.Digest, err, errdef.ErrInvalidKit)
		}
		out := make([]ocispec.Descriptor, 0, len(m.Layers)+1)
		out = append(out, m.Config)
		return append(out, m.Layers...), nil
	}
	return nil, nil
}

func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList,
		ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return true
	}
	return false
}

// blobPath returns the path of the file of blob d in the layout folder
// dir, as the OCI image layout spec names it.
func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// checkDescriptor rejects a descriptor whose digest or size cannot name a blob.
func checkDescriptor(desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("descriptor digest %q: %v: %w", desc.Digest, err, errdef.ErrInvalidKit)
	}
	if desc.Size < 0 {
		return fmt.Errorf("descriptor %s has negative size %d: %w", desc.Digest, desc.Size, errdef.ErrInvalidKit)
	}
	return nil
}

// bundleMeta is the parsed bundle index of the kit being imported.
type bundleMeta struct {
	desc  ocispec.Descriptor
	index ocispec.Index
	meta  oci.Meta
	raw   []byte
	// delta is the verified delta manifest when the kit came as a delta.
	delta *delta.Info
}

type countingReader struct {
	r      io.Reader
	onRead func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.onRead(n)
	}
	return n, err
}
