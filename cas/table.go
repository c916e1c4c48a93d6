package cas

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// A pre-built table is an sstable of key-value pairs under one namespace,
// written by WriteTable away from any store, for example by a kit builder.
// An import stages it in the store's ingest folder with StageTable while it
// reads the kit, and the namespace's IngestTables makes its keys visible
// without decoding or rewriting them.

// tableBlockSize is the block size of pre-built tables, which travel in
// kits: with zstd, 16 KiB blocks make them about half the size of the
// store's 4 KiB snappy blocks, for a little more CPU per uncached read.
const tableBlockSize = 16 << 10

// WriteTable writes the pairs fill adds, in strictly ascending key order,
// to w as an sstable of namespace ns. The table has the format and Bloom
// filters of the tables a store writes itself, and zstd blocks of 16 KiB.
// Its bytes depend on the zstd encoder, which is why the Makefile builds
// with the pebblegozstd tag: every build then uses Pebble's Go encoder.
// NOTE: that encoder is expected to write the same bytes on every
// architecture, but the pinned-bytes test runs only on the test machine.
func WriteTable(w io.Writer, ns string, fill func(add func(key, value []byte) error) error) error {
	o := &pebble.Options{}
	tuneOptions(o)
	o.EnsureDefaults()
	wo := o.MakeWriterOptions(len(o.Levels)-1, o.FormatMajorVersion.MaxTableFormat())
	wo.Compression = sstable.ZstdCompression
	wo.BlockSize = tableBlockSize
	tw := sstable.NewWriter(writerWritable{w}, wo)
	prefix := namespacePrefix(ns)
	var k []byte
	err := fill(func(key, value []byte) error {
		k = append(append(k[:0], prefix...), key...)
		if err := tw.Set(k, value); err != nil {
			return fmt.Errorf("adding key %q to a table: %w", key, err)
		}
		return nil
	})
	if err != nil {
		_ = tw.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

// writerWritable passes an sstable writer's output to an io.Writer.
type writerWritable struct{ w io.Writer }

func (x writerWritable) Write(p []byte) error {
	_, err := x.w.Write(p)
	return err
}

func (writerWritable) Finish() error { return nil }

func (writerWritable) Abort() {}

// StageTable copies a pre-built table from r into the store's ingest
// folder, checking it against the size and digest of d, and returns its
// path for IngestTables, which syncs it before the ingest. The caller removes it with
// DiscardTable once it is ingested or no longer needed, and Open removes
// what a crash left.
func (s *Store) StageTable(ctx context.Context, d ocispec.Descriptor, r io.Reader) (string, error) {
	if err := d.Digest.Validate(); err != nil {
		return "", fmt.Errorf("table digest %q: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
	}
	dir := s.fs.PathJoin(s.dir, ingestDir)
	if err := s.fs.MkdirAll(dir, storeDirPerm); err != nil {
		return "", fmt.Errorf("creating ingest folder: %w", err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	path := s.fs.PathJoin(dir, "table-"+d.Digest.Encoded()[:16]+"-"+hex.EncodeToString(nonce[:])+".sst")
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		if isDiskFull(err) {
			return "", fmt.Errorf("creating %s: %w", path, s.diskFullError(err))
		}
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = s.fs.Remove(path)
		}
	}()
	// A second goroutine writes the file, so that reading and hashing the
	// next bytes overlaps writing the last ones. The kernel writes the file
	// back as it grows, and IngestTables syncs it, so the copy does not wait
	// for the disk after every table.
	f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{BytesPerSync: bytesPerSync, NoSyncOnClose: true})
	out := newAsyncWritable(unsyncedWritable{f})
	_, err = copyHashed(ctx, out, d, r)
	if err != nil {
		out.Abort()
	} else {
		// Finish writes the queued bytes and closes the file.
		err = out.Finish()
	}
	if err != nil {
		if isDiskFull(err) {
			return "", fmt.Errorf("staging table %s: %w", d.Digest, s.diskFullError(err))
		}
		return "", err
	}
	keep = true
	return path, nil
}

// copyHashed copies the bytes of d from r to out, checking their size and
// digest, and returns how many it copied.
func copyHashed(ctx context.Context, out objstorage.Writable, d ocispec.Descriptor, r io.Reader) (int64, error) {
	verifier := d.Digest.Verifier()
	buf := make([]byte, 1<<20)
	var n int64
	for n <= d.Size {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), d.Size+1-n)])
		if k > 0 {
			verifier.Write(buf[:k])
			if werr := out.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if n != d.Size {
		err := fmt.Errorf("table %s has %d bytes, its descriptor declares %d: %w", d.Digest, n, d.Size, errdef.ErrSizeMismatch)
		if n < d.Size {
			err = fmt.Errorf("%w: %w", err, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	if !verifier.Verified() {
		return n, fmt.Errorf("table bytes do not match digest %s: %w", d.Digest, errdef.ErrDigestMismatch)
	}
	return n, nil
}

// unsyncedWritable writes to a file and closes it without syncing. On
// close it starts the kernel's write-back of the file, so that a later sync
// is short.
type unsyncedWritable struct{ f vfs.File }

func (u unsyncedWritable) Write(p []byte) error {
	_, err := u.f.Write(p)
	return err
}

func (u unsyncedWritable) Finish() error {
	if fd := u.f.Fd(); fd != vfs.InvalidFd {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	return u.f.Close()
}

func (u unsyncedWritable) Abort() { _ = u.f.Close() }

// syncFile makes the data of the file at path durable.
func (s *Store) syncFile(path string) error {
	f, err := s.fs.Open(path)
	if err != nil {
		return fmt.Errorf("opening table %s: %w", path, err)
	}
	defer f.Close()
	if err := f.SyncData(); err != nil {
		if isDiskFull(err) {
			return fmt.Errorf("syncing table %s: %w", path, s.diskFullError(err))
		}
		return fmt.Errorf("syncing table %s: %w", path, err)
	}
	return nil
}

// DiscardTable removes a table StageTable staged.
func (s *Store) DiscardTable(path string) {
	_ = s.fs.Remove(path)
}

// IngestTables implements kv.TableIngester. Each table's first and last
// keys must lie under the namespace and share one of prefixes, and the
// table may contain no range deletions or range keys, so that it cannot
// reach keys outside the ranges its caller expects. The key ranges of no
// two tables may overlap, not even at one key, because Pebble's Ingest
// rejects such tables. All tables are ingested in one step, so their keys
// become visible together.
func (n *namespaceStore) IngestTables(paths []string, prefixes [][]byte) error {
	bounds := make([]tableRange, 0, len(paths))
	for _, path := range paths {
		if err := n.store.syncFile(path); err != nil {
			return err
		}
		first, last, err := n.store.tableBounds(path)
		if err != nil {
			return err
		}
		if !n.within(first, last, prefixes) {
			return fmt.Errorf("table %s contains keys from %q to %q, outside the expected key ranges: %w",
				path, first, last, errdef.ErrInvalidKit)
		}
		bounds = append(bounds, tableRange{path: path, first: first, last: last})
	}
	if err := checkNoOverlap(bounds); err != nil {
		return err
	}
	// NOTE: write returns every Ingest error as a *StoreError. The checks
	// above cover the malformed tables known to fail Ingest, but a table
	// that passes them and still fails would count as a store failure.
	if err := n.store.write(func() error { return n.store.db.Ingest(context.Background(), paths) }); err != nil {
		if isDiskFull(err) {
			return fmt.Errorf("ingesting tables: %w", n.store.diskFullError(err))
		}
		return fmt.Errorf("ingesting tables: %w", err)
	}
	return nil
}

// tableRange is the path of a staged table and its first and last keys.
type tableRange struct {
	path        string
	first, last []byte
}

// checkNoOverlap returns an invalid kit error when the key ranges of two
// tables overlap. It sorts tables in place by first key.
func checkNoOverlap(tables []tableRange) error {
	slices.SortFunc(tables, func(a, b tableRange) int { return bytes.Compare(a.first, b.first) })
	for i := 1; i < len(tables); i++ {
		prev, cur := tables[i-1], tables[i]
		if bytes.Compare(cur.first, prev.last) <= 0 {
			return fmt.Errorf("tables %s (keys %q to %q) and %s (keys %q to %q) overlap; "+
				"the tables of one kit must cover separate key ranges: %w",
				prev.path, prev.first, prev.last, cur.path, cur.first, cur.last, errdef.ErrInvalidKit)
		}
	}
	return nil
}

func (n *namespaceStore) within(first, last []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		full := n.key(p)
		if bytes.HasPrefix(first, full) && bytes.HasPrefix(last, full) {
			return true
		}
	}
	return false
}

// tableBounds returns the first and last keys of the sstable at path.
func (s *Store) tableBounds(path string) (first, last []byte, err error) {
	// Pebble's reader panics on some malformed tables, such as a columnar
	// table naming an unknown key schema. Such a table is invalid input,
	// not a crash.
	defer func() {
		if p := recover(); p != nil {
			first, last = nil, nil
			err = fmt.Errorf("reading table %s: %v: %w", path, p, errdef.ErrInvalidKit)
		}
	}()
	f, err := s.fs.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening table %s: %w", path, err)
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("opening table %s: %w", path, err)
	}
	r, err := sstable.NewReader(context.Background(), readable, s.opts.MakeReaderOptions())
	if err != nil {
		_ = readable.Close()
		return nil, nil, fmt.Errorf("reading table %s: %v: %w", path, err, errdef.ErrInvalidKit)
	}
	defer r.Close()
	if err := checkNoSpans(r, path); err != nil {
		return nil, nil, err
	}

	it, err := r.NewIter(sstable.NoTransforms, nil, nil, sstable.AssertNoBlobHandles)
	if err != nil {
		return nil, nil, fmt.Errorf("reading table %s: %v: %w", path, err, errdef.ErrInvalidKit)
	}
	defer it.Close()
	kv := it.First()
	if kv == nil {
		return nil, nil, fmt.Errorf("table %s contains no keys: %w", path, errors.Join(it.Error(), errdef.ErrInvalidKit))
	}
	first = bytes.Clone(kv.K.UserKey)

	kv = it.Last()
	if kv == nil {
		return nil, nil, fmt.Errorf("reading table %s: %w", path, errors.Join(it.Error(), errdef.ErrInvalidKit))
	}
	return first, bytes.Clone(kv.K.UserKey), nil
}

// checkNoSpans rejects a table that contains range deletions or range
// keys. Their bounds are not point keys, so the check of the first and last
// keys does not cover them, and an ingested range deletion would delete
// keys of any namespace. It opens the blocks themselves, because the
// table's properties are written by the table's author and may be false.
func checkNoSpans(r *sstable.Reader, path string) error {
	ctx := context.Background()
	dels, err := r.NewRawRangeDelIter(ctx, sstable.NoFragmentTransforms, sstable.NoReadEnv)
	if err != nil {
		return fmt.Errorf("reading range deletions of table %s: %v: %w", path, err, errdef.ErrInvalidKit)
	}
	if dels != nil {
		dels.Close()
		return fmt.Errorf("table %s contains range deletions, but a pre-built table may contain only point keys: %w",
			path, errdef.ErrInvalidKit)
	}
	keys, err := r.NewRawRangeKeyIter(ctx, sstable.NoFragmentTransforms, sstable.NoReadEnv)
	if err != nil {
		return fmt.Errorf("reading range keys of table %s: %v: %w", path, err, errdef.ErrInvalidKit)
	}
	if keys != nil {
		keys.Close()
		return fmt.Errorf("table %s contains range keys, but a pre-built table may contain only point keys: %w",
			path, errdef.ErrInvalidKit)
	}
	return nil
}
