package cas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
	// MediaType is the media type sniffed from the content of a manifest or
	// index; it is empty for other blobs.
	MediaType string
	// Stored is when Push made the blob visible, in UTC.
	Stored time.Time
}

// meta returns the metadata of d, or an error wrapping errdef.ErrNotFound.
func (s *Store) meta(d digest.Digest) (*blobMeta, error) {
	value, err := s.get(blobKey(d))
	if err != nil {
		return nil, err
	}
	return decodeMeta(d, value)
}

func decodeMeta(d digest.Digest, value []byte) (*blobMeta, error) {
	var m blobMeta
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, fmt.Errorf("decoding metadata of blob %s: %w", d, err)
	}
	if m.ChunkSize <= 0 && m.Size > 0 {
		return nil, fmt.Errorf("metadata of blob %s has chunk size %d", d, m.ChunkSize)
	}
	return &m, nil
}

func (s *Store) has(d digest.Digest) (bool, error) {
	_, err := s.get(blobKey(d))
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Exists reports whether the blob named by desc.Digest is stored.
func (s *Store) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	ok, err := s.has(desc.Digest)
	if err != nil {
		return false, fmt.Errorf("checking blob %s: %w", desc.Digest, err)
	}
	return ok, nil
}

// Stat returns the metadata of blob d, or an error wrapping
// errdef.ErrNotFound when it is not stored.
func (s *Store) Stat(_ context.Context, d digest.Digest) (BlobInfo, error) {
	m, err := s.meta(d)
	if err != nil {
		return BlobInfo{}, fmt.Errorf("reading blob %s: %w", d, err)
	}
	return m.info(d), nil
}

func (m *blobMeta) info(d digest.Digest) BlobInfo {
	return BlobInfo{Digest: d, Size: m.Size, MediaType: m.MediaType, Stored: m.Stored}
}

// Blobs calls fn for every stored blob in digest order and stops at the
// first error fn returns, which Blobs returns.
func (s *Store) Blobs(ctx context.Context, fn func(BlobInfo) error) error {
	prefix := []byte(prefixBlob)
	return s.scan(prefix, func(key, value []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := digest.Digest(key[len(prefix):])
		m, err := decodeMeta(d, value)
		if err != nil {
			return err
		}
		return fn(m.info(d))
	})
}

// Fetch returns a reader over the blob named by desc.Digest, or an error
// wrapping errdef.ErrNotFound. The reader holds one chunk in memory at a
// time. It does not re-hash the content, since Push checked it and Pebble
// checksums its blocks.
func (s *Store) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	m, err := s.meta(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", desc.Digest, err)
	}
	return &blobReader{store: s, digest: desc.Digest, size: m.Size, chunkSize: m.ChunkSize}, nil
}

// blobReader reads a blob chunk by chunk with point lookups, so a slow
// reader pins no iterator or memtable.
type blobReader struct {
	store     *Store
	digest    digest.Digest
	size      int64
	chunkSize int64

	offset int64  // bytes returned so far
	buf    []byte // unread rest of the current chunk
	next   uint64 // index of the next chunk to load
	closed bool
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("reading blob %s: reader is closed", r.digest)
	}
	if len(r.buf) == 0 {
		if r.offset >= r.size {
			return 0, io.EOF
		}
		if err := r.load(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.offset += int64(n)
	return n, nil
}

// load reads the next chunk into buf and checks its length.
func (r *blobReader) load() error {
	value, closer, err := r.store.db.Get(chunkKey(r.digest, r.next))
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("reading blob %s: chunk %d is missing; the blob was deleted while being read: %w",
			r.digest, r.next, errdef.ErrNotFound)
	}
	if err != nil {
		// A damaged table becomes a *DamagedError, so that callers such as
		// a mirror report a damaged store rather than a failed transfer.
		return fmt.Errorf("reading blob %s chunk %d: %w", r.digest, r.next, r.store.storeError(err))
	}
	want := min(r.chunkSize, r.size-r.offset)
	if int64(len(value)) != want {
		_ = closer.Close()
		return fmt.Errorf("reading blob %s: chunk %d has %d bytes, expected %d: %w",
			r.digest, r.next, len(value), want, errdef.ErrSizeMismatch)
	}
	if cap(r.buf) < len(value) {
		r.buf = make([]byte, 0, r.chunkSize)
	}
	r.buf = append(r.buf[:0], value...)
	r.next++
	return closer.Close()
}

func (r *blobReader) Close() error {
	r.closed = true
	r.buf = nil
	return nil
}

// Delete removes the blob named by target.Digest and the predecessor edges
// from its children and subject, in one synced batch. Edges that point at
// the blob from stored manifests stay, so pushing it again restores the
// graph. A blob of ingestThreshold bytes or more has an sstable of its own,
// which Delete compacts away before it returns, as GC does, so that its
// space is free at once. A missing blob returns an error wrapping
// errdef.ErrNotFound.
func (s *Store) Delete(ctx context.Context, target ocispec.Descriptor) error {
	d := target.Digest
	release, err := s.claim(ctx, d)
	if err != nil {
		return fmt.Errorf("deleting blob %s: %w", d, err)
	}
	defer release()

	m, err := s.meta(d)
	if err != nil {
		return fmt.Errorf("deleting blob %s: %w", d, err)
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	if err := deleteBlob(batch, d, m); err != nil {
		return fmt.Errorf("deleting blob %s: %w", d, err)
	}
	if err := s.write(func() error { return batch.Commit(pebble.Sync) }); err != nil {
		return fmt.Errorf("deleting blob %s: %w", d, err)
	}
	if hasOwnTable(m) {
		s.compactRemoved(d)
	}
	return nil
}

// deleteBlob adds to batch the removal of the metadata, chunks and outgoing
// edges of blob d. For a blob with a table of its own, it also marks the
// chunk range as not yet compacted: the caller compacts it after the
// commit (compactRemoved), and a GC finds the mark when that compaction
// failed or was cut short.
func deleteBlob(batch *pebble.Batch, d digest.Digest, m *blobMeta) error {
	if err := batch.Delete(blobKey(d), nil); err != nil {
		return err
	}
	prefix := chunkPrefix(d)
	if err := batch.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
		return err
	}
	if hasOwnTable(m) {
		if err := batch.Set(compactKey(d), strconv.AppendInt(nil, m.Size, 10), nil); err != nil {
			return err
		}
	}
	return deleteEdges(batch, d, m)
}

// hasOwnTable reports whether the chunks of a blob with metadata m were
// stored in an sstable of their own, which a delete leaves on disk until
// its range is compacted.
func hasOwnTable(m *blobMeta) bool {
	return m.Size >= ingestThreshold
}
