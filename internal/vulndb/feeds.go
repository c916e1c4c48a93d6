package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
)

// Feed kinds accepted in Feed.Kind.
const (
	FeedOSV      = "osv"
	FeedGHSA     = "ghsa"
	FeedNVD      = "nvd"
	FeedRegional = "regional"
)

// maxFeedFile bounds one JSON file or zip entry of a feed. An NVD API page
// of 2,000 CVEs is about 40 MiB, so this leaves a wide margin.
const maxFeedFile = 256 << 20

// Feed is one source of records for Build.
type Feed struct {
	// Kind is "osv", "ghsa", "nvd" or "regional".
	Kind string
	// Name is the catalogue name of a regional feed. It is required there
	// and ignored for the other kinds.
	Name string
	// Path is a folder of JSON files (searched recursively), one JSON file,
	// or an OSV all.zip archive.
	Path string
}

// Validate reports a feed whose kind is unknown or that lacks a path or,
// for a regional feed, a catalogue name.
func (f Feed) Validate() error {
	switch f.Kind {
	case FeedOSV, FeedGHSA, FeedNVD:
	case FeedRegional:
		if f.Name == "" {
			return fmt.Errorf("regional feed %s has no catalogue name; set Feed.Name: %w",
				f.Path, errdef.ErrInvalidRecord)
		}
		if err := ValidateCatalogueName(f.Name); err != nil {
			return fmt.Errorf("regional feed %s: %v: %w", f.Path, err, errdef.ErrInvalidRecord)
		}
	default:
		return fmt.Errorf("feed kind %q is unknown; use osv, ghsa, nvd or regional: %w",
			f.Kind, errdef.ErrInvalidRecord)
	}
	if f.Path == "" {
		return fmt.Errorf("%s feed has no path: %w", f.Kind, errdef.ErrInvalidRecord)
	}
	return nil
}

// maxCatalogueName is the longest catalogue name of a regional feed.
const maxCatalogueName = 64

// ValidateCatalogueName reports a catalogue name of a regional feed that is
// not one word of letters, digits, "-", "_" and ".", starting with a
// letter or digit, of at most 64 characters. The name labels the feed's
// records in every kit and report, so a slash or a space there would read
// as a path or as two words.
func ValidateCatalogueName(name string) error {
	valid := name != "" && len(name) <= maxCatalogueName && (isASCIILetter(name[0]) || isDigit(name[0]))
	for i := 0; valid && i < len(name); i++ {
		c := name[i]
		valid = isASCIILetter(c) || isDigit(c) || c == '-' || c == '_' || c == '.'
	}
	if !valid {
		return fmt.Errorf("catalogue name %q is invalid; use letters, digits, '-', '_' and '.', starting with a "+
			"letter or digit, at most %d characters, such as demo-cert", name, maxCatalogueName)
	}
	return nil
}

// source returns the feed's source name, such as "ghsa" or "regional:NAME".
func (f Feed) source() string { return sourceName(f.Kind, f.Name) }

// input returns the identifier of the feed's input that the DB config
// keeps: the last element of its path, such as "all.zip". It leaves out
// the folders above, so the build host's layout does not reach the kit
// and a feed downloaded into a new dated folder each night keeps its
// identifier.
func (f Feed) input() string {
	path := f.Path
	// An absolute path names "." and ".." by the folders they stand for.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return filepath.Base(path)
}

// RecordError describes one source record that a reader rejected.
type RecordError struct {
	File   string // file, or "archive.zip!entry"
	Record string // record ID, or "#N" (counted from 1) for the Nth entry of a page when the ID is unknown
	Reason string // short reason counted in Summary.SkipReasons
	Err    error
}

