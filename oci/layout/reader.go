package layout

import (
	"archive/tar"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

// Defaults of Limits, used for every field left at zero.
const (
	DefaultMaxEntries   = 1_000_000
	DefaultMaxBlobSize  = 64 << 30
	DefaultMaxTotalSize = 1 << 40
	DefaultMaxIndexSize = 4 << 20
)

// overLimitAdvice ends the errors of the Limits checks. The stella command
// line has no setting that raises a limit (only a library caller can pass
// other Limits), so the advice names what an operator can do instead.
const overLimitAdvice = "the default limits are far above a normal kit, so the file is likely damaged or not a kit; " +
	"check where it came from and rebuild it with stella ouk build"

// Limits bounds what TarReader accepts. A field at zero or below takes its
// default. Exceeding a limit yields an error wrapping
// errdef.ErrSizeExceedsLimit.
type Limits struct {
	// MaxEntries is the maximum number of tar entries, directories included
	// (default 1,000,000).
	MaxEntries int
	// MaxBlobSize is the maximum size of one blob in bytes (default 64 GiB).
	MaxBlobSize int64
	// MaxTotalSize is the maximum sum of all entry sizes in bytes (default 1 TiB).
	MaxTotalSize int64
	// MaxIndexSize is the maximum size of index.json and oci-layout in bytes
	// (default 4 MiB).
	MaxIndexSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxBlobSize <= 0 {
		l.MaxBlobSize = DefaultMaxBlobSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	if l.MaxIndexSize <= 0 {
		l.MaxIndexSize = DefaultMaxIndexSize
	}
	return l
}

// Entry is one file of a kit tar stream.
type Entry struct {
	// Kind is the file's role in the layout.
	Kind EntryKind
	// Name is the path inside the layout, without a leading "./".
	Name string
	// Digest names a Blob's content; it is empty for other kinds.
	Digest digest.Digest
	// Size is the file's size in bytes as the tar header declares it.
	Size int64
	// Reader returns the file's content. It is valid until the next call
	// to Next. For a Blob, reading to the end verifies the digest and
	// returns an error wrapping errdef.ErrDigestMismatch in place of io.EOF
	// when the content does not match.
	Reader io.Reader
}

// TarReader reads the entries of a kit tar stream one at a time, checking
// each against the layout's naming rules and the Limits. It holds no more
// than one tar block and the decoder's window in memory and writes nothing
// to disk.
type TarReader struct {
	lim     Limits
	tail    *tailReader
	tr      *tar.Reader
	release func()
	seen    map[string]bool
	entries int
	total   int64
	current *blobReader
	err     error
}

// NewTarReader returns a reader of the kit tar stream r. It detects the
// compression from the first bytes: gzip, zstd, or a plain tar recognised
// by its ustar header. Anything else returns an error wrapping
// errdef.ErrUnknownCompression that shows the first bytes in hex.
func NewTarReader(r io.Reader, lim Limits) (*TarReader, error) {
	plain, release, err := decompress(r)
	if err != nil {
		return nil, err
	}
	tail := &tailReader{r: plain}
	return &TarReader{
		lim:     lim.withDefaults(),
		tail:    tail,
		tr:      tar.NewReader(tail),
		release: release,
		seen:    make(map[string]bool),
	}, nil
}

// OpenTarFile opens the kit tar file at path, plain or compressed, with the
// default limits. The returned function closes the reader and the file.
func OpenTarFile(path string) (*TarReader, func(), error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening kit: %w", err)
	}
	tr, err := NewTarReader(f, Limits{})
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading kit %s: %w", path, err)
	}
	return tr, func() {
		tr.Close()
		f.Close()
	}, nil
}

// Close releases the decoder. Next calls it when it returns io.EOF or an
// error, so calling it is needed only when reading stops early.
func (t *TarReader) Close() error {
	if t.release != nil {
		t.release()
		t.release = nil
	}
	return nil
}

// Next returns the next file of the layout, skipping directories, or
// io.EOF after the last. It first reads and verifies whatever the caller
// left unread of the previous blob. After an error every later call
// returns the same error.
func (t *TarReader) Next() (*Entry, error) {
	if t.err != nil {
		return nil, t.err
	}
	e, err := t.next()
	if err != nil {
		t.err = err
		t.Close()
		return nil, err
	}
	return e, nil
}

func (t *TarReader) next() (*Entry, error) {
	if err := t.finishCurrent(); err != nil {
		return nil, err
	}
	for {
		hdr, err := t.tr.Next()
		if err == io.EOF {
			return nil, t.checkEnd()
		}
		if err != nil {
			return nil, readError(err)
		}
		e, err := t.accept(hdr)
		if err != nil {
			return nil, err
		}
		if e != nil {
			return e, nil
		}
	}
}

// accept checks one header and returns its entry, or nil for a directory.
func (t *TarReader) accept(hdr *tar.Header) (*Entry, error) {
	t.entries++
	if t.entries > t.lim.MaxEntries {
		return nil, fmt.Errorf("kit has more than %d tar entries (at %q); %s: %w",
			t.lim.MaxEntries, hdr.Name, overLimitAdvice, errdef.ErrSizeExceedsLimit)
	}
	kind, name, dgst, err := classify(hdr)
	if err != nil {
		return nil, err
	}
	if t.seen[name] {
		return nil, fmt.Errorf("tar entry %q appears twice; %s: %w", hdr.Name, fixMessage, errdef.ErrInvalidKit)
	}
	t.seen[name] = true
	if kind == dirEntry {
		return nil, nil
	}
	if err := t.checkSize(kind, hdr); err != nil {
		return nil, err
	}
	e := &Entry{Kind: kind, Name: name, Digest: dgst, Size: hdr.Size, Reader: t.tr}
	if kind == Blob {
		t.current = newBlobReader(t.tr, name, dgst)
		e.Reader = t.current
	}
	return e, nil
}

