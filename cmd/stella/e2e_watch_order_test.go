package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/importer"
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
	reorderTarBy(t, src, dst, func(hdr *tar.Header, _ []byte) int {
		if base := filepath.Base(hdr.Name); base == "index.json" || base == "oci-layout" {
			return 1
		}
		return 0
	})
}

// reorderTarBy copies the tar at src to dst with its entries sorted by
// rank of their header and bytes, keeping the order of entries of equal
// rank.
func reorderTarBy(t *testing.T, src, dst string, rank func(hdr *tar.Header, data []byte) int) {
	t.Helper()
	entries := readTar(t, src)
	sort.SliceStable(entries, func(i, j int) bool {
		return rank(&entries[i].hdr, entries[i].data) < rank(&entries[j].hdr, entries[j].data)
	})
	writeTar(t, dst, entries)
}

// assertBothReject checks that import and verify of the kit file at path
// both reject it, and that verify's message contains want.
func (e *env) assertBothReject(path, want string) {
	e.t.Helper()
	if r := e.run("ouk", "import", "--key", e.pub, path); r.code != exitRejected {
		e.t.Fatalf("import of %s: exit %d, want %d\n%s", filepath.Base(path), r.code, exitRejected, r.stderr)
	}
	r := e.run("ouk", "verify", "--key", e.pub, path)
	if r.code != exitRejected {
		e.t.Errorf("verify of %s: exit %d, want %d\n%s", filepath.Base(path), r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		e.t.Errorf("verify of %s: stderr lacks %q: %q", filepath.Base(path), want, r.stderr)
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

// TestVerifyLargeBlobBeforeSignature checks that verify fails a kit file
// that lists index.json first but carries a large blob before the
// manifests and signatures, which import rejects because it cannot check
// the signature before that blob.
func TestVerifyLargeBlobBeforeSignature(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--image", "registry.example.test/stella-ops/scanner:0.1.0="+bigImage(t, e.dir))
	reordered := filepath.Join(e.dir, "reordered.tar")
	reorderTarBy(t, kit, reordered, func(hdr *tar.Header, _ []byte) int {
		switch {
		case filepath.Base(hdr.Name) == "oci-layout" || filepath.Base(hdr.Name) == "index.json":
			return 0
		case hdr.Size > importer.MaxManifestSize:
			return 1
		}
		return 2
	})
	e.assertBothReject(reordered, "before the manifests that index.json lists")
}

// TestVerifyLayerBeforeItsManifest checks that verify fails a kit file
// whose signatures come first but whose large layer comes before the image
// manifest that lists it, which import rejects as a blob outside the
// signed kit.
func TestVerifyLayerBeforeItsManifest(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--image", "registry.example.test/stella-ops/scanner:0.1.0="+bigImage(t, e.dir))
	reordered := filepath.Join(e.dir, "reordered.tar")
	reorderTarBy(t, kit, reordered, func(hdr *tar.Header, data []byte) int {
		switch {
		case hdr.Size > importer.MaxManifestSize:
			return 1
		case listsLargeLayer(data):
			return 2
		}
		return 0
	})
	e.assertBothReject(reordered, "not reached from index.json by the manifests before it")
}

// listsLargeLayer reports whether data is an image manifest with a layer
// over the manifest size limit.
func listsLargeLayer(data []byte) bool {
	var m ocispec.Manifest
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	for _, l := range m.Layers {
		if l.Size > importer.MaxManifestSize {
			return true
		}
	}
	return false
}

// TestVerifyUnreferencedBlob checks that verify fails a kit file that
// carries a small blob nothing references, which import rejects.
func TestVerifyUnreferencedBlob(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	extra := filepath.Join(e.dir, "extra.tar")
	entries := append(readTar(t, kit), blobEntry([]byte("a blob that nothing in index.json references")))
	writeTar(t, extra, entries)
	e.assertBothReject(extra, "nothing in index.json references")
}

// TestStreamOrderUnsignedBlobLimit checks that the order check counts the
// blobs that import stores before it can check the signature, up to its
// limit of importer.MaxUnsignedBlobs.
func TestStreamOrderUnsignedBlobLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.tar")
	var entries []tarEntry
	for i := 0; i <= importer.MaxUnsignedBlobs; i++ {
		entries = append(entries, blobEntry([]byte(strconv.Itoa(i))))
	}
	writeTar(t, path, entries)
	problem := streamOrderProblem(path)
	if !strings.Contains(problem, strconv.Itoa(importer.MaxUnsignedBlobs)+" blobs") {
		t.Errorf("streamOrderProblem of %d blobs before index.json = %q, want the blob limit named", importer.MaxUnsignedBlobs+1, problem)
	}
}