func (e *RecordError) Error() string {
	rec := ""
	if e.Record != "" {
		rec = " record " + e.Record
	}
	return fmt.Sprintf("%s%s: %s: %v", e.File, rec, e.Reason, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// feedReader reads one feed, calling emit for every valid record and reject
// for every malformed one.
type feedReader struct {
	feed   Feed
	emit   func(source)
	reject func(*RecordError)
	// warn, when set, receives the warnings of one record that is kept
	// but that lookups cannot fully evaluate, one per reason.
	warn func([]*RecordError)
	log  *slog.Logger // may be nil
	// emptyFiles lists the files that decoded without error but contain
	// no record, such as "[]" or an NVD page without vulnerabilities.
	emptyFiles []string
	// progress, when set, receives the size of each file or zip entry
	// once its records are read.
	progress func(n int)
}

func (fr *feedReader) logger() *slog.Logger {
	if fr.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return fr.log
}

// read walks the feed's path. Only errors that stop the whole feed, such as
// a missing path, are returned.
func (fr *feedReader) read(ctx context.Context) error {
	if err := fr.feed.Validate(); err != nil {
		return err
	}
	info, err := os.Stat(fr.feed.Path)
	if err != nil {
		return fmt.Errorf("reading %s feed: %w; check the path given as %s=PATH with --feed or in the feeds of a build file",
			fr.feed.Kind, err, fr.feed.Kind)
	}
	if !info.IsDir() {
		if err := regfile.Check(fr.feed.Path, feedFileWant); err != nil {
			return fmt.Errorf("reading %s feed: %w", fr.feed.Kind, err)
		}
		if strings.EqualFold(filepath.Ext(fr.feed.Path), ".zip") {
			return fr.readZip(ctx, fr.feed.Path)
		}
		return fr.readFile(fr.feed.Path)
	}
	files, broken, err := jsonFiles(fr.feed.Path, fr.logger())
	if err != nil {
		return fmt.Errorf("listing %s feed %s: %w", fr.feed.Kind, fr.feed.Path, err)
	}
	for _, p := range broken {
		target, _ := os.Readlink(p)
		fr.reject(&RecordError{File: p, Reason: "broken-link",
			Err: fmt.Errorf("symbolic link to %q has no readable target; fix or remove the link: %w",
				target, errdef.ErrInvalidRecord)})
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rerr error
		if strings.EqualFold(filepath.Ext(f), ".zip") {
			rerr = fr.readZip(ctx, f)
		} else {
			rerr = fr.readFile(f)
		}
		if rerr != nil {
			return rerr
		}
	}
	return nil
}

// jsonFiles lists the .json and .zip files under dir in lexical order,
// skipping hidden folders such as .git. It follows symbolic links to files
// and folders, and lists each file and reads each folder once, by its path
// with links resolved, so a link back to an ancestor folder cannot loop. A
// link whose target is missing is returned in broken. A link to a file or
// folder already listed is reported to logger at Info level.
func jsonFiles(dir string, logger *slog.Logger) (files, broken []string, err error) {
	// Resolved paths are absolute, so the feed folder must be too, or a
	// link back to it would not be recognised.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, nil, err
	}
	w := &feedWalker{root: root, seen: map[string]bool{}, logger: logger}
	if err := w.walk(dir, root); err != nil {
		return nil, nil, err
	}
	sort.Strings(w.files)
	sort.Strings(w.broken)
	return w.files, w.broken, nil
}

// feedWalker collects the files of a feed folder for jsonFiles.
type feedWalker struct {
	root   string          // the feed folder, with links resolved
	seen   map[string]bool // folders and files listed, by path with links resolved
	files  []string
	broken []string
	logger *slog.Logger
}

// walk lists the folder at path, whose path with links resolved is
// resolvedPath.
func (w *feedWalker) walk(path, resolvedPath string) error {
	if w.seen[resolvedPath] {
		w.logger.Info("skipping a link to a feed folder that is already read", "path", path, "target", resolvedPath)
		return nil
	}
	w.seen[resolvedPath] = true
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		target := filepath.Join(resolvedPath, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(p)
			if err != nil {
				// A missing target is the usual cause, and a link loop
				// such as a -> b -> a is another.
				w.broken = append(w.broken, p)
				continue
			}
			info, err := os.Stat(resolved)
			if err != nil {
				w.broken = append(w.broken, p)
				continue
			}
			target, mode = resolved, info.Mode().Type()
			// A link to a folder that holds the feed folder would read
			// the feed's neighbours, other feeds among them, as its own.
			if mode.IsDir() && strings.HasPrefix(w.root+string(filepath.Separator), target+string(filepath.Separator)) {
				w.logger.Info("skipping a link to a folder that holds the feed folder", "path", p, "target", target)
				continue
			}
		}
		switch {
		case mode.IsDir():
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := w.walk(p, target); err != nil {
				return err
			}
		case mode.IsRegular():
			ext := strings.ToLower(filepath.Ext(p))
			if ext != ".json" && ext != ".zip" {
				continue
			}
			if w.seen[target] {
				w.logger.Info("skipping a link to a feed file that is already read", "path", p, "target", target)
				continue
			}
			w.seen[target] = true
			w.files = append(w.files, p)
		default:
			// Reading a named pipe would block until a writer appears.
			w.logger.Warn("skipping a feed folder entry that is neither a regular file nor a folder",
				"path", p, "type", regfile.TypeName(mode))
		}
	}
	return nil
}

