package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"
)

func TestTerminalLinesEraseBar(t *testing.T) {
	var out bytes.Buffer
	lines := &terminalLines{w: &out}
	bar := progressbar.NewOptions64(100, progressbar.OptionSetWriter(lines.barWriter()),
		progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(0))
	log := slog.New(slog.NewTextHandler(lines, nil))

	bar.Add(10)
	log.Warn("first")
	log.Info("second")
	bar.Add(10)
	log.Info("third")

	// Each log line must begin at the start of a line: after a newline,
	// or after the erase sequence when the bar was drawn before it.
	logLines := 0
	for _, line := range strings.Split(out.String(), "\n") {
		at := strings.Index(line, "time=")
		if at < 0 {
			continue
		}
		logLines++
		if before := line[:at]; before != "" && !strings.HasSuffix(before, eraseLine) {
			t.Errorf("log line %q follows %q on the same line without erasing it", line[at:], before)
		}
	}
	if logLines != 3 {
		t.Errorf("output has %d log lines, want 3: %q", logLines, out.String())
	}
	if n := strings.Count(out.String(), eraseLine); n != 2 {
		t.Errorf("output erases the bar %d times, want 2 (once after each drawing): %q", n, out.String())
	}
}

func TestImportProgressStatusAfterRead(t *testing.T) {
	for _, size := range []int64{3000, -1} {
		var out syncBuffer
		lines := &terminalLines{w: &out}
		progress := newImportProgress(lines, strings.NewReader(strings.Repeat("x", 3000)), size)
		if _, err := io.Copy(io.Discard, progress); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(out.String(), eraseLine+"importing   read 2.9 KiB; syncing, verifying and indexing...") {
			t.Errorf("size %d: output after the read ends %q, want the status line", size, out.String())
		}
		progress.close()
		closed := out.String()
		if !strings.HasSuffix(closed, eraseLine) {
			t.Errorf("size %d: close leaves %q, want the status line erased", size, closed)
		}
		// The byte counter of an unknown size redraws itself on a timer
		// until it is finished.
		time.Sleep(250 * time.Millisecond)
		if after := out.String(); after != closed {
			t.Errorf("size %d: the bar drew %q after close", size, strings.TrimPrefix(after, closed))
		}
	}
}
