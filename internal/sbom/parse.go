package sbom

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
)

// MaxSBOMSize is the largest SBOM Parse reads, 256 MiB. SBOMs of large
// container images run to tens of MiB, so this leaves room. A regular file
// is parsed a few MiB at a time, but a reader that is not one, and a
// document that fails to parse, are held in memory whole, so the limit
// bounds that memory.
const MaxSBOMSize = 256 << 20

// readChunkSize is the maximum size of one read of an SBOM that is not a
// file, so that a cancelled context stops the read of a large SBOM soon.
const readChunkSize = 4 << 20

// Formats returned by Parse.
const (
	FormatSPDX      = "spdx"
	FormatCycloneDX = "cyclonedx"
)

// Package is one software package listed in an SBOM.
type Package struct {
	// Name is the package name.
	Name string
	// Version is the package version, or empty when the SBOM gives none.
	// Surrounding spaces are removed, and SPDX's NOASSERTION and NONE
	// count as none.
	Version string
	// PURLs are the package URLs given for the package, each once, in
	// the SBOM's order. An SPDX package may have several purl external
	// references, and a CycloneDX component may have a purl in its
	// identity evidence besides its purl field.
	PURLs []string
	// CPEs are the CPE 2.3 names (or CPE 2.2 URIs) given for the package,
	// each once.
	CPEs []string
	// ID is the SPDX identifier ("SPDXRef-…") or the CycloneDX bom-ref.
	ID string
	// VersionRange is the CycloneDX 1.7 versionRange of an external
	// component, which names the versions it accepts in place of one.
	VersionRange string
}

// Parse reads an SPDX JSON or CycloneDX JSON document and returns its
// format (FormatSPDX or FormatCycloneDX, followed by "-" and the spec
// version, such as "spdx-2.3" or "cyclonedx-1.7") and its packages. The
// format is detected by the top-level "spdxVersion" or "bomFormat" field.
// SPDX 2.1 and 2.2 documents are read too, converted to 2.3. CycloneDX is
// read in versions 1.2 to 1.7, since the fields read here (components
// with name, version, purl, cpe and bom-ref) are the same in all of them.
// The concluded purls and CPEs of CycloneDX 1.6 and 1.7 identity evidence
// are read too. CycloneDX components nested in other components are
// included, and so is the metadata component when it has a purl or a CPE. Input over MaxSBOMSize wraps errdef.ErrSizeExceedsLimit.
//
// Every field of the document must decode into the types of the SPDX
// (tools-golang) or CycloneDX (cyclonedx-go) library, including fields
// that are not returned, and the error for one that does not is the
// error that the library returns.
func Parse(r io.Reader) (format string, pkgs []Package, err error) {
	return ParseContext(context.Background(), r)
}

// ParseContext is Parse, stopped by ctx. Once ctx is cancelled it returns
// ctx's error, after at most one more read of a few MiB or the decoding of
// one more package or array element.
//
// A regular *os.File is read twice from its current position, first to
// find the top-level members and then to decode them. Each pass reads a
// few MiB at a time, so memory grows with the packages returned and not
// with the file. Only a document that fails to parse is read whole, to
// report the first syntax error in it. Other readers are read into memory
// first.
func ParseContext(ctx context.Context, r io.Reader) (format string, pkgs []Package, err error) {
	doc, err := openDocument(ctx, r)
	if err != nil {
		return "", nil, err
	}
	first, ok, err := doc.firstNonSpace()
	switch {
	case err != nil:
		return "", nil, err
	case !ok:
		return "", nil, fmt.Errorf("SBOM is empty; %s", exportHint)
	case first != '{':
		return "", nil, fmt.Errorf("SBOM is not an SPDX or CycloneDX JSON document, because it does not start with a JSON object; %s",
			exportHint)
	}
	format, pkgs, err = parseDocument(ctx, doc)
	if err != nil {
		return "", nil, doc.failure(err)
	}
	return format, pkgs, nil
}

