package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/watch"
)

func TestWatchTruncatedSettle(t *testing.T) {
	cases := []struct {
		name     string
		once     bool
		size     int64
		age      time.Duration
		rejected bool
	}{
		{"fresh file retried", false, 7, 10 * time.Second, false},
		{"settled file rejected", false, 7, 3 * time.Minute, true},
		{"fresh file rejected with once", true, 7, 10 * time.Second, true},
		{"fresh empty file retried with once", true, 0, 10 * time.Second, false},
		{"settled empty file rejected with once", true, 0, 3 * time.Minute, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kit.tar.zst")
			if err := os.WriteFile(path, []byte("partial")[:tc.size], 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			w := &watcher{
				opts: &watchOptions{once: tc.once, settle: 2 * time.Minute},
				log:  slog.New(slog.NewTextHandler(&logs, nil)),
			}
			c := watch.Candidate{Path: path, Size: tc.size, ModTime: time.Now().Add(-tc.age)}

			accepted := w.incomplete(c, nil, "", io.ErrUnexpectedEOF)
			if accepted == tc.rejected {
				t.Errorf("incomplete returned %v, want %v", accepted, !tc.rejected)
			}
			note, hasNote := watch.ReadNote(path)
			if hasNote != tc.rejected {
				t.Errorf("note written %v, want %v", hasNote, tc.rejected)
			}
			if tc.rejected && !strings.Contains(note.Reason, "copy the kit file again") {
				t.Errorf("note reason %q does not say what to do", note.Reason)
			}
			if tc.rejected != strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("warning logged %v, want %v:\n%s", !tc.rejected, tc.rejected, logs.String())
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	cases := map[string]string{
		"/srv/drop/kit-1.0.tar.zst": "/srv/drop/kit-1.0.tar.zst",
		"/srv/usb stick/kit.tar":    "'/srv/usb stick/kit.tar'",
		"it's.tar":                  `'it'\''s.tar'`,
		"":                          "''",
		"$HOME/kit.tar":             "'$HOME/kit.tar'",
	}
	for in, want := range cases {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
