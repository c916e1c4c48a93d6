package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
)

// newDrop creates a drop folder holding hard links to the given kits.
func (e *env) newDrop(name string, kits ...string) string {
	e.t.Helper()
	drop := filepath.Join(e.dir, name)
	if err := os.MkdirAll(drop, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, k := range kits {
		if err := os.Link(k, filepath.Join(drop, filepath.Base(k))); err != nil {
			e.t.Fatal(err)
		}
	}
	return drop
}

func TestWatchKeepsRollback(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	e.importJSON(series[1].delta)
	e.must("ouk", "rollback", "--key", e.pub)
	if got := e.activeDigest(); got != series[0].digest {
		t.Fatalf("after rollback, active %s; want night 1 %s", got, series[0].digest)
	}

	drop := e.newDrop("drop", series[0].full, series[1].full, series[1].delta)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("watch undid the rollback: active %s, want night 1 %s", got, series[0].digest)
	}
	if strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("watch imported a rolled-back kit:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "was active before"); n != 2 {
		t.Errorf("watch logged %d skips of the rolled-back kit, want 2 (full and delta):\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "version=night-02") || !strings.Contains(r.stderr, series[1].digest) {
		t.Errorf("skip not logged with version and digest:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit already active; skipped"`) {
		t.Errorf("no skip logged for the active kit's file:\n%s", r.stderr)
	}

	// An operator's own import still activates it.
	e.importJSON(series[1].delta)
	if got := e.activeDigest(); got != series[1].digest {
		t.Errorf("import by hand: active %s, want night 2 %s", got, series[1].digest)
	}
}

func TestWatchOnceRejectsTruncatedKit(t *testing.T) {
	e := newEnv(t)
	drop := e.newDrop("drop")
	cut := filepath.Join(drop, "cut.tar.zst")
	writeFirstHalf(t, e.buildKit("kit.tar.zst"), cut)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once with a truncated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit rejected; left in place"`) {
		t.Errorf("truncated kit not logged as rejected:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, `version=""`) || strings.Contains(r.stderr, `digest=""`) {
		t.Errorf("log has empty version or digest fields:\n%s", r.stderr)
	}
	note, ok := watch.ReadNote(cut)
	if !ok {
		t.Fatalf("no rejection note beside the truncated kit")
	}
	if !strings.Contains(note.Reason, "truncated") || !strings.Contains(note.Reason, "copy the kit file again") {
		t.Errorf("note reason %q does not say the file is truncated and what to do", note.Reason)
	}
	if n := strings.Count(note.Reason, "copy the kit file again"); n != 1 {
		t.Errorf("note reason %q gives the advice %d times, want once", note.Reason, n)
	}

	// A second run counts the kit again and names it.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("second run: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit remains rejected; skipped" path=`+cut) {
		t.Errorf("second run does not name the kit it counts as rejected:\n%s", r.stderr)
	}
}

// writeFirstHalf writes the first half of the file at src to dst, as a copy
// cut short midway leaves it.
func writeFirstHalf(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportFlippedByteRejected(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	// The zstd frame ends with a checksum of its content: flipping a bit
	// of it makes the decoder fail however the data decodes.
	raw[len(raw)-1] ^= 0xff
	flipped := filepath.Join(e.dir, "flipped.tar.zst")
	if err := os.WriteFile(flipped, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "import", "--key", e.pub, flipped)
	if r.code != exitRejected {
		t.Errorf("import of a corrupt kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "copy the kit file again") {
		t.Errorf("error does not advise copying the file again:\n%s", r.stderr)
	}
}

func TestWatchOnceSkipsDamagedCopyOfActiveKit(t *testing.T) {
	e := newEnv(t)
	// An uncompressed kit, so the entries before the cut stay readable
	// and the rejection note can name the kit.
	kit := e.buildKit("kit.tar")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	drop := e.newDrop("drop")
	cut := filepath.Join(drop, "cut.tar")
	if err := os.WriteFile(cut, raw[:len(raw)*9/10], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once with a truncated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if note, ok := watch.ReadNote(cut); !ok || note.Digest == "" {
		t.Fatalf("the rejection note does not name the kit's digest: %+v", note)
	}

	// The intact kit arrives another way; the damaged copy is then no
	// reason to fail the run.
	e.importJSON(kit)
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the kit became active: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "the kit it carries is active") {
		t.Errorf("watch does not say why it skips the damaged copy:\n%s", r.stderr)
	}
}

func TestWatchOnceLeavesEmptyFileForLater(t *testing.T) {
	e := newEnv(t)
	drop := e.newDrop("drop")
	if err := os.WriteFile(filepath.Join(drop, "copying.tar.zst"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--verbose", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once with an empty file: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "retrying next round") {
		t.Errorf("watch --once promises a next round it does not run:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped until a later run") {
		t.Errorf("watch --once does not say the empty file waits for a later run:\n%s", r.stderr)
	}
}

func TestWatchRejectionNamesImportOverride(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	kit := e.buildKitNoKey("unsigned.tar")
	dropped := filepath.Join(drop, "unsigned.tar")
	if err := os.Rename(kit, dropped); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch --once with an unsigned kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	want := "stella --store " + e.store + " ouk import --insecure-skip-signature --key " + e.pub + " " + dropped
	if !strings.Contains(r.stderr, want) {
		t.Errorf("rejection does not say to run %q:\n%s", want, r.stderr)
	}
	// A key cannot help a kit without a signature; a signed kit comes
	// first, before the unsafe way.
	if !strings.Contains(r.stderr, "Ask its builder for a signed kit") || strings.Contains(r.stderr, "public key into") {
		t.Errorf("rejection of an unsigned kit does not ask for a signed kit first:\n%s", r.stderr)
	}
	// Only a build with --key signs a kit. stella ouk sign writes a
	// detached .sig file, which neither import nor watch reads.
	note, ok := watch.ReadNote(dropped)
	if !ok {
		t.Fatalf("no rejection note beside %s", dropped)
	}
	if !strings.Contains(note.Reason, "stella ouk build --key") {
		t.Errorf("note of an unsigned kit does not name stella ouk build --key: %q", note.Reason)
	}
	if strings.Contains(note.Reason, "or stella ouk sign") {
		t.Errorf("note of an unsigned kit advises stella ouk sign, whose .sig file import never reads: %q", note.Reason)
	}
	// The import's own advice names a flag that watch lacks.
	if strings.Contains(r.stderr, "or pass --insecure-skip-signature to override") {
		t.Errorf("rejection advises a flag that watch lacks:\n%s", r.stderr)
	}

	// A kit of another key: installing the builder's key comes first.
	otherKey, _ := e.keygen("other-keys")
	other := e.buildKit("other.tar", "--version", "other", "--sequence", "3", "--key", otherKey)
	if err := os.Rename(other, filepath.Join(drop, "other.tar")); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if keys := "put the builder's public key into " + filepath.Join(e.store, "keys"); !strings.Contains(r.stderr, keys) {
		t.Errorf("rejection of another key's kit does not say to %s:\n%s", keys, r.stderr)
	}
	if strings.Contains(r.stderr, "or pass --insecure-skip-signature to override") {
		t.Errorf("rejection advises a flag that watch lacks:\n%s", r.stderr)
	}
	note, ok = watch.ReadNote(filepath.Join(drop, "other.tar"))
	if !ok {
		t.Fatalf("no rejection note beside %s", filepath.Join(drop, "other.tar"))
	}
	if n := strings.Count(note.Reason, "public key into"); n != 1 {
		t.Errorf("note of another key's kit advises adding the key %d times, want once: %q", n, note.Reason)
	}
	if !strings.Contains(note.Reason, "the next round tries the kit again") {
		t.Errorf("note of another key's kit does not say that the next round tries it again: %q", note.Reason)
	}
}

func TestWatchRejectsKitsOfOneSequence(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	rebuilt := e.buildKit("rebuilt-02.tar.zst", "--version", "rebuilt-02", "--sequence", "2")
	rebuiltDigest := e.inspectDigest(rebuilt)
	drop := e.newDrop("drop", series[1].full, rebuilt)
	night := filepath.Join(drop, filepath.Base(series[1].full))
	other := filepath.Join(drop, "rebuilt-02.tar.zst")

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once with two kits of sequence 2: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("active %s, want night 1 %s: the watch imported one of two conflicting kits", got, series[0].digest)
	}
	note, ok := watch.ReadNote(night)
	if !ok {
		t.Fatalf("no rejection note beside %s", night)
	}
	for _, want := range []string{"rebuilt-02.tar.zst", rebuiltDigest, "remove the file you do not want"} {
		if !strings.Contains(note.Reason, want) {
			t.Errorf("note of night-02 %q does not contain %q", note.Reason, want)
		}
	}
	note, ok = watch.ReadNote(other)
	if !ok {
		t.Fatalf("no rejection note beside %s", other)
	}
	for _, want := range []string{"night-02.tar.zst", series[1].digest} {
		if !strings.Contains(note.Reason, want) {
			t.Errorf("note of rebuilt-02 %q does not contain %q", note.Reason, want)
		}
	}

	// Removing the unwanted file lets the other one in.
	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the conflict ended: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[1].digest {
		t.Errorf("active %s, want night 2 %s", got, series[1].digest)
	}
	if _, err := os.Stat(watch.NotePath(other)); err == nil {
		t.Errorf("the note of the removed file was left behind")
	}

	// A kit of the active kit's sequence is rejected naming the active kit.
	if err := os.Link(rebuilt, other); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once with a second kit of the active sequence: exit %d, want %d\n%s",
			r.code, exitRejected, r.stderr)
	}
	if note, _ := watch.ReadNote(other); !strings.Contains(note.Reason, "the active kit night-02") {
		t.Errorf("note %q does not name the active kit", note.Reason)
	}
	if strings.Contains(r.stderr, "rolled back") {
		t.Errorf("watch speaks of a rollback that did not happen:\n%s", r.stderr)
	}
	if got := e.activeDigest(); got != series[1].digest {
		t.Errorf("active %s, want night 2 %s", got, series[1].digest)
	}
}

// inspectDigest returns the bundle digest of a kit file.
func (e *env) inspectDigest(kit string) string {
	e.t.Helper()
	var res struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "-o", "json", kit)), &res); err != nil {
		e.t.Fatal(err)
	}
	if res.Digest == "" {
		e.t.Fatalf("ouk inspect of %s gave no digest", kit)
	}
	return res.Digest
}

