package cas

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/objstorage"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

const (
	// ingestThreshold is the blob size from which Push writes the chunks
	// into an sstable of their own and ingests it, so that image and DB
	// layers reach the disk once. Smaller blobs go through the write-ahead
	// log, and compactions later rewrite their chunks together with those
	// of every other small blob. With 4 MiB here, each nightly delta
	// rewrote about 11 MiB of older chunks.
	ingestThreshold = 256 << 10
	// ingestDir is the folder inside the store directory that holds
	// sstables while they are written.
	ingestDir = "ingest"
)

// ingestChunks writes the chunks of a large blob into a new sstable,
// verifies size and digest, and ingests the table into the database. The
// chunks are invisible until commitMeta writes the metadata key.
func (s *Store) ingestChunks(ctx context.Context, expected ocispec.Descriptor, r io.Reader) (*blobMeta, error) {
	d := expected.Digest
	if err := s.clearLeftoverChunks(d); err != nil {
		return nil, err
	}
	// A blob that may be a manifest is kept in memory while it is written,
	// as writeChunks does, so that its edges are recorded. Larger blobs are
	// not kept, so a large layer needs no more memory than before.
	var sniff *bytes.Buffer
	if expected.Size <= maxSniffSize {
		sniff = bytes.NewBuffer(make([]byte, 0, expected.Size))
	}
	// Layers are compressed already; a second compression costs CPU and
	// saves nothing.
	err := s.ingestTable(ctx, d.Encoded()[:16], sstable.NoCompression, true, func(w *sstable.Writer) error {
		return s.writeTable(ctx, w, expected, r, sniff)
	})
	if err != nil {
		return nil, err
	}
	meta := &blobMeta{Size: expected.Size, ChunkSize: s.chunkSize, Stored: time.Now().UTC()}
	if sniff != nil {
		sniffManifest(meta, sniff.Bytes(), expected.MediaType)
	}
	return meta, nil
}

// ingestTable writes an sstable with fill into the ingest folder, syncs it
// and ingests it into the database. When fill fails, nothing is ingested.
//
// With async set, the table's bytes are written to the file by a second
// goroutine, so that reading and hashing the next chunk overlaps writing
// the last one.
func (s *Store) ingestTable(ctx context.Context, name string, compression *sstable.CompressionProfile, async bool, fill func(*sstable.Writer) error) error {
	dir := s.fs.PathJoin(s.dir, ingestDir)
	if err := s.fs.MkdirAll(dir, storeDirPerm); err != nil {
		return s.storeError(fmt.Errorf("creating ingest folder: %w", err))
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	path := s.fs.PathJoin(dir, name+"-"+hex.EncodeToString(nonce[:])+".sst")
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return s.storeError(fmt.Errorf("creating sstable %s: %w", path, err))
	}
	defer func() { _ = s.fs.Remove(path) }()

	// The options of the tables Pebble writes on the bottom level, Bloom
	// filters and block sizes included, so that reads of an ingested table
	// cost what reads of a compacted one do.
	wo := s.opts.MakeWriterOptions(len(s.opts.Levels)-1, s.db.TableFormat())
	wo.Compression = compression
	if async {
		// Writing back every MiB as it is written leaves little for the
		// final sync to wait for.
		f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{BytesPerSync: bytesPerSync})
	}
	var out objstorage.Writable = objstorageprovider.NewFileWritable(f)
	if async {
		out = newAsyncWritable(out)
	}
	w := sstable.NewWriter(out, wo)
	if err := fill(w); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return s.storeError(fmt.Errorf("writing sstable %s: %w", path, err))
	}
	if err := s.write(func() error { return s.db.Ingest(ctx, []string{path}) }); err != nil {
		return fmt.Errorf("ingesting sstable %s: %w", path, err)
	}
	return nil
}

// writeTable copies the blob into w chunk by chunk, hashing as it goes.
// When sniff is not nil, it also receives every byte.
func (s *Store) writeTable(ctx context.Context, w *sstable.Writer, expected ocispec.Descriptor, r io.Reader,
	sniff *bytes.Buffer) error {
	d := expected.Digest
	hasher := d.Algorithm().Hash()
	buf := make([]byte, s.chunkSize)
	var written int64
	for index := uint64(0); written < expected.Size; index++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(s.chunkSize, expected.Size-written)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("content ended before the declared size %d: %w: %w",
					expected.Size, errdef.ErrSizeMismatch, io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("reading content: %w", err)
		}
		hasher.Write(chunk)
		if sniff != nil {
			sniff.Write(chunk)
		}
		if err := w.Set(chunkKey(d, index), chunk); err != nil {
			return s.storeError(fmt.Errorf("writing sstable for %s: %w", d, err))
		}
		written += int64(len(chunk))
	}
	if err := checkTrailing(r, expected.Size); err != nil {
		return err
	}
	if got := digest.NewDigest(d.Algorithm(), hasher); got != d {
		return fmt.Errorf("content hashes to %s: %w", got, errdef.ErrDigestMismatch)
	}
	return nil
}

// clearLeftoverChunks removes chunks that an earlier push of d left when it
// crashed before writing the metadata; they may have another chunk size.
func (s *Store) clearLeftoverChunks(d digest.Digest) error {
	leftover, err := s.hasPrefix(chunkPrefix(d))
	if err != nil || !leftover {
		return err
	}
	return s.deleteChunks(d)
}

// removeIngestLeftovers deletes sstables that a crashed push left in the
// ingest folder. Open calls it before anyone can push.
func (s *Store) removeIngestLeftovers() {
	dir := s.fs.PathJoin(s.dir, ingestDir)
	names, err := s.fs.List(dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if bytes.HasSuffix([]byte(name), []byte(".sst")) {
			_ = s.fs.Remove(s.fs.PathJoin(dir, name))
		}
	}
}

// asyncWritable passes writes to another Writable from a goroutine of its
// own. Each Write copies its bytes into a buffer of a small pool, because
// the sstable writer reuses its buffers once Write returns. At most
// asyncDepth writes wait at a time.
type asyncWritable struct {
	next objstorage.Writable
	work chan []byte
	// free holds buffers the goroutine has written, for reuse.
	free chan []byte
	done chan struct{}

	mu sync.Mutex
	// err is the first error of the goroutine. Later writes return it.
	err error
}

const asyncDepth = 4

// bytesPerSync is the interval, in bytes, at which a large table starts the
// kernel's write-back of what it wrote so far.
const bytesPerSync = 1 << 20

func newAsyncWritable(next objstorage.Writable) *asyncWritable {
	a := &asyncWritable{next: next, work: make(chan []byte, asyncDepth),
		free: make(chan []byte, asyncDepth+2), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for p := range a.work {
			if a.failed() == nil {
				if err := next.Write(p); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			select {
			case a.free <- p[:0]:
			default:
			}
		}
	}()
	return a
}

func (a *asyncWritable) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWritable) Write(p []byte) error {
	if err := a.failed(); err != nil {
		return err
	}
	var buf []byte
	select {
	case buf = <-a.free:
	default:
	}
	a.work <- append(buf[:0], p...)
	return nil
}

// Finish waits for the queued writes and then finishes the next Writable.
func (a *asyncWritable) Finish() error {
	close(a.work)
	<-a.done
	if err := a.failed(); err != nil {
		a.next.Abort()
		return err
	}
	return a.next.Finish()
}

// Abort waits for the queued writes and aborts the next Writable.
func (a *asyncWritable) Abort() {
	close(a.work)
	<-a.done
	a.next.Abort()
}
