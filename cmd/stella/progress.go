package main

import (
	"io"
	"sync"
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