// feedFileWant describes what --feed KIND=PATH names, for errors.
const feedFileWant = "a feed folder or a .json or .zip feed file"

func (fr *feedReader) readFile(path string) error {
	f, err := regfile.Open(path, feedFileWant)
	if err != nil {
		return fmt.Errorf("reading %s feed: %w", fr.feed.Kind, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFeedFile+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	fr.parse(path, data)
	return nil
}

// readZip reads the .json entries of a zip feed. An archive or entry that
// cannot be read stops the feed, as a file that cannot be read does,
// because skipping it would drop its records without a trace.
func (fr *feedReader) readZip(ctx context.Context, path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return damagedZipError(fr.feed, path, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
			continue
		}
		name := path + "!" + zf.Name
		rc, err := zf.Open()
		if err != nil {
			return damagedZipError(fr.feed, name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxFeedFile+1))
		rc.Close()
		if err != nil {
			return damagedZipError(fr.feed, name, err)
		}
		fr.parse(name, data)
	}
	return nil
}

// damagedZipError stops the read of a zip feed at the archive or entry
// name that cannot be read.
func damagedZipError(f Feed, name string, err error) error {
	return fmt.Errorf("reading %s feed archive %s: %w; the archive is damaged or cut short, so download it again, "+
		"or leave the feed out", f.source(), name, err)
}

// parse decodes the content of one file and emits its records.
func (fr *feedReader) parse(name string, data []byte) {
	if fr.progress != nil {
		defer fr.progress(len(data))
	}
	if len(data) > maxFeedFile {
		fr.reject(&RecordError{File: name, Reason: reasonTooLarge,
			Err: fmt.Errorf("file exceeds %d bytes: %w", maxFeedFile, errdef.ErrSizeExceedsLimit)})
		return
	}
	// Go's JSON decoder rejects a leading byte order mark, which some
	// Windows tools write before UTF-8 text.
	data = bytes.TrimPrefix(data, utf8ByteOrderMark)
	var srcs []source
	var errs []*RecordError
	if fr.feed.Kind == FeedNVD {
		srcs, errs = parseNVD(name, data)
	} else {
		srcs, errs = parseOSV(name, data)
	}
	if len(srcs) == 0 && len(errs) == 0 {
		fr.emptyFiles = append(fr.emptyFiles, name)
	}
	for _, e := range errs {
		fr.reject(e)
	}
	for _, s := range srcs {
		warnings := s.warnings
		if bad := unparsedRangeVersions(&s.rec); len(bad) > 0 {
			warnings = append(warnings, &RecordError{File: name, Record: s.rec.ID, Reason: reasonUnparsedRange,
				Err: fmt.Errorf("range versions %s are not valid in their version order, "+
					"so lookups may report the record as possibly affected", strings.Join(bad, ", "))})
		}
		if len(warnings) > 0 && fr.warn != nil {
			fr.warn(warnings)
		}
		s.warnings = nil
		s.feed = fr.feed.Kind
		if fr.feed.Kind == FeedRegional {
			s.catalogue = fr.feed.Name
		}
		fr.emit(s)
	}
}

// utf8ByteOrderMark is the byte order mark U+FEFF in UTF-8.
var utf8ByteOrderMark = []byte("\xef\xbb\xbf")

// parseOSV decodes an OSV record, or a JSON array of OSV records.
func parseOSV(name string, data []byte) ([]source, []*RecordError) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, []*RecordError{invalidJSON(name, "", err)}
		}
		var out []source
		var errs []*RecordError
		for i, raw := range raws {
			if err := checkRecordSize(name, fmt.Sprintf("#%d", i+1), raw, osvRecordID); err != nil {
				errs = append(errs, err)
				continue
			}
			s, err := parseOSVRecord(name, fmt.Sprintf("#%d", i+1), raw)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, s)
		}
		return out, errs
	}
	if err := checkRecordSize(name, "", data, osvRecordID); err != nil {
		return nil, []*RecordError{err}
	}
	s, err := parseOSVRecord(name, "", data)
	if err != nil {
		return nil, []*RecordError{err}
	}
	return []source{s}, nil
}