func (t *TarReader) checkSize(kind EntryKind, hdr *tar.Header) error {
	limit, what := t.lim.MaxBlobSize, "blob size limit"
	if kind != Blob {
		limit, what = t.lim.MaxIndexSize, "index size limit"
	}
	if hdr.Size > limit {
		return fmt.Errorf("tar entry %q is %d bytes, over the %s of %d bytes; %s: %w",
			hdr.Name, hdr.Size, what, limit, overLimitAdvice, errdef.ErrSizeExceedsLimit)
	}
	t.total += hdr.Size
	if t.total > t.lim.MaxTotalSize {
		return fmt.Errorf("kit content exceeds the total size limit of %d bytes at tar entry %q; %s: %w",
			t.lim.MaxTotalSize, hdr.Name, overLimitAdvice, errdef.ErrSizeExceedsLimit)
	}
	return nil
}

// SkipBlob marks the current blob as not needed, so that Next discards its
// unread bytes without hashing them. Callers use it for a blob they already
// hold verified, such as one in the content store. The skipped bytes are
// never checked against the blob's name.
func (t *TarReader) SkipBlob() {
	if t.current != nil {
		t.current.skip = true
	}
}

// HashedByCaller marks the current blob as checked by the caller, which
// hashes what it reads and compares the result with the blob's digest, as
// the content store does on a push. The reader then does not hash the
// blob a second time. Bytes the caller leaves unread are discarded
// unchecked, as after SkipBlob.
func (t *TarReader) HashedByCaller() {
	if t.current != nil {
		t.current.callerHashes = true
	}
}

// finishCurrent reads and verifies the rest of the previous blob, or
// discards it unhashed after SkipBlob.
func (t *TarReader) finishCurrent() error {
	cur := t.current
	t.current = nil
	if cur == nil {
		return nil
	}
	if cur.skip || cur.callerHashes {
		if _, err := io.Copy(io.Discard, t.tr); err != nil {
			return readError(err)
		}
		return nil
	}
	_, err := io.Copy(io.Discard, cur)
	return err
}

// checkEnd rejects a stream that stops at an entry boundary without the
// two zero blocks that end a tar archive: such a stream was cut short.
func (t *TarReader) checkEnd() error {
	if t.tail.zeros < 2*blockSize {
		return fmt.Errorf("kit tar stream ends without its end-of-archive marker, so it is truncated; "+
			"copy the kit file again: %w", io.ErrUnexpectedEOF)
	}
	// The tar reader stops at the marker. Reading on to the end of the
	// stream lets the gzip or zstd decoder check its trailer (checksum
	// and size), so damage there is reported too. Tar writers pad the
	// archive with at most a few KiB of zeros; more is left unread.
	if _, err := io.Copy(io.Discard, io.LimitReader(t.tail, maxTrailer)); err != nil {
		return readError(err)
	}
	return io.EOF
}

// maxTrailer bounds what checkEnd reads after the end-of-archive marker.
const maxTrailer = 1 << 20

// readError wraps an error of archive/tar: a short stream keeps
// io.ErrUnexpectedEOF, a malformed header becomes errdef.ErrInvalidKit.
func readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("reading kit tar stream: stream is truncated; copy the kit file again: %w", err)
	}
	if errors.Is(err, tar.ErrHeader) {
		// A header that was valid when written fails after a flipped bit.
		return fmt.Errorf("reading kit tar stream: %v; copy the kit file again, and if the error "+
			"persists, %s: %w", err, fixMessage, errdef.ErrInvalidKit)
	}
	if errors.Is(err, tar.ErrInsecurePath) {
		return fmt.Errorf("reading kit tar stream: %v; %s: %w", err, fixMessage, errdef.ErrInvalidKit)
	}
	return fmt.Errorf("reading kit tar stream: %w", err)
}

const blockSize = 512

// tailReader counts the zero bytes at the end of what has been read, so
// that the end-of-archive marker can be checked.
type tailReader struct {
	r     io.Reader
	zeros int
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		t.zeros += n
	} else {
		t.zeros = n - i
	}
	return n, err
}

// blobReader hashes a blob as it is read and checks the digest at its end.
type blobReader struct {
	r      io.Reader
	name   string
	want   digest.Digest
	hasher hash.Hash
	err    error
	skip   bool
	// callerHashes is set by HashedByCaller.
	callerHashes bool
}

func newBlobReader(r io.Reader, name string, want digest.Digest) *blobReader {
	return &blobReader{r: r, name: name, want: want, hasher: want.Algorithm().Hash()}
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if b.callerHashes {
		if err != nil && err != io.EOF {
			b.err = readError(err)
			return n, b.err
		}
		return n, err
	}
	b.hasher.Write(p[:n])
	switch {
	case err == io.EOF:
		got := digest.NewDigest(b.want.Algorithm(), b.hasher)
		if got != b.want {
			b.err = fmt.Errorf("tar entry %q has content with digest %s; the file is corrupt or was altered, "+
				"so copy the kit again: %w", b.name, got, errdef.ErrDigestMismatch)
			return n, b.err
		}
		b.err = io.EOF
	case err != nil:
		b.err = readError(err)
		return n, b.err
	}
	return n, err
}
