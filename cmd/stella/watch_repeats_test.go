package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
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