// checkRecordSize rejects a source record whose JSON, without whitespace,
// would not fit in a layer line that import reads (MaxRecordSize). It runs
// before the record is decoded, so an oversized record costs no more
// memory than its bytes. idOf reads the record's ID for the message.
func checkRecordSize(name, pos string, raw []byte, idOf func([]byte) string) *RecordError {
	// The raw length bounds the compact size, so most records skip the scan.
	if len(raw) <= maxRecordBytes {
		return nil
	}
	size := compactSize(raw)
	if size <= maxRecordBytes {
		return nil
	}
	id := idOf(raw)
	if id == "" {
		id = pos
	}
	return &RecordError{File: name, Record: id, Reason: reasonTooLarge,
		Err: fmt.Errorf("record is %d bytes (%s) without whitespace, above import's maximum of %d bytes per record: %w",
			size, formatMiB(size), maxRecordBytes, errdef.ErrSizeExceedsLimit)}
}

// reasonTooLarge is the skip reason of a file or record above a size limit.
const reasonTooLarge = "too-large"

// compactSize returns the length of JSON text without the whitespace
// between tokens, as the layer encoder writes it.
func compactSize(raw []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			n++
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			n++
			if c == '"' {
				inString = true
			}
		}
	}
	return n
}

// osvRecordID returns the "id" of an OSV record, or "" when it has none.
// The decoder skips every other field without building it.
func osvRecordID(raw []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.ID
}

func parseOSVRecord(name, pos string, raw []byte) (source, *RecordError) {
	var doc osvDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		return source{}, invalidJSON(name, recordLabel(raw, pos), err)
	}
	if doc.GHSAID != nil && doc.ID == "" {
		return source{}, restAdvisoryError(name, pos)
	}
	if shape := doc.apiShape(); shape != "" {
		return source{}, osvAPIError(name, pos, shape)
	}
	if shape := doc.nvdShape(); shape != "" {
		return source{}, wrongKindForOSV(name, pos, shape)
	}
	r := doc.Record
	orig, err := normalizeRecord(&r)
	if err != nil {
		id := r.ID
		if id == "" {
			id = pos
		}
		return source{}, &RecordError{File: name, Record: id, Reason: err.reason, Err: err}
	}
	s := source{rec: r, origModified: orig}
	for _, p := range resolvePackages(&s.rec) {
		s.warnings = append(s.warnings, &RecordError{File: name, Record: r.ID, Reason: p.reason, Err: errors.New(p.msg)})
	}
	return s, nil
}

// recordLabel names a record that failed to decode in a rejection: by its
// "id" when that decodes to a valid ID, else by pos.
func recordLabel(raw []byte, pos string) string {
	if id := osvRecordID(raw); validID(id) {
		return id
	}
	return pos
}

func invalidJSON(name, pos string, err error) *RecordError {
	problem := jsonDecodeProblem(err)
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		// Every record after the cut is lost with the file.
		problem += "; the file ends in the middle of its JSON, as a download that was cut off does, so " +
			"download it again"
	}
	return &RecordError{File: name, Record: pos, Reason: "invalid-json",
		Err: fmt.Errorf("%s: %w", problem, errdef.ErrInvalidRecord)}
}

// jsonDecodeProblem describes a decoding error of a record with the JSON
// field and type in place of the decoder's Go type names.
func jsonDecodeProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := strings.TrimPrefix(typeErr.Field, "Record.")
		return fmt.Sprintf("field %q is a JSON %s, which the record format does not allow there", field, typeErr.Value)
	}
	return err.Error()
}

// recordProblem is a validation failure with the reason counted in the
// build summary.
type recordProblem struct {
	reason string
	msg    string
}

func (p *recordProblem) Error() string { return p.msg }

func (p *recordProblem) Unwrap() error { return errdef.ErrInvalidRecord }

func problem(reason, format string, args ...any) *recordProblem {
	return &recordProblem{reason: reason, msg: fmt.Sprintf(format, args...)}
}

var errNoTime = errors.New("no time")
