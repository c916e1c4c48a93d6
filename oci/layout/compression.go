package layout

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"stella-ops.org/ouk/internal/errdef"
)

// Compression is the compression of a kit tar stream.
type Compression int

// Compressions a kit tar stream may use.
const (
	// None is a plain tar stream (.tar).
	None Compression = iota
	// Gzip is a gzip-compressed tar stream (.tar.gz, .tgz).
	Gzip
	// Zstd is a zstd-compressed tar stream (.tar.zst, .tzst).
	Zstd
)

// String returns the name of c: "none", "gzip" or "zstd".
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Settings of the zstd encoder and decoder. The decoder window caps the
// memory a hostile stream can make the reader allocate.
const (
	zstdMaxWindow     = 64 << 20
	zstdEncoderWindow = 8 << 20
	zstdLevel         = zstd.SpeedDefault
	gzipLevel         = gzip.DefaultCompression
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	tarMagic  = []byte("ustar")
)

// tarMagicOffset is the offset of the ustar magic in a tar header block.
const tarMagicOffset = 257

// CompressionFromName returns the compression that the file name's suffix
// selects: .tar for None, .tar.gz or .tgz for Gzip, .tar.zst or .tzst for
// Zstd. Any other name returns an error wrapping errdef.ErrUnknownCompression.
func CompressionFromName(name string) (Compression, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".tar"):
		return None, nil
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return Gzip, nil
	case strings.HasSuffix(lower, ".tar.zst"), strings.HasSuffix(lower, ".tzst"):
		return Zstd, nil
	}
	return None, fmt.Errorf("file name %q has no known kit suffix; use .tar, .tar.gz, .tgz, .tar.zst or .tzst: %w",
		name, errdef.ErrUnknownCompression)
}

// detectCompression peeks at the first bytes of br and returns the
// compression they show, without consuming them.
func detectCompression(br *bufio.Reader) (Compression, error) {
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return None, fmt.Errorf("reading the start of the kit stream: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd, nil
	case len(head) >= tarMagicOffset+len(tarMagic) &&
		bytes.Equal(head[tarMagicOffset:tarMagicOffset+len(tarMagic)], tarMagic):
		return None, nil
	}
	if len(head) == 0 {
		return None, errEmptyStream
	}
	shown := head[:min(len(head), 8)]
	if kind := signatureFileKind(head); kind != "" {
		return None, &SignatureFileError{Kind: kind, Head: shown}
	}
	looks := ""
	switch text := bytes.TrimLeft(head, " \t\r\n\ufeff"); {
	case bytes.HasPrefix(text, []byte("{")) || bytes.HasPrefix(text, []byte("[")):
		looks = "; the data looks like JSON text, such as an SBOM or a feed file, not a kit"
	case bytes.HasPrefix(text, []byte("<")):
		looks = "; the data looks like an HTML or XML page, such as a folder listing or an error page of a " +
			"web server, not a kit"
	}
	return None, fmt.Errorf("kit stream starts with bytes %s, which are neither gzip, zstd nor a tar header%s; "+
		"pass a tar, tar.gz or tar.zst file: %w", hex.EncodeToString(shown), looks, errdef.ErrUnknownCompression)
}

// SignatureFileError is the error of a kit stream that looks like a
// signature or key file. Its message starts with that hint, because the
// hint is the likely cause. It wraps errdef.ErrUnknownCompression.
type SignatureFileError struct {
	// Kind is the kind of file that the data looks like, from signatureFileKind.
	Kind string
	// Head is the first bytes of the stream.
	Head []byte
}

func (e *SignatureFileError) Error() string {
	return fmt.Sprintf("the data looks like %s, not a kit; give the kit file itself, and a detached signature to "+
		"`stella ouk verify --signature` (the kit stream starts with bytes %s, which are neither gzip, zstd nor a tar header): %v",
		e.Kind, hex.EncodeToString(e.Head), errdef.ErrUnknownCompression)
}

func (e *SignatureFileError) Unwrap() error { return errdef.ErrUnknownCompression }

// signatureFileKind returns the kind of signature or key file that head,
// the first bytes of a stream, looks like, or "" for other data. Operators
// pass such files by mistake because they lie next to the kit and share
// its name.
func signatureFileKind(head []byte) string {
	text := bytes.TrimSpace(head)
	switch {
	case bytes.HasPrefix(text, []byte("-----BEGIN ")):
		// A PEM file: cosign writes keys, certificates and signatures so.
		label, _, _ := bytes.Cut(text[len("-----BEGIN "):], []byte("-----"))
		return fmt.Sprintf("a PEM file of type %q (a key, certificate or signature)", printableLabel(label))
	case bytes.HasPrefix(text, []byte("{")) && (bytes.Contains(text, []byte(`"base64Signature"`)) ||
		bytes.Contains(text, []byte("sigstore.bundle")) || bytes.Contains(text, []byte(`"messageSignature"`))):
		return "a cosign or Sigstore signature bundle"
	case len(text) >= 16 && isBase64Text(text):
		// stella ouk sign and cosign sign-blob write the signature as
		// base64 text.
		return "a detached signature in base64"
	}
	return ""
}