func TestWatchOnceRetriesChangedFolder(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(e.buildKit("kit.tar"))
	if err != nil {
		t.Fatal(err)
	}
	drop := e.newDrop("drop")
	folder := filepath.Join(drop, "kit")
	extractKit(t, raw, folder)
	blobs := filepath.Join(folder, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	// The largest blob is a feed layer, never the bundle index.
	var largest string
	var largestSize int64
	for _, entry := range entries {
		info, err := entry.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > largestSize {
			largest, largestSize = entry.Name(), info.Size()
		}
	}
	heldBlob := filepath.Join(e.dir, largest)
	if err := os.Rename(filepath.Join(blobs, largest), heldBlob); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch --once with a blob missing from the folder: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if note, ok := watch.ReadNote(folder); !ok || !strings.Contains(note.Reason, "tries it again once its files change") {
		t.Errorf("folder note %+v does not say the folder is retried once it changes", note)
	}

	// The copy finishes. The folder's own size and modification time are
	// unchanged, but its contents are not.
	if err := os.Rename(heldBlob, filepath.Join(blobs, largest)); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the copy finished: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit imported" path=`+folder) {
		t.Errorf("completed folder not imported:\n%s", r.stderr)
	}
	if _, ok := watch.ReadNote(folder); ok {
		t.Errorf("the note of the imported folder was left behind")
	}
}

