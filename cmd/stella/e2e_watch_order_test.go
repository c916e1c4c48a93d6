package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// TestWatchAcceptsIndexAfterBlobs checks that the watch imports a kit file
// whose index.json comes after its blobs, as a tar written by other tools
// from a layout folder may have it.
func TestWatchAcceptsIndexAfterBlobs(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	drop := filepath.Join(e.dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	reorderTar(t, kit, filepath.Join(drop, "kit.tar"))
	e.must("ouk", "watch", "--once", "--key", e.pub, drop)
	if got := e.activeDigest(); got == "" {
		t.Fatal("no kit is active after the watch")
	}
}

// reorderTar copies the tar at src to dst with its blobs first.
func reorderTar(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	type entry struct {
		hdr  *tar.Header
		data []byte
	}

	var blobs, rest []entry
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(hdr.Name) == "index.json" || filepath.Base(hdr.Name) == "oci-layout" {
			rest = append(rest, entry{hdr, data})
		} else {
			blobs = append(blobs, entry{hdr, data})
		}
	}

	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	for _, en := range append(blobs, rest...) {
		if err := tw.WriteHeader(en.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(en.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWatchMissingFolder checks the messages and exit codes for a drop
// folder that does not exist and for a file given as the folder.
func TestWatchMissingFolder(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "watch", "--once", filepath.Join(e.dir, "absent"))
	if r.code != exitError || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing folder: exit %d, stderr %q; want exit %d saying it does not exist", r.code, r.stderr, exitError)
	}
	r = e.run("ouk", "watch", "--once", e.pub)
	if r.code != exitUsage || !strings.Contains(r.stderr, "is a file, not a folder") {
		t.Errorf("file as folder: exit %d, stderr %q; want exit %d", r.code, r.stderr, exitUsage)
	}
}

// TestWatchConflictEndedByHandImport checks that when the operator imports
// one of two conflicting kits by hand, the next round removes that kit's
// conflict note as already active instead of calling its file a damaged
// copy.
func TestWatchConflictEndedByHandImport(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	rebuilt := e.buildKit("rebuilt-02.tar.zst", "--version", "rebuilt-02", "--sequence", "2")
	drop := e.newDrop("drop", series[1].full, rebuilt)
	night := filepath.Join(drop, filepath.Base(series[1].full))
	if r := e.run("ouk", "watch", "--once", "--key", e.pub, drop); r.code != exitRejected {
		t.Fatalf("watch --once with two kits of sequence 2: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	e.importJSON(night)
	if err := os.Remove(filepath.Join(drop, "rebuilt-02.tar.zst")); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once after the hand import: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "Remove the file") {
		t.Errorf("watch --once calls the active kit's file a damaged copy:\n%s", r.stderr)
	}
	if _, err := os.Stat(watch.NotePath(night)); err == nil {
		t.Error("the conflict note of the active kit's file was left behind")
	}
}

// TestVerifyNamesStreamOrder checks that verify fails a kit file whose
// index.json comes after a large blob, which import rejects. The message
// points to a folder import instead of calling the kit damaged.
func TestVerifyNamesStreamOrder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--image", "registry.example.test/stella-ops/scanner:0.1.0="+bigImage(t, e.dir))
	reordered := filepath.Join(e.dir, "reordered.tar")
	reorderTar(t, kit, reordered)
	r := e.run("ouk", "verify", "--key", e.pub, reordered)
	if r.code != exitRejected {
		t.Errorf("verify of a blobs-first kit: exit %d, want %d", r.code, exitRejected)
	}
	if !strings.Contains(r.stderr, "cannot be imported as a file") {
		t.Errorf("verify of a blobs-first kit does not name the file order: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "damaged") {
		t.Errorf("verify of a blobs-first kit calls it damaged: %q", r.stderr)
	}
	e.must("ouk", "verify", "--key", e.pub, kit)
}