// parseDocument parses doc, which starts with a JSON object. An error
// that it returns applies only when the document is valid JSON, because a
// syntax error anywhere takes precedence. The caller checks that with
// document.failure.
func parseDocument(ctx context.Context, doc *document) (format string, pkgs []Package, err error) {
	top, err := scanTopLevel(ctx, doc)
	if err != nil {
		return "", nil, err
	}
	probe, err := topLevelValues(doc, top.members)
	if err != nil {
		return "", nil, err
	}
	switch {
	case probe["spdxVersion"] != nil:
		var v string
		if json.Unmarshal(probe["spdxVersion"], &v) != nil || !strings.HasPrefix(v, "SPDX-2.") {
			return "", nil, fmt.Errorf("SBOM has spdxVersion %s, which is not an SPDX 2 version this stella reads (SPDX-2.1 to SPDX-2.3); %s",
				probe["spdxVersion"], exportHint)
		}
		return parseSPDX(ctx, doc, top, v)
	case probe["@context"] != nil && bytes.Contains(probe["@context"], []byte("spdx.org/rdf/3")):
		return "", nil, fmt.Errorf("SBOM is an SPDX 3 JSON-LD document, which this stella does not read; %s", exportHint)
	case probe["bomFormat"] != nil:
		var bomFormat string
		if json.Unmarshal(probe["bomFormat"], &bomFormat) != nil || bomFormat != "CycloneDX" {
			return "", nil, fmt.Errorf("SBOM is not a CycloneDX document: bomFormat is %s, expected \"CycloneDX\"; %s",
				probe["bomFormat"], exportHint)
		}
		specVersion, err := cycloneDXVersion(probe["specVersion"])
		if err != nil {
			return "", nil, err
		}
		return parseCycloneDX(ctx, doc, top.members, specVersion)
	default:
		return "", nil, fmt.Errorf(`SBOM is not an SPDX or CycloneDX JSON document, because it has no "spdxVersion" or "bomFormat" field; %s`,
			exportHint)
	}
}

// openDocument returns r as a document. A regular file given as an
// *os.File or another fileReader is read where it lies, from its
// current position. Any other reader is read into
// memory, to its end or to one byte over MaxSBOMSize. A byte order mark
// at the start is skipped, as tools on Windows often start a UTF-8 file
// with one. A document over MaxSBOMSize wraps errdef.ErrSizeExceedsLimit.
func openDocument(ctx context.Context, r io.Reader) (*document, error) {
	var doc *document
	if f, ok := r.(fileReader); ok {
		info, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("reading SBOM: %w", err)
		}
		if info.Mode().IsRegular() {
			at, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("reading SBOM: %w", err)
			}
			// NOTE: a file that is rewritten during the parse may be
			// read differently by the two passes. One that shrinks
			// fails with ErrChanged, but one that changes without
			// shrinking is not detected.
			doc = &document{src: f, start: at, end: max(at, info.Size())}
		}
	}
	if doc == nil {
		raw, err := readSBOM(ctx, r)
		if err != nil {
			return nil, err
		}
		doc = &document{src: bytes.NewReader(raw), end: int64(len(raw))}
	}
	if doc.end-doc.start > MaxSBOMSize {
		return nil, fmt.Errorf("SBOM is larger than %d bytes (256 MiB), the maximum stella reads; split it into "+
			"smaller SBOMs, such as one per image or application, and scan each: %w", MaxSBOMSize, errdef.ErrSizeExceedsLimit)
	}
	if doc.end-doc.start >= 3 {
		mark, err := doc.read(doc.start, doc.start+3)
		if err != nil {
			return nil, err
		}
		if string(mark) == "\xef\xbb\xbf" {
			doc.start += 3
		}
	}
	return doc, nil
}

// firstNonSpace returns the first byte of the document that is not part of
// Unicode white space, which bytes.TrimSpace removes, and false when the
// document has none.
func (d *document) firstNonSpace() (byte, bool, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(d.src, d.start, d.end-d.start), 512)
	for {
		c, _, err := r.ReadRune()
		if errors.Is(err, io.EOF) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("reading SBOM: %w", err)
		}
		if !unicode.IsSpace(c) {
			// The rune's first byte, which is also the byte that
			// invalid UTF-8 starts with.
			if err := r.UnreadRune(); err != nil {
				return 0, false, err
			}
			first, err := r.ReadByte()
			return first, true, err
		}
	}
}

// failure returns the error to report for err, an error of parseDocument.
// A syntax error anywhere in the document counts first, as when the whole
// document is decoded at once, so this reads the document into memory to
// look for one.
func (d *document) failure(err error) error {
	if contextError(err) != nil {
		return err
	}
	raw, readErr := d.readAll()
	if readErr != nil {
		return readErr
	}
	if !json.Valid(raw) {
		return invalidJSONError(json.Unmarshal(raw, &struct{}{}))
	}
	if errors.Is(err, errMalformed) {
		// Unreachable unless the scanner is stricter than
		// encoding/json.
		return fmt.Errorf("SBOM could not be read although it is valid JSON; %s", exportHint)
	}
	return err
}

// readSBOM reads r to its end, or to one byte over MaxSBOMSize, in reads
// of at most readChunkSize bytes. It returns ctx's error once ctx is
// cancelled.
func readSBOM(ctx context.Context, r io.Reader) ([]byte, error) {
	size := 512
	if l, ok := r.(interface{ Len() int }); ok {
		// One byte more than the reader holds lets the read that
		// finds the end fit without growing the buffer.
		size = min(l.Len(), MaxSBOMSize) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), MaxSBOMSize+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), len(buf)+readChunkSize)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxSBOMSize {
			return buf, nil
		}
		if errors.Is(err, io.EOF) {
			return buf, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("reading SBOM: %w", err)
		}
	}
}