func TestWatchLogsSkippedEntries(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop")
	// FAT media often store names in capitals.
	if err := os.Link(kit, filepath.Join(drop, "KIT.TAR.ZST")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"readme.txt", "notes"} {
		if err := os.WriteFile(filepath.Join(drop, name), []byte("text"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(drop, "pipe.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop.tar", filepath.Join(drop, "loop.tar")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(drop, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "watch", "--once", "-v", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit imported" path=`+filepath.Join(drop, "KIT.TAR.ZST")) {
		t.Errorf("kit named in capitals not imported:\n%s", r.stderr)
	}
	for _, name := range []string{"readme.txt", "notes", "pipe.tar", "loop.tar", "photos"} {
		n := 0
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "not a kit; skipped: ") && strings.HasSuffix(line, "path="+filepath.Join(drop, name)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("skip of %s logged %d times with its reason, want once:\n%s", name, n, r.stderr)
		}
	}
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if strings.Contains(r.stderr, "not a kit") {
		t.Errorf("skipped entries logged without -v:\n%s", r.stderr)
	}
}

func TestWatchOnceRetriesAfterImport(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	// A delta from night 1 straight to night 3, named so that it sorts
	// after the delta that needs night 2.
	skip := filepath.Join(e.dir, "z-night-03-from-01.delta.tar.zst")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[2].full, "-o", skip, "--key", e.key)
	drop := e.newDrop("drop", series[2].delta, skip)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once: exit %d, want 0 since night 3 ended active\n%s", r.code, r.stderr)
	}
	if got := e.activeDigest(); got != series[2].digest {
		t.Errorf("active %s, want night 3 %s", got, series[2].digest)
	}
	if note, ok := watch.ReadNote(filepath.Join(drop, filepath.Base(series[2].delta))); ok {
		t.Errorf("the delta that needs night 2 keeps its note although night 3 is active: %+v", note)
	}
	if !strings.Contains(r.stderr, `msg="kit already active; skipped" path=`+filepath.Join(drop, filepath.Base(series[2].delta))) {
		t.Errorf("the delta that needs night 2 is not logged as already active:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, `msg="kit imported"`); n != 1 {
		t.Errorf("%d imports logged, want 1:\n%s", n, r.stderr)
	}
}

// syncBuffer is a bytes.Buffer that a test reads while a process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatchRunningLogsOnceAndStops(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	e.importJSON(kit)
	drop := e.newDrop("drop", kit)
	if err := os.WriteFile(filepath.Join(drop, "readme.txt"), []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The note of a kit that the operator has removed since.
	removedKit := filepath.Join(drop, "removed.tar")
	if err := watch.WriteNote(removedKit, watch.Note{Reason: "invalid kit", At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "watch", "-v", "--interval", "600ms", "--key", e.pub, drop)
	cmd.Env = append(os.Environ(), "STELLA_HOME="+e.store)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stderr.String(), `msg="drop folder scanned"`) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// Between rounds the watch leaves nothing half done. The scan line
	// opens a round, which takes milliseconds here, so the signal waits
	// for it to end and comes well before the next one starts.
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	out := stderr.String()
	if n := strings.Count(out, `msg="drop folder scanned"`); n < 4 {
		t.Fatalf("the watch ran %d rounds, want at least 4:\n%s", n, out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("watch stopped between rounds: exit %d, want 0\n%s", code, out)
	}
	if n := strings.Count(out, `msg="kit already active; skipped"`); n != 1 {
		t.Errorf("the active kit's file was logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "path="+filepath.Join(drop, "readme.txt")); n != 1 {
		t.Errorf("the skip of readme.txt was logged %d times, want once:\n%s", n, out)
	}
	if _, err := os.Stat(watch.NotePath(removedKit)); err == nil {
		t.Errorf("the note of the removed kit was left behind")
	}
	if !strings.Contains(out, "removed the rejection note of a kit no longer in the drop folder") {
		t.Errorf("removing the orphaned note is not logged:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `msg="watch stopped"`) {
		t.Errorf("last line %q does not say the watch stopped", last)
	}
}

// cancelOnLog cancels a context when a record whose message contains
// trigger is logged through it.
type cancelOnLog struct {
	trigger string
	cancel  context.CancelFunc
}

func (h cancelOnLog) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h cancelOnLog) WithGroup(string) slog.Handler            { return h }

func (h cancelOnLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.trigger) {
		h.cancel()
	}
	return nil
}

func TestWatchSignalDuringImport(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)

	// The importer's line for the verified signature cancels the run, as
	// a signal that arrives while the import reads the kit would.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	w := newWatcher(&globalOptions{store: e.store, lockWait: time.Second},
		&watchOptions{keys: []string{e.pub}, once: true, settle: time.Minute}, drop, &logs)
	w.importLog = slog.New(cancelOnLog{trigger: "kit verified", cancel: cancel})

	res, err := w.round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.interruptedKit != filepath.Join(drop, "kit.tar.zst") {
		t.Fatalf("round result %+v does not name the interrupted import:\n%s", res, logs.String())
	}
	if err := w.stopped(res); !errors.Is(err, context.Canceled) {
		t.Errorf("stopped returned %v, want an error wrapping context.Canceled, which exits 130", err)
	}
	lines := checkLogLines(t, logs.String())
	if last := lines[len(lines)-1]; !strings.Contains(last, "level=WARN") || !strings.Contains(last, "path="+res.interruptedKit) {
		t.Errorf("last line %q is not a warning naming the interrupted kit", last)
	}
	if _, ok := watch.ReadNote(filepath.Join(drop, "kit.tar.zst")); ok {
		t.Errorf("the interrupted kit was rejected")
	}
	if got := e.activeDigest(); got != "" {
		t.Errorf("active kit %s after an interrupted import, want none", got)
	}
}

// TestWatchBaseMissingNamesFullKit checks that the note of a delta that
// the watch rejects for its missing base names the full kit file beside
// the delta, as `stella ouk import` of the file does.
func TestWatchBaseMissingNamesFullKit(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(3)
	e.importJSON(series[0].full)
	drop := e.newDrop("drop", series[2].delta)
	deltaPath := filepath.Join(drop, filepath.Base(series[2].delta))

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch --once: exit %d, want %d for the delta without its base\n%s", r.code, exitRejected, r.stderr)
	}
	note, ok := watch.ReadNote(deltaPath)
	if !ok {
		t.Fatalf("the delta without its base has no note:\n%s", r.stderr)
	}
	if want := "as " + delta.FullKitName(deltaPath); !strings.Contains(note.Reason, want) {
		t.Errorf("note reason does not name the full kit %q:\n%s", want, note.Reason)
	}
}
