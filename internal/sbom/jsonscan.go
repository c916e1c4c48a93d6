package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// The functions in this file find the top-level members of a JSON
// document and the elements of its arrays without decoding them. They
// read the document through a window of a few MiB, so that each member or
// element can be decoded on its own and dropped. They check the structure
// of the top-level object and of the arrays in it. They check the values
// of only those top-level members that the caller never reads, and the
// caller must check the others with encoding/json.

// errMalformed is returned for a document whose structure is not valid
// JSON. The caller then takes the error message from encoding/json.
var errMalformed = errors.New("malformed JSON")

// maxNestingDepth is the deepest nesting of arrays and objects that
// encoding/json accepts, its constant of the same name in Go 1.26.
const maxNestingDepth = 10000

// windowChunk is the minimum size of a read into a window. Tests lower it
// to make windows reload often.
var windowChunk int64 = 4 << 20

// fileReader is the part of *os.File that openDocument uses to read a
// regular file where it lies. Tests pass a type that wraps an *os.File
// to run code in its reads.
type fileReader interface {
	io.ReaderAt
	io.Seeker
	Stat() (fs.FileInfo, error)
}

// document is an SBOM being parsed, read from src by offset.
type document struct {
	src io.ReaderAt
	// start is the offset of the first byte after any byte order mark,
	// and end the offset just past the last byte. Offsets in messages
	// count from start.
	start, end int64
}

// readAll returns the bytes of the document from start to end.
func (d *document) readAll() ([]byte, error) {
	return d.read(d.start, d.end)
}

// ErrChanged is returned when an SBOM file ends before the size it had
// when the parse opened it, because it was rewritten or truncated while
// it was read.
var ErrChanged = errors.New("SBOM changed while it was read")

// changedError returns the error for a document that ended at the offset
// at, before its end.
func (d *document) changedError(at int64) error {
	return fmt.Errorf("the file ends at byte %d, but it had %d bytes when the scan opened it, so it was rewritten "+
		"or truncated while it was read; scan it again once the tool that writes it has finished: %w",
		at-d.start, d.end-d.start, ErrChanged)
}