// topLevelValues returns the values of the members by name, of those that
// the format is detected by. Of members with the same name, the last
// counts, as when the object is decoded into a map.
func topLevelValues(doc *document, members []member) (map[string][]byte, error) {
	values := map[string][]byte{}
	last := map[string]member{}
	for _, m := range members {
		if slices.Contains(formatProbeNames, m.name) {
			last[m.name] = m
		}
	}
	for name, m := range last {
		value, err := doc.read(m.start, m.end)
		if err != nil {
			return nil, err
		}
		values[name] = value
	}
	return values, nil
}

// exportHint is the next step for an SBOM that cannot be read.
const exportHint = "export the SBOM as SPDX 2.2/2.3 JSON or CycloneDX 1.2-1.7 JSON, such as with `syft -o spdx-json`"

// cycloneDXVersions are the CycloneDX JSON versions that this stella
// reads. Versions 1.0 and 1.1 were defined in XML only.
var cycloneDXVersions = []string{"1.2", "1.3", "1.4", "1.5", "1.6", "1.7"}

// cycloneDXVersion returns the specVersion field's value. It rejects one
// that is missing, not a string or not one of cycloneDXVersions, naming the
// value found.
func cycloneDXVersion(raw []byte) (string, error) {
	if raw == nil {
		return "", fmt.Errorf("CycloneDX SBOM has no specVersion field; %s", exportHint)
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return "", fmt.Errorf("CycloneDX SBOM has specVersion %s as a number, but CycloneDX requires a string; "+
				"write it in quotes, as \"specVersion\": \"%s\", or %s", raw, n, exportHint)
		}
	}
	if !slices.Contains(cycloneDXVersions, v) {
		return "", fmt.Errorf("CycloneDX SBOM has specVersion %s, which is not a CycloneDX JSON version this stella reads (%s); %s",
			raw, strings.Join(cycloneDXVersions, ", "), exportHint)
	}
	return v, nil
}

// ParseFile reads the SBOM at path as Parse does. A folder, a missing file
// and an unreadable one are errors that name the path.
func ParseFile(path string) (format string, pkgs []Package, err error) {
	f, err := OpenFile(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	format, pkgs, err = Parse(f)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return format, pkgs, nil
}

// OpenFile opens the SBOM at path for reading. A folder, a missing file
// and a file that is not a regular one are errors that name the path.
func OpenFile(path string) (*os.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening SBOM: %w; check the path", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("SBOM path %s is a folder; give the SBOM file in it", path)
	}
	f, err := regfile.Open(path, "an SBOM file")
	if err != nil {
		return nil, fmt.Errorf("opening SBOM: %w", err)
	}
	return f, nil
}

// invalidJSONError returns the error of an SBOM that encoding/json failed
// to decode with err. A document nested too deep is valid JSON, which the
// message does not deny.
func invalidJSONError(err error) error {
	if strings.Contains(err.Error(), "exceeded max depth") {
		return fmt.Errorf("SBOM cannot be read (%s); %s", jsonProblem(err), exportHint)
	}
	return fmt.Errorf("SBOM is not valid JSON (%s); %s", jsonProblem(err), exportHint)
}

// jsonProblem describes a JSON decoding error without Go type names.
func jsonProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "the document ends early, so it may be truncated"
	}
	if strings.Contains(err.Error(), "exceeded max depth") {
		// Go's decoder stops at 10000 levels of nesting.
		return "the document nests its values more than 10000 levels deep, far more than an SBOM does"
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("%v at byte %d", syntax, syntax.Offset)
	}
	return "the document is not a JSON object"
}

// decodeProblem describes an error of the SPDX or CycloneDX decoder, with
// the field and JSON type in place of Go type names.
func decodeProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q is a JSON %s, which the schema does not allow there", typeErr.Field, typeErr.Value)
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return jsonProblem(err)
	}
	return err.Error()
}

// appendNew appends s to list unless s is blank or already in list.
func appendNew(list []string, s string) []string {
	if strings.TrimSpace(s) == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// packageVersion returns an SBOM's version field without surrounding
// spaces, or "" for NOASSERTION and NONE. SPDX tools write those in
// versionInfo when they do not know the version, and looking them up as
// versions would match no record, or records listing such a string.
func packageVersion(v string) string {
	v = strings.TrimSpace(v)
	if v == "NOASSERTION" || v == "NONE" {
		return ""
	}
	return v
}
