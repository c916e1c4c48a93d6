package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/schollz/progressbar/v3"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/importer"
)

// eraseLine moves the cursor to the start of the line and erases the line
// (ANSI CR, then CSI 2K).
const eraseLine = "\r\x1b[2K"

// terminalLines serializes the progress bar and the log lines written to
// one terminal. The bar redraws its line in place without a newline, so a
// log line written as is would start after the bar's text. Instead, a log
// line first erases the bar, and the bar draws itself again below the log
// line at its next update.
type terminalLines struct {
	mu sync.Mutex
	w  io.Writer
	// barShown is set while the current line contains the bar's text.
	barShown bool
}

// Write writes one log line, erasing the bar first when it is shown.
func (t *terminalLines) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.barShown {
		if _, err := io.WriteString(t.w, eraseLine); err != nil {
			return 0, err
		}
		t.barShown = false
	}
	return t.w.Write(p)
}

// barWriter returns the writer for the progress bar.
func (t *terminalLines) barWriter() io.Writer { return barWriter{lines: t} }

// barWriter writes the progress bar's output to a terminalLines.
type barWriter struct{ lines *terminalLines }

func (b barWriter) Write(p []byte) (int, error) {
	b.lines.mu.Lock()
	defer b.lines.mu.Unlock()
	b.lines.barShown = true
	return b.lines.w.Write(p)
}

// status replaces the bar's line with text. The text stays until the next
// log line or clear erases it.
func (t *terminalLines) status(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, eraseLine+text)
	t.barShown = true
}

// clear erases the bar or status line when one is shown.
func (t *terminalLines) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.barShown {
		io.WriteString(t.w, eraseLine)
		t.barShown = false
	}
}

// newImportProgress returns r with a progress bar of size bytes on lines,
// or a byte counter when size is negative (standard input or a web server
// that sends no length). At the end of r the bar gives way to a status
// line, because the import goes on after the last byte is read: it syncs
// the store, checks the signature and indexes the DB. Call close when the
// import returns.
func newImportProgress(lines *terminalLines, r io.Reader, size int64) *progressReader {
	t := newTransferBar(lines, "importing", size)
	return &progressReader{r: r, transfer: t, status: importStatus}
}

// importStatus is the status line of an import after the last byte of a
// kit stream, with the byte count as its operand.
const importStatus = "importing   read %s; syncing, verifying and indexing..."

// newTransferBar returns a transfer that draws a progress bar of total
// bytes on lines, or a byte counter when total is negative.
func newTransferBar(lines *terminalLines, verb string, total int64) *transfer {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(lines.barWriter()),
		progressbar.OptionSetDescription(verb),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// Drawing the empty bar now starts its clock, so the first rate
	// counts the time of the first read.
	bar.RenderBlank()
	return &transfer{verb: verb, bar: bar, lines: lines}
}

// progressReader counts the bytes read from r on transfer.
type progressReader struct {
	r        io.Reader
	transfer *transfer
	read     int64
	// status, unless empty, is the format of the status line that replaces
	// the bar at the end of r, with the byte count as its operand.
	status string
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	p.transfer.add(n, "")
	if err == io.EOF && p.status != "" {
		p.transfer.showStatus(fmt.Sprintf(p.status, humanBytes(p.read)))
	}
	return n, err
}

// close stops the bar and erases the bar or status line.
func (p *progressReader) close() { p.transfer.close() }

// transfer shows the progress of one transfer on stderr: a bar on a
// terminal, else a log line at most once per interval. Its methods are
// safe for concurrent use, because a copy to or from a registry reads
// several blobs at once.
type transfer struct {
	mu   sync.Mutex
	verb string
	// bar and lines are set on a terminal, and log elsewhere.
	bar   *progressbar.ProgressBar
	lines *terminalLines
	log   *progressLog
	// blob is the digest that the bar's description names.
	blob  string
	ended bool
}

// add counts n bytes read of blob, which is empty for a kit read as one
// stream.
func (t *transfer) add(n int, blob string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	if t.log != nil {
		t.log.add(n, blob)
		return
	}
	if blob != t.blob {
		t.blob = blob
		t.bar.Describe(t.verb + " " + shortDigest(blob))
	}
	t.bar.Add(n)
}

// restart counts from zero again, for a kit file that is read again from
// its start.
func (t *transfer) restart() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.log != nil {
		t.log.done = 0
		t.log.lastDone = 0
		return
	}
	if !t.ended {
		t.bar.Set64(0)
	}
}

// showStatus replaces the bar with text, which stays until close. It does
// nothing off a terminal.
func (t *transfer) showStatus(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar == nil || t.ended {
		return
	}
	t.stopBarLocked()
	t.lines.status(text)
}

// stopBarLocked finishes the bar once. A finished bar erases itself, and
// the byte counter of an unknown size stops redrawing itself.
func (t *transfer) stopBarLocked() {
	if !t.ended {
		t.ended = true
		t.bar.Finish()
	}
}

// close stops the bar and erases the bar or status line. Nothing is logged
// after close.
func (t *transfer) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar == nil {
		t.ended = true
		return
	}
	t.stopBarLocked()
	t.lines.clear()
}

// shortDigest returns the algorithm and the first 12 hex digits of the
// digest d, enough to tell the blobs of a kit apart on a bar. It returns
// d itself when d is shorter.
func shortDigest(d string) string {
	algorithm, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algorithm + ":" + hex[:12]
}

// progressLogInterval is the time between the progress log lines of a
// transfer when stderr is not a terminal.
const progressLogInterval = 15 * time.Second

// progressIntervalEnv names the environment variable that replaces
// progressLogInterval with a Go duration such as "200ms". It is meant for
// tests only, which need the lines sooner.
const progressIntervalEnv = "STELLA_TEST_PROGRESS_INTERVAL"