// read returns a copy of the bytes from the offset from to the offset to.
func (d *document) read(from, to int64) ([]byte, error) {
	buf := make([]byte, to-from)
	n, err := d.src.ReadAt(buf, from)
	switch {
	case n < len(buf) && (err == nil || errors.Is(err, io.EOF)):
		return nil, d.changedError(from + int64(n))
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	return buf, nil
}

// window is a buffered part of a document that moves forward through it.
type window struct {
	doc *document
	// buf contains the bytes from the offset base on.
	buf  []byte
	base int64
}

// load makes the window contain the bytes from the offset from (not below
// the window's base) to the offset to, or to the end of the document, and
// returns the window's bytes from from on, which may go past to. When it
// has to read, it reads at least windowChunk bytes. The slice is valid
// until the next call.
func (w *window) load(from, to int64) ([]byte, error) {
	to = min(to, w.doc.end)
	if from >= w.base && to <= w.base+int64(len(w.buf)) {
		return w.buf[from-w.base:], nil
	}
	to = min(max(to, from+windowChunk), w.doc.end)
	// The bytes from from on that the window has are moved to its start.
	carried := 0
	if from < w.base+int64(len(w.buf)) {
		carried = copy(w.buf, w.buf[from-w.base:])
	}
	if need := int(to - from); cap(w.buf) < need {
		grown := make([]byte, carried, max(need, 2*cap(w.buf)))
		copy(grown, w.buf[:carried])
		w.buf = grown
	}
	w.buf = w.buf[:min(cap(w.buf), int(w.doc.end-from))]
	n, err := w.doc.src.ReadAt(w.buf[carried:], from+int64(carried))
	w.buf, w.base = w.buf[:carried+n], from
	if int64(len(w.buf)) < to-from {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, w.doc.changedError(from + int64(len(w.buf)))
		}
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	return w.buf, nil
}

// scanned is the result of scanning one value.
type scanned struct {
	// end is the offset just past the value.
	end int64
	// depth is the deepest nesting of arrays and objects in the value.
	depth int
	// overflow is the first number in the value that does not fit a
	// float64, or "".
	overflow string
}

// scanValue finds the end of the JSON value that starts at the offset
// from. It loads more of the document as needed, so that the whole value
// is in the window. It checks no more than that the value starts as a
// JSON value does and that strings, arrays and objects are closed.
func (w *window) scanValue(from int64) (scanned, error) {
	data, err := w.load(from, from+1)
	if err != nil {
		return scanned{}, err
	}
	if len(data) == 0 || !startsValue(data[0]) {
		return scanned{}, errMalformed
	}
	for {
		end, depth, overflow := valueEnd(data)
		if end >= 0 {
			return scanned{end: from + int64(end), depth: depth, overflow: overflow}, nil
		}
		if w.base+int64(len(w.buf)) >= w.doc.end {
			return scanned{}, errMalformed
		}
		if data, err = w.load(from, from+2*int64(len(data))); err != nil {
			return scanned{}, err
		}
	}
}

// startsValue reports whether a JSON value can start with c.
func startsValue(c byte) bool {
	switch c {
	case '"', '{', '[', '-', 't', 'f', 'n':
		return true
	}
	return c >= '0' && c <= '9'
}

// skipSpace returns the offset of the first byte at or after from that is
// not JSON white space, or the end of the document.
func (w *window) skipSpace(from int64) (int64, error) {
	for from < w.doc.end {
		data, err := w.load(from, from+1)
		if err != nil {
			return 0, err
		}
		i := 0
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		from += int64(i)
		if i < len(data) {
			return from, nil
		}
	}
	return from, nil
}

// byteAt returns the byte at the offset at, or 0 at the end of the
// document.
func (w *window) byteAt(at int64) (byte, error) {
	if at >= w.doc.end {
		return 0, nil
	}
	data, err := w.load(at, at+1)
	if err != nil {
		return 0, err
	}
	return data[0], nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// member is one name/value pair of the top-level JSON object.
type member struct {
	// name is the decoded name, as encoding/json decodes object keys.
	name string
	// start and end are the offsets of the value.
	start, end int64
}

// topLevel is the result of scanning the top-level object of a document.
type topLevel struct {
	// members are the members that parseDocument reads, as memberName
	// decides by name.
	members []member
	// overflow is the first number in the document that does not fit a
	// float64, or "".
	overflow string
}

// scanTopLevel returns the members of the top-level object of the
// document that parseDocument reads, in document order. It checks that
// the values of the other members are valid JSON and drops them, so that
// a document of many small members does not make a list larger than
// itself. It returns errMalformed when the document is not one JSON
// object with white space around it, is nested deeper than encoding/json
// accepts, or has a member that it drops with an invalid value. It
// returns ctx's error once ctx is cancelled.
//
// NOTE: every occurrence of a name that is read is kept, because
// encoding/json decodes each of them. A document that repeats such a name
// still gets a list larger than itself: an estimated 40 bytes for each
// 9-byte member such as ,"name":0.
func scanTopLevel(ctx context.Context, doc *document) (topLevel, error) {
	var top topLevel
	w := &window{doc: doc, base: doc.start}

	at, err := w.skipSpace(doc.start)
	if err != nil {
		return topLevel{}, err
	}
	if c, err := w.byteAt(at); err != nil || c != '{' {
		return topLevel{}, orMalformed(err)
	}
	if at, err = w.skipSpace(at + 1); err != nil {
		return topLevel{}, err
	}
	c, err := w.byteAt(at)
	if err != nil {
		return topLevel{}, err
	}

	for c != '}' {
		if err := ctx.Err(); err != nil {
			return topLevel{}, err
		}
		m, read, err := scanMember(ctx, w, at, &top.overflow)
		if err != nil {
			return topLevel{}, err
		}
		if read {
			top.members = append(top.members, m)
		}
		if at, err = w.skipSpace(m.end); err != nil {
			return topLevel{}, err
		}
		if c, err = w.byteAt(at); err != nil {
			return topLevel{}, err
		}
		if c == ',' {
			if at, err = w.skipSpace(at + 1); err != nil {
				return topLevel{}, err
			}
			// A comma must be followed by another member, which
			// scanMember checks.
			c = 0
		} else if c != '}' {
			return topLevel{}, errMalformed
		}
	}

	if at, err = w.skipSpace(at + 1); err != nil {
		return topLevel{}, err
	}
	if at != doc.end {
		return topLevel{}, errMalformed
	}
	return top, nil
}

// scanMember scans the member of the top-level object that starts at the
// offset at. It returns the member and whether parseDocument reads it. A
// member that is not read has only its end set, and scanMember checks
// that its value is valid JSON. It notes the first number that does not
// fit a float64 in overflow, if that is "".
func scanMember(ctx context.Context, w *window, at int64, overflow *string) (m member, read bool, err error) {
	if c, err := w.byteAt(at); err != nil || c != '"' {
		return member{}, false, orMalformed(err)
	}
	key, err := w.scanValue(at)
	if err != nil {
		return member{}, false, err
	}
	quoted, err := w.load(at, key.end)
	if err != nil {
		return member{}, false, err
	}
	name, read, err := memberName(quoted[:key.end-at])
	if err != nil {
		return member{}, false, err
	}

	at, err = w.skipSpace(key.end)
	if err != nil {
		return member{}, false, err
	}
	if c, err := w.byteAt(at); err != nil || c != ':' {
		return member{}, false, orMalformed(err)
	}
	start, err := w.skipSpace(at + 1)
	if err != nil {
		return member{}, false, err
	}
	if start == w.doc.end {
		return member{}, false, errMalformed
	}

	note := func(value []byte, s scanned, nesting int) error {
		if s.depth+nesting > maxNestingDepth {
			return errMalformed
		}
		if !read && !json.Valid(value) {
			return errMalformed
		}
		if *overflow == "" {
			*overflow = s.overflow
		}
		return nil
	}
	c, err := w.byteAt(start)
	if err != nil {
		return member{}, false, err
	}
	var end int64
	if c == '[' {
		// An array is scanned one element at a time, so that a large
		// one never has to fit in the window.
		end, err = scanElements(ctx, w, start, func(element []byte, s scanned) error { return note(element, s, 2) })
	} else {
		end, err = scanWholeValue(w, start, note)
	}
	if err != nil {
		return member{}, false, err
	}
	if !read {
		return member{end: end}, false, nil
	}
	return member{name: name, start: start, end: end}, true, nil
}

// scanWholeValue scans the value that starts at the offset start,
// which is not an array, passes its bytes to note and returns the offset
// just past it.
func scanWholeValue(w *window, start int64, note func(value []byte, s scanned, nesting int) error) (int64, error) {
	s, err := w.scanValue(start)
	if err != nil {
		return 0, err
	}
	value, err := w.load(start, s.end)
	if err != nil {
		return 0, err
	}
	if err := note(value[:s.end-start], s, 1); err != nil {
		return 0, err
	}
	return s.end, nil
}

// scanElements calls each with the bytes of every element of the JSON
// array that starts at the offset start, and returns the offset just past
// the array. It stops at the first error, which it returns, and returns
// ctx's error once ctx is cancelled. The bytes are valid during the call
// only.
func scanElements(ctx context.Context, w *window, start int64, each func(element []byte, s scanned) error) (int64, error) {
	at, err := w.skipSpace(start + 1)
	if err != nil {
		return 0, err
	}
	if c, err := w.byteAt(at); err != nil || c == ']' {
		return at + 1, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		s, err := w.scanValue(at)
		if err != nil {
			return 0, err
		}
		element, err := w.load(at, s.end)
		if err != nil {
			return 0, err
		}
		if err := each(element[:s.end-at], s); err != nil {
			return 0, err
		}
		if at, err = w.skipSpace(s.end); err != nil {
			return 0, err
		}
		switch c, err := w.byteAt(at); {
		case err != nil:
			return 0, err
		case c == ']':
			return at + 1, nil
		case c == ',':
			if at, err = w.skipSpace(at + 1); err != nil {
				return 0, err
			}
		default:
			return 0, errMalformed
		}
	}
}

// orMalformed returns err, or errMalformed if err is nil.
func orMalformed(err error) error {
	if err != nil {
		return err
	}
	return errMalformed
}

// valueEnd returns the index just past the JSON value at the start of
// data, with the deepest nesting of arrays and objects in it and the
// first number in it that does not fit a float64. It returns an end of
// -1 when data ends before the value does. A number or literal at the end
// of data counts as cut off.
func valueEnd(data []byte) (end, depth int, overflow string) {
	if len(data) == 0 {
		return -1, 0, ""
	}
	switch data[0] {
	case '"':
		return stringEnd(data, 0), 0, ""
	case '{', '[':
		level := 0
		for i := 0; i < len(data); {
			switch c := data[i]; {
			case c == '"':
				if i = stringEnd(data, i); i < 0 {
					return -1, 0, ""
				}
				continue
			case c == '{' || c == '[':
				level++
				depth = max(depth, level)
			case c == '}' || c == ']':
				level--
				if level == 0 {
					return i + 1, depth, overflow
				}
			case c == '-' || c >= '0' && c <= '9':
				n := literalEnd(data, i)
				if n < 0 {
					return -1, 0, ""
				}
				if overflow == "" {
					overflow = floatOverflow(data[i:n])
				}
				i = n
				continue
			}
			i++
		}
		return -1, 0, ""
	default:
		n := literalEnd(data, 0)
		if n < 0 {
			return -1, 0, ""
		}
		if c := data[0]; c == '-' || c >= '0' && c <= '9' {
			overflow = floatOverflow(data[:n])
		}
		return n, 0, overflow
	}
}

// literalEnd returns the index just past the number, true, false or null
// that starts at i, or -1 when data ends first.
func literalEnd(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ':', '"', '{', '[', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return -1
}

// floatOverflow returns number if it is a valid JSON number that does not
// fit a float64, such as 1e400, and "" otherwise. Decoding a document
// into an interface value fails on such a number.
func floatOverflow(number []byte) string {
	if _, err := strconv.ParseFloat(string(number), 64); errors.Is(err, strconv.ErrRange) {
		return string(number)
	}
	return ""
}

// stringEnd returns the index just past the JSON string whose opening
// quote is at i, or -1 when data ends first.
func stringEnd(data []byte, i int) int {
	from := i + 1
	for {
		q := bytes.IndexByte(data[from:], '"')
		if q < 0 {
			return -1
		}
		quote := from + q
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		backslashes := 0
		for j := quote - 1; j > i && data[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return quote + 1
		}
		from = quote + 1
	}
}
