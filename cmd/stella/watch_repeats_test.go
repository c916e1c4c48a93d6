package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
)

func TestFailureRepeatsLogOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var f failureRepeats
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 60 rounds 30 s apart: 30 minutes of the same failure, whose error
	// text changes.
	for i := range 60 {
		f.failed(log, start.Add(time.Duration(i)*30*time.Second), "import failed", "/drop/kit.tar",
			"error", strings.Repeat("x", i))
	}
	if n := strings.Count(buf.String(), "import failed"); n != 1 {
		t.Errorf("60 rounds within the interval logged %d lines, want 1:\n%s", n, buf.String())
	}
	f.failed(log, start.Add(30*time.Minute), "import failed", "/drop/kit.tar")
	if !strings.Contains(buf.String(), "failedRounds=61") {
		t.Errorf("reminder after the interval lacks the round count:\n%s", buf.String())
	}

	buf.Reset()
	f.failed(log, start.Add(31*time.Minute), "import failed", "/drop/other.tar")
	if !strings.Contains(buf.String(), "import failed") {
		t.Errorf("a failure of another kit is not logged:\n%s", buf.String())
	}
	buf.Reset()
	f.succeeded(log, "imported again")
	f.succeeded(log, "imported again")
	if n := strings.Count(buf.String(), "imported again"); n != 1 {
		t.Errorf("the end of a failure logged %d lines, want 1:\n%s", n, buf.String())
	}
}

// Two kits that both fail for lack of space, one after the other in each
// round, must each be logged once, not once per round.
func TestWatchDiskFullTwoKitsLogOnce(t *testing.T) {
	var buf bytes.Buffer
	w := newWatcher(&globalOptions{}, &watchOptions{}, t.TempDir(), &buf)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	diskFull := fmt.Errorf("writing blob: %w", errdef.ErrDiskFull)
	kits := []string{"/drop/a.tar", "/drop/b.tar"}
	for round := range 10 {
		w.now = func() time.Time { return start.Add(time.Duration(round) * 30 * time.Second) }
		for _, path := range kits {
			c := watch.Candidate{Path: path}
			if got := w.importFailed(context.Background(), c, nil, []any{"path", path}, "", diskFull); got != outcomeDeferred {
				t.Fatalf("outcome of a disk-full import = %v, want outcomeDeferred", got)
			}
		}
	}
	for _, path := range kits {
		lines := 0
		for line := range strings.Lines(buf.String()) {
			if strings.Contains(line, "lack of disk space") && strings.Contains(line, path) {
				lines++
			}
		}
		if lines != 1 {
			t.Errorf("10 rounds logged the disk-full import of %s %d times, want 1:\n%s", path, lines, buf.String())
		}
	}
}
