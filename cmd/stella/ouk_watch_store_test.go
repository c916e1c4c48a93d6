package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/sign"
)

// TestWatchStoreErrorDoesNotReject checks that an import that fails on the
// store's own volume or database leaves the kit without a rejection note,
// logs a line that points at the store, and ends a --once run with exit 1.
func TestWatchStoreErrorDoesNotReject(t *testing.T) {
	const storeDir = "/var/lib/stella/store"
	walWrite := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: storeDir + "/000012.log", Err: errno}
	}
	cases := map[string]error{
		"read-only volume": walWrite(syscall.EROFS),
		"I/O error":        walWrite(syscall.EIO),
		"broken store": fmt.Errorf("store %s cannot write after an earlier error: %w", storeDir,
			errors.New("pebble: fatal commit error")),
	}
	for name, cause := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kit := filepath.Join(dir, "kit.tar.zst")
			if err := os.WriteFile(kit, []byte("kit"), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			w := testWatcher(&logs, true)
			c := watch.Candidate{Path: kit, Size: 3, ModTime: time.Now()}
			err := fmt.Errorf("storing blob sha256:1: %w", &cas.StoreError{Dir: storeDir, Err: cause})

			got := w.importFailed(context.Background(), c, &delta.Summary{}, []any{"path", kit}, "", err)
			if got == outcomeRejected {
				t.Errorf("a store error rejected the kit")
			}
			if _, ok := watch.ReadNote(kit); ok {
				t.Errorf("a store error wrote a rejection note")
			}
			if !strings.Contains(logs.String(), "store="+storeDir) {
				t.Errorf("log does not name the store folder:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "cannot be read on this host") {
				t.Errorf("log blames the kit file for a store error:\n%s", logs.String())
			}
			end := onceEnd(roundResult{deferred: w.lastDeferred}, dir)
			if code := exitCode(end); code != exitError {
				t.Errorf("--once after a store error exits %d, want %d (error %v)", code, exitError, end)
			}
		})
	}
}

