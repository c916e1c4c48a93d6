package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
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
			w := testWatcher(&logs, tc.once)
			c := watch.Candidate{Path: path, Size: tc.size, ModTime: time.Now().Add(-tc.age)}

			got := w.incomplete(context.Background(), c, nil, "", io.ErrUnexpectedEOF)
			if (got == outcomeRejected) != tc.rejected {
				t.Errorf("incomplete returned %v, want rejected %v", got, tc.rejected)
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

// testWatcher returns a watcher that logs at debug level into logs.
func testWatcher(logs *bytes.Buffer, once bool) *watcher {
	w := newWatcher(&globalOptions{}, &watchOptions{once: once, settle: 2 * time.Minute}, "drop", logs)
	w.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return w
}

func TestWatchFolderSettle(t *testing.T) {
	cases := []struct {
		name     string
		once     bool
		age      time.Duration
		rejected bool
	}{
		{"fresh folder retried", false, 10 * time.Second, false},
		{"settled folder rejected", false, 3 * time.Minute, true},
		{"fresh folder rejected with once", true, 10 * time.Second, true},
	}
	missing := fmt.Errorf("blob sha256:1234 is missing from the kit: %w", errdef.ErrInvalidKit)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kit")
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			w := testWatcher(&logs, tc.once)
			c := watch.Candidate{Path: path, IsDir: true, Size: 100, Files: 3, ModTime: time.Now().Add(-tc.age)}

			got := w.incomplete(context.Background(), c, nil, "", missing)
			if (got == outcomeRejected) != tc.rejected {
				t.Errorf("incomplete returned %v, want rejected %v", got, tc.rejected)
			}
			note, hasNote := watch.ReadNote(path)
			if hasNote != tc.rejected {
				t.Fatalf("note written %v, want %v", hasNote, tc.rejected)
			}
			if !tc.rejected {
				return
			}
			if note.Files != 3 || note.Size != 100 {
				t.Errorf("note fingerprint %d files of %d bytes, want 3 files of 100 bytes", note.Files, note.Size)
			}
			if !strings.Contains(note.Reason, "is missing from the kit") {
				t.Errorf("note reason %q lost the import error", note.Reason)
			}
			if strings.Contains(note.Reason, "kit file") {
				t.Errorf("note reason %q calls the folder a file", note.Reason)
			}
		})
	}
}

func TestWatchRejectWithoutNote(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	// A folder in the way of the note's temporary file makes writing the
	// note fail even for root, as a read-only drop folder does.
	if err := os.Mkdir(watch.NotePath(kit)+".tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := testWatcher(&logs, true)
	c := watch.Candidate{Path: kit, Size: 7, ModTime: time.Now()}

	w.reject(c, nil, "", fmt.Errorf("bundle index is corrupt: %w", errdef.ErrInvalidKit))
	out := logs.String()
	if strings.Count(out, "\n") != 1 {
		t.Errorf("reject logged %d lines, want 1:\n%s", strings.Count(out, "\n"), out)
	}
	for _, want := range []string{"level=WARN", "writing its rejection note failed", "bundle index is corrupt", "noteError="} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "see the") {
		t.Errorf("log points to a note that does not exist:\n%s", out)
	}
	if _, ok := w.readNote(kit); !ok {
		t.Errorf("the rejection is not kept in memory, so the kit would be imported again every round")
	}

	summary := rejectedSummary(roundResult{rejected: 2, withoutNote: 1}, "drop")
	if !strings.Contains(summary, "the log above for the 1 whose note could not be written or belongs to the watch of another store") {
		t.Errorf("summary %q does not say which rejections lack a note", summary)
	}
	summary = rejectedSummary(roundResult{rejected: 1, withoutNote: 1}, "drop")
	if strings.Contains(summary, "beside") || !strings.Contains(summary, "see the reasons in the log above") {
		t.Errorf("summary %q points to a note that does not exist", summary)
	}
	summary = rejectedSummary(roundResult{rejected: 1}, "drop")
	if !strings.Contains(summary, "see the .stella-rejected note beside it") {
		t.Errorf("summary %q does not point to the note", summary)
	}
}

func TestWatchLogOnceUntilFileChanges(t *testing.T) {
	var logs bytes.Buffer
	w := testWatcher(&logs, false)
	ctx := context.Background()
	c := watch.Candidate{Path: "drop/kit.tar", Size: 7, ModTime: time.Now()}
	for range 3 {
		w.logOnce(ctx, c, slog.LevelInfo, msgAlreadyActive, "path", c.Path)
	}
	if n := strings.Count(logs.String(), msgAlreadyActive); n != 1 {
		t.Errorf("logged %d times for an unchanged file, want 1:\n%s", n, logs.String())
	}
	c.Size++
	w.logOnce(ctx, c, slog.LevelInfo, msgAlreadyActive, "path", c.Path)
	if n := strings.Count(logs.String(), msgAlreadyActive); n != 2 {
		t.Errorf("logged %d times after the file changed, want 2:\n%s", n, logs.String())
	}

	// Once the entry leaves the folder, a new copy is logged again.
	w.forgetMissing(watch.Listing{})
	w.logOnce(ctx, c, slog.LevelInfo, msgAlreadyActive, "path", c.Path)
	if n := strings.Count(logs.String(), msgAlreadyActive); n != 3 {
		t.Errorf("logged %d times after the file left and came back, want 3:\n%s", n, logs.String())
	}
}

func TestWatchStoppedDuringRound(t *testing.T) {
	var logs bytes.Buffer
	w := testWatcher(&logs, false)
	err := w.stopped(roundResult{interrupted: true, interruptedKit: "drop/kit.tar"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("stopped returned %v, want an error wrapping context.Canceled for exit 130", err)
	}
	if !strings.Contains(logs.String(), "during an import") || !strings.Contains(logs.String(), "path=drop/kit.tar") {
		t.Errorf("last log line does not name the interrupted import:\n%s", logs.String())
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

// TestWatchDiskFullDoesNotReject checks that an import that fails for lack
// of disk space leaves its kit without a rejection note, to be tried again,
// and that a --once run then ends with that error, not with a rejection.
func TestWatchDiskFullDoesNotReject(t *testing.T) {
	dir := t.TempDir()
	kit := filepath.Join(dir, "kit.tar")
	if err := os.WriteFile(kit, []byte("kit"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := testWatcher(&logs, true)
	c := watch.Candidate{Path: kit, Size: 3, ModTime: time.Now()}
	full := fmt.Errorf("storing blob: no space left on device: %w", errdef.ErrDiskFull)
	if got := w.importFailed(context.Background(), c, nil, nil, "", full); got != outcomeDeferred {
		t.Fatalf("outcome of a full disk = %v, want deferred", got)
	}
	if _, err := os.Stat(watch.NotePath(kit)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a full disk wrote a rejection note (stat: %v)", err)
	}
	if _, ok := w.readNote(kit); ok {
		t.Error("a full disk marked the kit as rejected")
	}
	err := onceEnd(roundResult{rejected: 1, deferred: w.lastDeferred}, dir)
	if !errors.Is(err, errdef.ErrDiskFull) || exitCode(err) != exitError {
		t.Errorf("--once after a full disk returned %v (exit %d), want the disk error and exit %d", err, exitCode(err), exitError)
	}
}
