package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

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