// storeWithActiveKit creates a store in dir whose active kit is a stored
// blob, and returns that kit's digest.
func storeWithActiveKit(t *testing.T, dir string) digest.Digest {
	t.Helper()
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(context.Background(), cas.KitRecord{Digest: d, Version: "night-01", Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	return d
}

// setRawKey writes key into the database of the closed store in dir,
// bypassing the store, as damage on disk would.
func setRawKey(t *testing.T, dir, key, value string) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebbleLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(key), []byte(value), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWatchDamagedActiveRecordFailsRound checks that an active record that
// cannot be read fails the round with a message about the store, and that
// no kit is rejected for it.
func TestWatchDamagedActiveRecordFailsRound(t *testing.T) {
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	storeWithActiveKit(t, filepath.Join(storeDir, storeDBDir))
	setRawKey(t, filepath.Join(storeDir, storeDBDir), "r/active", "{not json")
	drop := filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(drop, "kit.tar")
	if err := os.WriteFile(kit, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: storeDir}, &watchOptions{once: true, interval: time.Second,
		settle: time.Minute}, drop, &logs)
	err := w.run(context.Background())
	if err == nil {
		t.Fatalf("watch --once with a damaged active record succeeded:\n%s", logs.String())
	}
	if code := exitCode(err); code != exitError {
		t.Errorf("watch --once exits %d, want %d (error %v)", code, exitError, err)
	}
	if _, ok := watch.ReadNote(kit); ok {
		t.Errorf("a damaged active record made the watch reject a kit")
	}

	logs.Reset()
	w.roundFailed(err)
	if !strings.Contains(logs.String(), "reading the active kit from the store failed") {
		t.Errorf("round failure does not name the active record:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "store="+storeDir) {
		t.Errorf("round failure does not name the store folder:\n%s", logs.String())
	}
}

// TestWatchHistoryFailureSkipsKit checks that a kit newer than the active
// kit is not imported, and not rejected, while the kit history cannot be
// read, because the kit may be one that the operator rolled back from.
func TestWatchHistoryFailureSkipsKit(t *testing.T) {
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	active := storeWithActiveKit(t, filepath.Join(storeDir, storeDBDir))
	setRawKey(t, filepath.Join(storeDir, storeDBDir), "h/0000000000000000", "{")
	kit := filepath.Join(root, "kit.tar")
	if err := os.WriteFile(kit, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := cas.Open(filepath.Join(storeDir, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var logs bytes.Buffer
	w := testWatcher(&logs, true)
	w.storeDir = storeDir
	newer := digest.FromString("night-02")
	c := watch.Candidate{Path: kit, Size: 4096, ModTime: time.Now(),
		Summary: &delta.Summary{Digest: newer, Sequence: 2, Version: "night-02"}}
	got := w.process(context.Background(), store, importer.Options{Store: store}, c, nil)
	if got == outcomeImported || got == outcomeRejected {
		t.Errorf("process with an unreadable history returned %v, want the kit skipped this round", got)
	}
	if _, ok := watch.ReadNote(kit); ok {
		t.Errorf("an unreadable history made the watch try, and reject, the kit")
	}
	if !strings.Contains(logs.String(), "store="+storeDir) {
		t.Errorf("log does not name the store folder:\n%s", logs.String())
	}
	if rec, err := store.Active(context.Background()); err != nil || rec.Digest != active {
		t.Errorf("active kit after the round: %v, %v; want %s", rec.Digest, err, active)
	}
}

// TestWatchRoundFailureNamesStep checks that the log line of a round that
// fails before it reaches the kits names the step that failed.
func TestWatchRoundFailureNamesStep(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	drop := filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		store string
		drop  string
		keys  []string
		want  string
	}{
		{"drop folder is a file", filepath.Join(root, "store1"), file, nil, "scanning the drop folder failed"},
		{"store path is a file", file, drop, nil, "opening the store failed"},
		{"key file missing", filepath.Join(root, "store2"), drop, []string{filepath.Join(root, "missing.pub")},
			"reading trusted keys failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := newWatcher(&globalOptions{store: tc.store}, &watchOptions{keys: tc.keys, interval: time.Second,
				settle: time.Minute}, tc.drop, &logs)
			_, err := w.round(context.Background())
			if err == nil {
				t.Fatalf("round succeeded, want a failure")
			}
			w.roundFailed(err)
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("round failure logged without %q:\n%s", tc.want, logs.String())
			}
		})
	}
}

