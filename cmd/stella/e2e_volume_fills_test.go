package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newFeedsCopy copies the fixture feeds into the test folder with the
// modified time of one record changed, so a kit built from the copy has DB
// layers that a kit built from the fixture feeds lacks.
func (e *env) newFeedsCopy(name string) string {
	e.t.Helper()
	src := filepath.Join(repoRoot(e.t), "testdata", "feeds")
	dst := filepath.Join(e.dir, name)
	for _, feed := range []string{"osv", "regional"} {
		if err := os.CopyFS(filepath.Join(dst, feed), os.DirFS(filepath.Join(src, feed))); err != nil {
			e.t.Fatal(err)
		}
	}
	record := filepath.Join(dst, "osv", "STELLA-DEMO-2026-0001.json")
	data, err := os.ReadFile(record)
	if err != nil {
		e.t.Fatal(err)
	}
	changed := bytes.Replace(data, []byte(`"modified": "2026-11-02T09:30:00Z"`), []byte(`"modified": "2026-11-03T09:30:00Z"`), 1)
	if bytes.Equal(changed, data) {
		e.t.Fatalf("%s has no modified time to change", record)
	}
	if err := os.WriteFile(record, changed, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return dst
}

// afterLargeEntries returns the offset in the tar file kit just past the
// data of its last entry of at least size bytes, before the padding and
// the header of the next entry.
func afterLargeEntries(t *testing.T, kit []byte, size int64) int64 {
	t.Helper()
	r := bytes.NewReader(kit)
	tr := tar.NewReader(r)
	cut := int64(-1)
	previousLarge := false
	for {
		// The loop reads each entry to its end, so before Next the
		// reader is at the end of the previous entry's data.
		offset := int64(len(kit)) - int64(r.Len())
		if previousLarge {
			cut = offset
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		previousLarge = h.Size >= size
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatal(err)
		}
	}
	if cut < 0 || previousLarge {
		t.Fatalf("the kit has no entry after one of %d bytes or more", size)
	}
	return cut
}

// waitForTables polls the store folder until it holds n tables of at
// least size bytes. It fails the test when the process exits, which
// closes exited, or after a minute.
func waitForTables(t *testing.T, dir string, n int, size int64, exited <-chan struct{}, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		found := 0
		for _, entry := range entries {
			if info, err := entry.Info(); err == nil && strings.HasSuffix(entry.Name(), ".sst") && info.Size() >= size {
				found++
			}
		}
		if found >= n {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process exited before %s held %d tables of %d bytes:\n%s", dir, n, size, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d tables of %d bytes after a minute, want %d:\n%s", dir, found, size, n, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestImportExitsWhenVolumeFills fills the store's volume while a kit
// streams in through stdin, after the import stored the image layers and
// before it reads the new DB layer, whose index then finds no room. The
// import must remove that index, give up on the compaction that would free
// its space and on removing its blobs, and exit with the disk-full message
// instead of waiting for a flush that cannot succeed. The store must then
// keep the active kit, and gc and the import must work once there is room
// again.
func TestImportExitsWhenVolumeFills(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 64<<20)
	e.store = filepath.Join(volume, "store")
	before, kit := e.importBeforeVolumeFills()

	e.importWhileVolumeFills(volume, kit)
	e.checkAfterVolumeFilled(volume, before, kit)
}

// TestServiceImportExitsWhenVolumeFills runs the import of
// TestImportExitsWhenVolumeFills in the store service, which keeps the
// store open after the import fails.
func TestServiceImportExitsWhenVolumeFills(t *testing.T) {
	e := newEnv(t)
	volume := mountSmallVolume(t, 64<<20)
	e.store = filepath.Join(volume, "store")
	before, kit := e.importBeforeVolumeFills()
	svc := e.startService()

	e.importWhileVolumeFills(volume, kit)
	e.checkAfterVolumeFilled(volume, before, kit)
	if strings.Contains(svc.stderr.String(), "panic:") {
		t.Errorf("the store service panicked:\n%s", svc.stderr.String())
	}
	svc.stopService(t, e.store)
}

// importBeforeVolumeFills imports a first kit and builds a second one with
// an image and a new DB layer. It returns the active kit's digest and the
// second kit's path.
func (e *env) importBeforeVolumeFills() (string, string) {
	e.t.Helper()
	first := e.buildKit("first.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, first)
	feeds := e.newFeedsCopy("feeds")
	kit := filepath.Join(e.dir, "kit.tar")
	e.must("ouk", "build", "-o", kit, "--key", e.key, "--version", "2.0.0", "--sequence", "2",
		"--feed", "osv="+filepath.Join(feeds, "osv"),
		"--feed", "regional:demo-cert="+filepath.Join(feeds, "regional"),
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(e.t, e.dir))
	return e.activeDigest(), kit
}

// importWhileVolumeFills streams kitPath to `stella ouk import -` and
// fills volume once the import stored the image layers, then checks that
// the import fails with exit 1 and the disk-full message, and warns which
// blobs it left for gc.
func (e *env) importWhileVolumeFills(volume, kitPath string) {
	t := e.t
	t.Helper()
	kit, err := os.ReadFile(kitPath)
	if err != nil {
		t.Fatal(err)
	}
	// stella ouk build writes the DB layers after the image layers, so
	// the stream stops before the new DB layer.
	cut := afterLargeEntries(t, kit, 3<<20)

	args := []string{"ouk", "import", "--key", e.pub, "-"}
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := e.startBackground(cmd, args)
	if _, err := stdin.Write(kit[:cut]); err != nil {
		t.Fatalf("writing the kit up to its DB layers: %v\n%s", err, w.stderr.String())
	}
	// Each image layer goes into a table of its own, so the import
	// has stored them once the store holds two such tables.
	waitForTables(t, filepath.Join(e.store, storeDBDir), 2, 3<<20, w.exited, &w.stderr)
	fillVolume(t, volume, 0)
	// The import may stop before it reads the rest, which closes the pipe.
	_, _ = stdin.Write(kit[cut:])
	_ = stdin.Close()

	// result fails the test when the import still runs a minute later:
	// that bound catches a hang, not a slow import.
	r := w.result(t, "the volume filled")
	if r.code != exitError {
		t.Errorf("import on a volume that filled: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, ": disk full") {
		t.Errorf("import on a volume that filled: message does not end in disk full:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "free space on that volume") {
		t.Errorf("import on a volume that filled: message does not say what to do:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "could not remove the blobs of the failed import") {
		t.Errorf("import on a volume that filled: no warning about the blobs it left:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "run `stella ouk gc` to remove them") {
		t.Errorf("import on a volume that filled: the warning does not name stella ouk gc:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "panic:") {
		t.Errorf("import on a volume that filled panicked:\n%s", r.stderr)
	}
}

// checkAfterVolumeFilled frees volume and checks that the active kit is
// before, and that gc and then the import of kit succeed.
func (e *env) checkAfterVolumeFilled(volume, before, kit string) {
	t := e.t
	t.Helper()
	if err := os.Remove(filepath.Join(volume, "filler")); err != nil {
		t.Fatal(err)
	}
	if got := e.activeDigest(); got != before {
		t.Errorf("after the import on a volume that filled, active kit %q, want %q", got, before)
	}
	e.must("ouk", "gc")
	e.must("ouk", "import", "--key", e.pub, kit)
	if st := e.status(); st.Active == nil || st.Active.Version != "2.0.0" {
		t.Errorf("after the import with room again, active kit %+v, want version 2.0.0", st.Active)
	}
}
