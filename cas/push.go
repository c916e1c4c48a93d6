package cas

import (
	"bytes"
	"context"
	_ "crypto/sha256" // registers SHA-256 with go-digest
	_ "crypto/sha512" // registers SHA-384 and SHA-512 with go-digest
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

const (
	// maxSniffSize is the largest blob that Push parses for manifest edges.
	maxSniffSize = 4 << 20
	// flushBytes is the amount of chunk data Push collects in one unsynced
	// batch before committing it.
	flushBytes = 8 << 20
)

// blobMeta is the JSON value of b/<digest>.
type blobMeta struct {
	Size      int64     `json:"size"`
	ChunkSize int64     `json:"chunkSize"`
	MediaType string    `json:"mediaType,omitempty"`
	Stored    time.Time `json:"stored"`
	// ArtifactType, Children and Subject are set for manifests and indexes.
	ArtifactType string          `json:"artifactType,omitempty"`
	Children     []digest.Digest `json:"children,omitempty"`
	Subject      digest.Digest   `json:"subject,omitempty"`
}

// Push stores the blob that expected describes, reading exactly
// expected.Size bytes from r and hashing them as they flow. Only the digest
// and size of expected are trusted. The blob becomes visible once every
// chunk is written and the digest matches.
//
// Push returns an error wrapping errdef.ErrAlreadyExists when the blob is
// stored already, errdef.ErrSizeMismatch when r is shorter (also wrapping
// io.ErrUnexpectedEOF) or longer than expected.Size, and
// errdef.ErrDigestMismatch when the bytes hash to another digest, and
// errdef.ErrDiskFull when a write found no room (see WrapDiskFull). After
// an error nothing of the blob is visible.
//
// A blob of at most 4 MiB that is JSON with an OCI or Docker manifest or
// index media type records edges to its children and subject, for
// Predecessors and GC.
func (s *Store) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	d := expected.Digest
	if err := d.Validate(); err != nil {
		return fmt.Errorf("storing blob %q: invalid digest: %w", d, err)
	}
	if expected.Size < 0 {
		return fmt.Errorf("storing blob %s: size %d is negative: %w", d, expected.Size, errdef.ErrSizeMismatch)
	}

	release, err := s.claim(ctx, d)
	if err != nil {
		return fmt.Errorf("storing blob %s: %w", d, err)
	}
	defer release()

	if ok, err := s.has(d); err != nil {
		return fmt.Errorf("storing blob %s: %w", d, err)
	} else if ok {
		return fmt.Errorf("storing blob %s: %w", d, errdef.ErrAlreadyExists)
	}

	var meta *blobMeta
	if expected.Size >= ingestThreshold {
		meta, err = s.ingestChunks(ctx, expected, r)
	} else {
		meta, err = s.writeChunks(ctx, expected, r)
	}
	if err == nil {
		err = s.commitMeta(d, meta)
	}
	if err != nil {
		if cleanErr := s.deleteChunks(d); cleanErr != nil {
			s.log.Error("removing chunks of a failed push", "digest", d, "error", cleanErr)
		}
		return s.WrapDiskFull(fmt.Errorf("storing blob %s: %w", d, err))
	}
	return nil
}

// claim waits until no other Push of d runs and marks d as being pushed.
// The returned function ends the claim.
func (s *Store) claim(ctx context.Context, d digest.Digest) (func(), error) {
	for {
		s.mu.Lock()
		busy, ok := s.inflight[d]
		if !ok {
			done := make(chan struct{})
			s.inflight[d] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.inflight, d)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// writeChunks copies expected.Size bytes from r into chunk keys, verifies
// size and digest and returns the metadata to write.
func (s *Store) writeChunks(ctx context.Context, expected ocispec.Descriptor, r io.Reader) (*blobMeta, error) {
	d := expected.Digest
	if err := s.clearLeftoverChunks(d); err != nil {
		return nil, err
	}

	hasher := d.Algorithm().Hash()
	var sniff *bytes.Buffer
	if expected.Size <= maxSniffSize {
		sniff = bytes.NewBuffer(make([]byte, 0, expected.Size))
	}

	chunkSize := s.chunkSize
	buf := make([]byte, min(chunkSize, max(expected.Size, 1)))
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()

	var written int64
	for index := uint64(0); written < expected.Size; index++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(chunkSize, expected.Size-written)
		chunk := buf[:n]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("content ended before the declared size %d: %w: %w",
					expected.Size, errdef.ErrSizeMismatch, io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("reading content: %w", err)
		}
		hasher.Write(chunk)
		if sniff != nil {
			sniff.Write(chunk)
		}
		if err := batch.Set(chunkKey(d, index), chunk, nil); err != nil {
			return nil, err
		}
		written += n
		if batch.Len() >= flushBytes {
			if err := s.write(func() error { return batch.Commit(pebble.NoSync) }); err != nil {
				return nil, fmt.Errorf("writing chunks: %w", err)
			}
			_ = batch.Close()
			batch = s.db.NewBatch()
		}
	}
	if !batch.Empty() {
		if err := s.write(func() error { return batch.Commit(pebble.NoSync) }); err != nil {
			return nil, fmt.Errorf("writing chunks: %w", err)
		}
	}

	if err := checkTrailing(r, expected.Size); err != nil {
		return nil, err
	}
	if got := digest.NewDigest(d.Algorithm(), hasher); got != d {
		return nil, fmt.Errorf("content hashes to %s: %w", got, errdef.ErrDigestMismatch)
	}

	meta := &blobMeta{Size: expected.Size, ChunkSize: chunkSize, Stored: time.Now().UTC()}
	if sniff != nil {
		sniffManifest(meta, sniff.Bytes(), expected.MediaType)
	}
	return meta, nil
}

// checkTrailing fails when r has data past the declared size.
func checkTrailing(r io.Reader, size int64) error {
	var probe [1]byte
	for {
		n, err := r.Read(probe[:])
		if n > 0 {
			return fmt.Errorf("content is longer than the declared size %d: %w", size, errdef.ErrSizeMismatch)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading content: %w", err)
		}
	}
}

// commitMeta makes the blob visible: one synced batch writes its metadata
// key and its predecessor edges. The sync also makes every earlier chunk
// batch durable, because Pebble has a single write-ahead log.
func (s *Store) commitMeta(d digest.Digest, meta *blobMeta) error {
	value, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	if err := addEdges(batch, d, meta); err != nil {
		return err
	}
	if err := batch.Set(blobKey(d), value, nil); err != nil {
		return err
	}
	if err := s.write(func() error { return batch.Commit(pebble.Sync) }); err != nil {
		return fmt.Errorf("writing blob metadata: %w", err)
	}
	return nil
}

// deleteChunks removes every chunk key of d in one synced range deletion.
func (s *Store) deleteChunks(d digest.Digest) error {
	prefix := chunkPrefix(d)
	if err := s.write(func() error { return s.db.DeleteRange(prefix, prefixEnd(prefix), pebble.Sync) }); err != nil {
		return fmt.Errorf("deleting chunks of %s: %w", d, err)
	}
	return nil
}

// tryClaim marks d as being written, like claim, but returns false at once
// when a Push or Delete of d runs.
func (s *Store) tryClaim(d digest.Digest) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.inflight[d]; busy {
		return nil, false
	}
	done := make(chan struct{})
	s.inflight[d] = done
	return func() {
		s.mu.Lock()
		delete(s.inflight, d)
		s.mu.Unlock()
		close(done)
	}, true
}