// quietPebbleLogger drops Pebble's messages, such as its replay of the
// write-ahead log on open.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any)  {}
func (quietPebbleLogger) Errorf(string, ...any) {}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// manifests returns the names of the Pebble MANIFEST files in the database
// folder dir. Every open for writing creates a new one.
func manifests(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// activateBlob makes a newly stored blob the active kit of the store in
// dir, as an import by another process would.
func activateBlob(t *testing.T, dir string, content string) {
	t.Helper()
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte(content)
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(context.Background(), cas.KitRecord{Digest: d, Version: content, Sequence: 1}); err != nil {
		t.Fatal(err)
	}
}

// dropWithSettledJunk creates the drop folder root/drop with a file
// junk.tar that is not a kit and whose modification time is an hour ago.
// A running watch rejects such a file only once it has not changed for
// --settle, as it may still be being copied.
func dropWithSettledJunk(t *testing.T, root string) (drop, junk string, settled time.Time) {
	t.Helper()
	drop = filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	junk = filepath.Join(drop, "junk.tar")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	settled = time.Now().Add(-time.Hour)
	if err := os.Chtimes(junk, settled, settled); err != nil {
		t.Fatal(err)
	}
	return drop, junk, settled
}

// TestWatchIdleRoundKeepsStoreClosed checks that a running watch opens the
// store for writing only in a round that has work: a new or changed kit,
// or a change of the active kit.
func TestWatchIdleRoundKeepsStoreClosed(t *testing.T) {
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	dbDir := filepath.Join(storeDir, storeDBDir)
	drop, junk, _ := dropWithSettledJunk(t, root)
	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: storeDir}, &watchOptions{interval: time.Second, settle: time.Minute}, drop, &logs)
	round := func(name string) {
		t.Helper()
		if _, err := w.round(context.Background()); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, logs.String())
		}
	}

	round("first round")
	if _, ok := watch.ReadNote(junk); !ok {
		t.Fatalf("first round did not reject junk.tar:\n%s", logs.String())
	}
	before := manifests(t, dbDir)
	round("idle round")
	if got := manifests(t, dbDir); !slices.Equal(got, before) {
		t.Errorf("idle round opened the store for writing: MANIFEST files %v, before %v", got, before)
	}

	activateBlob(t, dbDir, "night-01")
	before = manifests(t, dbDir)
	round("round after the active kit changed")
	if got := manifests(t, dbDir); slices.Equal(got, before) {
		t.Errorf("round after the active kit changed did not open the store")
	}
	before = manifests(t, dbDir)
	round("second idle round")
	if got := manifests(t, dbDir); !slices.Equal(got, before) {
		t.Errorf("idle round after the active kit changed opened the store for writing")
	}

	// A new trusted key may verify a kit rejected for its signature.
	_, pub, err := sign.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(storeDir, storeKeysDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(storeDir, storeKeysDir, "new.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	round("round after a key was added")
	if got := manifests(t, dbDir); slices.Equal(got, before) {
		t.Errorf("round after a trusted key was added did not open the store")
	}
	before = manifests(t, dbDir)
	round("idle round after the key was added")
	if got := manifests(t, dbDir); !slices.Equal(got, before) {
		t.Errorf("idle round after the key was added opened the store for writing")
	}

	later := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(junk, later, later); err != nil {
		t.Fatal(err)
	}
	round("round after the file changed")
	if got := manifests(t, dbDir); slices.Equal(got, before) {
		t.Errorf("round after junk.tar changed did not open the store")
	}
	if note, ok := watch.ReadNote(junk); !ok || !note.ModTime.Equal(later) {
		t.Errorf("junk.tar was not rejected again after it changed")
	}
}

// TestWatchStoreFailureClearedByRound checks that a round that processes
// every kit without a store failure ends the count of store failures, even
// when it imports nothing, so that the next store failure is logged again.
func TestWatchStoreFailureClearedByRound(t *testing.T) {
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	// A file that is not a kit is rejected without an import, so the
	// round imports nothing.
	drop, junk, settled := dropWithSettledJunk(t, root)
	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: storeDir}, &watchOptions{interval: time.Second, settle: time.Minute}, drop, &logs)
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return now }
	c := watch.Candidate{Path: junk, Size: 4096, ModTime: settled}
	storeErr := &cas.StoreError{Dir: storeDir, Err: errors.New("write: input/output error")}
	const failedLine = "the store failed, not the kit"

	w.storeFailed(c, kitAttrs(c.Path, "", ""), storeErr)
	if n := strings.Count(logs.String(), failedLine); n != 1 {
		t.Fatalf("first store failure logged %d times, want 1:\n%s", n, logs.String())
	}

	now = now.Add(5 * time.Minute)
	if _, err := w.round(context.Background()); err != nil {
		t.Fatalf("round: %v\n%s", err, logs.String())
	}
	if _, ok := watch.ReadNote(junk); !ok {
		t.Fatalf("round did not reach junk.tar:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "round finished without a store failure") {
		t.Errorf("round without a store failure did not log that the failure ended:\n%s", logs.String())
	}

	now = now.Add(10 * time.Minute)
	w.storeFailed(c, kitAttrs(c.Path, "", ""), storeErr)
	if n := strings.Count(logs.String(), failedLine); n != 2 {
		t.Errorf("store failure after a round without one logged %d times in all, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "failedRounds=2") {
		t.Errorf("new store failure counted with the earlier one:\n%s", logs.String())
	}
}
