package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logLine is the start of every line that a watch prints: its time, level
// and message, as the slog text handler writes them.
var logLine = regexp.MustCompile(`^time=(\S+) level=(DEBUG|INFO|WARN|ERROR) msg=`)

// checkLogLines checks that every line of stderr is a log line with a
// valid time, and returns the lines.
func checkLogLines(t *testing.T, stderr string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, line := range lines {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line is not a log line with a time:\n%s", line)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("line has an invalid time %q: %v", m[1], err)
		}
	}
	return lines
}

func TestWatchVerboseLogFormat(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)
	if err := os.WriteFile(filepath.Join(drop, "readme.txt"), []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "-v", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once -v: exit %d\n%s", r.code, r.stderr)
	}
	checkLogLines(t, r.stderr)
	// The importer's lines come through the same format as the watch's.
	for _, want := range []string{`msg="kit verified"`, `msg="kit activated"`, `msg="kit imported"`, "readme.txt"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("watch -v log lacks %s:\n%s", want, r.stderr)
		}
	}
}

func TestWatchErrorLogFormat(t *testing.T) {
	e := newEnv(t)
	drop := e.newDrop("drop")
	writeFirstHalf(t, e.buildKit("kit.tar.zst"), filepath.Join(drop, "cut.tar.zst"))

	for _, quiet := range []bool{false, true} {
		args := []string{"ouk", "watch", "--once", "--key", e.pub, drop}
		if quiet {
			args = append(args, "-q")
		}
		r := e.run(args...)
		if r.code != exitRejected {
			t.Fatalf("%v: exit %d, want %d\n%s", args, r.code, exitRejected, r.stderr)
		}
		lines := checkLogLines(t, r.stderr)
		last := lines[len(lines)-1]
		if !strings.Contains(last, `level=ERROR msg="watch finished with rejected kits"`) || !strings.Contains(last, "1 kit was rejected in") {
			t.Errorf("%v: last line %q does not log the error that ends the watch", args, last)
		}
		if n := strings.Count(r.stderr, "1 kit was rejected in"); n != 1 {
			t.Errorf("%v: the error that ends the watch appears %d times, want once:\n%s", args, n, r.stderr)
		}
		if quiet && len(lines) != 1 {
			t.Errorf("%v: %d lines, want only the error:\n%s", args, len(lines), r.stderr)
		}
	}

	r := e.run("ouk", "watch", "--interval", "0s", drop)
	if r.code != exitUsage {
		t.Errorf("watch --interval 0s: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	lines := checkLogLines(t, r.stderr)
	if len(lines) != 1 || !strings.Contains(lines[0], "--interval is 0s") {
		t.Errorf("watch --interval 0s: stderr %q, want one log line naming the value", r.stderr)
	}
}

func TestWatchSecondRoundNamesImportedKits(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	drop := e.newDrop("drop", series[0].full, series[1].delta)
	e.must("ouk", "watch", "--once", "--key", e.pub, drop)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("second watch --once: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "kit was imported before and a newer kit is active; skipped") {
		t.Errorf("second round does not say the full kit was imported before:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "older than the active kit") {
		t.Errorf("second round calls a kit it imported older than the active kit:\n%s", r.stderr)
	}
}
