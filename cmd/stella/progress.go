package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
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
// or a byte counter when size is negative (standard input). At the end of
// r the bar gives way to a status line, because the import goes on after
// the last byte is read: it syncs the store, checks the signature and
// indexes the DB. Call close when the import returns.
func newImportProgress(lines *terminalLines, r io.Reader, size int64) *progressReader {
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(lines.barWriter()),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// Drawing the empty bar now starts its clock, so the first rate
	// counts the time of the first read.
	bar.RenderBlank()
	return &progressReader{r: r, bar: bar, lines: lines}
}

// progressReader counts the bytes read from r on bar.
type progressReader struct {
	r     io.Reader
	bar   *progressbar.ProgressBar
	lines *terminalLines
	read  int64
	ended bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	p.bar.Add(n)
	if err == io.EOF && !p.ended {
		p.stopBar()
		p.lines.status(fmt.Sprintf("importing   read %s; syncing, verifying and indexing...", humanBytes(p.read)))
	}
	return n, err
}

// stopBar finishes the bar once. A finished bar erases itself, and the
// byte counter of an unknown size stops redrawing itself.
func (p *progressReader) stopBar() {
	if !p.ended {
		p.ended = true
		p.bar.Finish()
	}
}

// close stops the bar and erases the bar or status line.
func (p *progressReader) close() {
	p.stopBar()
	p.lines.clear()
}