// progressLog logs the progress of a transfer at info level at most once
// per interval, for a stderr that is not a terminal, such as the log of a
// service or a CI job. A line is due only when bytes arrive, and a
// transfer that ends within its first interval logs nothing.
type progressLog struct {
	log *slog.Logger
	// msg is the message of every line, and attrs the attributes that
	// name the transfer.
	msg      string
	attrs    []any
	total    int64 // -1 when unknown
	interval time.Duration
	now      func() time.Time
	done     int64
	// lastTime and lastDone are the time and the byte count of the last
	// line, or of the start.
	lastTime time.Time
	lastDone int64
}

func newProgressLog(log *slog.Logger, msg string, total int64, interval time.Duration, now func() time.Time,
	attrs ...any) *progressLog {
	return &progressLog{log: log, msg: msg, attrs: attrs, total: total, interval: interval, now: now, lastTime: now()}
}

// add counts n bytes read of blob, which is empty for a kit read as one
// stream, and logs a line when the interval has passed since the last
// one. The rate is that of the bytes since the last line, so a stalled
// transfer shows a rate near zero once bytes arrive again.
func (p *progressLog) add(n int, blob string) {
	p.done += int64(n)
	now := p.now()
	elapsed := now.Sub(p.lastTime)
	if elapsed < p.interval || elapsed <= 0 {
		return
	}
	args := append([]any{}, p.attrs...)
	if blob != "" {
		args = append(args, "blob", blob)
	}
	args = append(args, "bytes", humanBytes(p.done))
	if p.total > 0 {
		args = append(args, "total", humanBytes(p.total), "percent", min(p.done*100/p.total, 100))
	}
	rate := float64(p.done-p.lastDone) / elapsed.Seconds()
	args = append(args, "rate", humanBytes(int64(rate))+"/s")
	p.log.Info(p.msg, args...)
	p.lastTime, p.lastDone = now, p.done
}

// progressLines returns the terminal lines that a progress bar shares
// with the log lines on stderr, or nil with --quiet or when stderr is not
// a terminal.
func (g *globalOptions) progressLines(stderr io.Writer) *terminalLines {
	if g.quiet || !isTerminal(stderr) {
		return nil
	}
	return &terminalLines{w: stderr}
}

// newTransfer returns the progress display of a transfer of total bytes,
// where total is -1 when unknown. When lines is set, stderr is a terminal,
// and it draws a bar there described by verb, such as "pushing". Otherwise
// it logs msg with attrs on stderr at info level, with or without
// --verbose. With --quiet it returns nil, which shows nothing.
func (g *globalOptions) newTransfer(stderr io.Writer, lines *terminalLines, verb string, total int64, msg string,
	attrs ...any) *transfer {
	return g.newLoggedTransfer(newTextLogger(stderr, slog.LevelInfo), lines, verb, total, msg, attrs...)
}

// newLoggedTransfer is newTransfer with the log lines written to log, for
// a command whose log lines all go through one logger, such as watch. log
// must have the info level enabled.
func (g *globalOptions) newLoggedTransfer(log *slog.Logger, lines *terminalLines, verb string, total int64, msg string,
	attrs ...any) *transfer {
	if g.quiet {
		return nil
	}
	if lines != nil {
		return newTransferBar(lines, verb, total)
	}
	interval := progressLogInterval
	// The variable is read from the process's own environment, so a store
	// service started with it applies it to the commands of every client.
	if v := os.Getenv(progressIntervalEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			interval = d
		}
	}
	progress := newProgressLog(log, msg, total, interval, time.Now, attrs...)
	return &transfer{verb: verb, log: progress}
}

// reader returns r, whose bytes t counts, or r itself when t is nil.
func (t *transfer) reader(r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	return &progressReader{r: r, transfer: t}
}

// storage returns src, whose blob reads t counts, or src itself when t is
// nil. The result finds predecessors when src does, as mirror needs for
// the referrers of a kit in the store.
func (t *transfer) storage(src content.ReadOnlyStorage) content.ReadOnlyStorage {
	if t == nil {
		return src
	}
	counted := progressStorage{ReadOnlyStorage: src, transfer: t}
	if finder, ok := src.(content.PredecessorFinder); ok {
		return progressFinderStorage{progressStorage: counted, finder: finder}
	}
	return counted
}

// stop stops the display of t, when t is not nil.
func (t *transfer) stop() {
	if t != nil {
		t.close()
	}
}

// importProgress returns the importer.Options.Progress function that
// counts the bytes of the blobs an import reads on t, or nil when t is
// nil.
func (t *transfer) importProgress() func(importer.Progress) {
	if t == nil {
		return nil
	}
	var last int64
	return func(p importer.Progress) {
		t.add(int(p.BytesRead-last), p.Blob)
		last = p.BytesRead
	}
}

// progressStorage is a content.ReadOnlyStorage whose blob reads a
// transfer counts.
type progressStorage struct {
	content.ReadOnlyStorage
	transfer *transfer
}

func (s progressStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.ReadOnlyStorage.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	return &blobProgressReader{rc: rc, transfer: s.transfer, blob: d.Digest.String()}, nil
}

// progressFinderStorage is a progressStorage of a source that finds
// predecessors.
type progressFinderStorage struct {
	progressStorage
	finder content.PredecessorFinder
}

func (s progressFinderStorage) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return s.finder.Predecessors(ctx, node)
}

// blobProgressReader counts the bytes read of one blob on a transfer.
type blobProgressReader struct {
	rc       io.ReadCloser
	transfer *transfer
	blob     string
}

func (r *blobProgressReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	r.transfer.add(n, r.blob)
	return n, err
}

func (r *blobProgressReader) Close() error { return r.rc.Close() }