// isBase64Text reports whether b contains only base64 characters and line
// breaks.
func isBase64Text(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '+', c == '/', c == '=', c == '\n', c == '\r':
		default:
			return false
		}
	}
	return true
}

// printableLabel returns the PEM label with bytes outside printable ASCII
// replaced, and cut to 40 bytes, for an error message.
func printableLabel(label []byte) string {
	out := make([]byte, 0, min(len(label), 40))
	for _, c := range label[:min(len(label), 40)] {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// decompress returns a reader of the tar stream inside r and a function that
// releases the decoder. A decoder error that the source did not cause, such
// as a failed checksum after a flipped bit, wraps errdef.ErrInvalidKit.
func decompress(r io.Reader) (io.Reader, func(), error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	c, err := detectCompression(br)
	if err != nil {
		return nil, nil, err
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			err = asUnexpectedEOF(err)
			if !errors.Is(err, io.ErrUnexpectedEOF) && (src.err == nil || !errors.Is(err, src.err)) {
				err = corruptError(Gzip, err)
			}
			return nil, nil, fmt.Errorf("reading gzip header of the kit stream: %w", err)
		}
		return &decodeReader{r: zr, src: src, c: Gzip}, func() { zr.Close() }, nil
	case Zstd:
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("starting zstd decoder: %w", err)
		}
		return &decodeReader{r: zr, src: src, c: Zstd}, zr.Close, nil
	}
	return br, func() {}, nil
}

// sourceReader remembers the last error of the compressed source, so that
// decodeReader can tell a failed read from corrupt data, and counts the
// compressed bytes read.
type sourceReader struct {
	r   io.Reader
	err error
	n   int64
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// expansionRatio and expansionSlack bound how far compressed kit data may
// expand: at any point of the stream, to at most expansionRatio times the
// compressed bytes read so far plus expansionSlack bytes. The blobs of a
// kit or an image are compressed already (gzip or zstd layers, zstd DB
// layers), so their archive shrinks by a few percent. A small kit of
// uncompressed demo layers stays far under the slack. Data that expands
// further, such as a few KB of zstd that decompress to gigabytes of zeros,
// would only make a command write, upload or hash those gigabytes.
const expansionRatio = 64

// expansionSlack is a variable so that tests can lower it.
var expansionSlack int64 = 1 << 30

// maxExpandedSize returns the largest decompressed size accepted for
// compressed bytes of compressed data.
func maxExpandedSize(compressed int64) int64 {
	return expansionRatio*compressed + expansionSlack
}

// expansionError is the error for compressed data of c that expanded past
// maxExpandedSize.
func expansionError(c Compression, expanded, compressed int64) error {
	return fmt.Errorf("%s data of the kit stream expands to more than %d bytes from %d compressed bytes, "+
		"more than %d times its size plus %d; the blobs of a kit or image are compressed already, so their "+
		"archive does not shrink that much. The file is likely not a kit or image, or was made to fill the "+
		"disk; check where it came from: %w", c, expanded, compressed, expansionRatio, expansionSlack,
		errdef.ErrSizeExceedsLimit)
}

// decodeReader marks the errors of a decoder that are not an end of input
// or a failed read of the source: the compressed data itself is corrupt.
// It also stops data that expands past maxExpandedSize.
type decodeReader struct {
	r   io.Reader
	src *sourceReader
	c   Compression
	out int64
}

func (d *decodeReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.out += int64(n)
	if limit := maxExpandedSize(d.src.n); d.out > limit {
		return n, expansionError(d.c, d.out, d.src.n)
	}
	if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, err
	}
	if d.src.err != nil && errors.Is(err, d.src.err) {
		return n, err
	}
	return n, corruptError(d.c, err)
}

// corruptError wraps a decoder's complaint about the compressed data.
func corruptError(c Compression, err error) error {
	return fmt.Errorf("%s data of the kit stream is corrupt (%v); the file was damaged in transit, "+
		"so copy the kit file again: %w", c, err, errdef.ErrInvalidKit)
}

// asUnexpectedEOF turns a bare io.EOF, which a decoder returns when its
// input ends before its header does, into io.ErrUnexpectedEOF.
func asUnexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// compressor wraps w in the encoder for c with fixed settings, so that the
// same input always produces the same bytes.
func compressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		// The header keeps an empty name and a zero modification time.
		return gzip.NewWriterLevel(w, gzipLevel)
	case Zstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstdLevel),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdEncoderWindow))
	}
	return nil, fmt.Errorf("compression %d is not None, Gzip or Zstd: %w", int(c), errdef.ErrUnknownCompression)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// emptyStreamError is the error for a kit stream without a single byte. It
// wraps errdef.ErrUnknownCompression, so the stream is rejected as other
// streams of no known format are, but leaves that sentinel's text out of
// the message, where it would not fit an empty stream.
type emptyStreamError struct{}

func (emptyStreamError) Error() string {
	return "kit stream is empty; pass a tar, tar.gz or tar.zst file"
}

func (emptyStreamError) Unwrap() error { return errdef.ErrUnknownCompression }

var errEmptyStream error = emptyStreamError{}
