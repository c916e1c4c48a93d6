package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportFolderMissingLayer imports a layout folder that lacks an image
// layer, as one still being copied does. The import fails with a message
// that names the missing file and keeps the verified blobs it stored, so
// the import of the completed folder stores only the rest. A watch run
// logs the same message.
func TestImportFolderMissingLayer(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+demoImage(t, e.dir))
	drop := filepath.Join(e.dir, "drop")
	dir := filepath.Join(drop, "layout")
	extractTar(t, kit, dir)

	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	var layer string
	var layerSize int64
	for _, entry := range entries {
		info, err := entry.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > layerSize {
			layer, layerSize = filepath.Join(blobs, entry.Name()), info.Size()
		}
	}
	layerBytes, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(layer); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "import", "--key", e.pub, "-o", "json", dir)
	if r.code != exitRejected {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRejected, r.stdout, r.stderr)
	}
	var failure importFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("stdout is not the import failure object (%v): %q", err, r.stdout)
	}
	if !strings.Contains(failure.Error, layer) {
		t.Errorf("error %q does not name the missing file %s", failure.Error, layer)
	}
	if !strings.Contains(failure.Error, "copy it again") {
		t.Errorf("error %q does not say to copy the folder again", failure.Error)
	}
	if strings.Contains(failure.Error, "unexpected EOF") {
		t.Errorf("error %q shows the EOF text of a truncated file", failure.Error)
	}
	if failure.Reason != "invalid-kit" {
		t.Errorf("reason %q, want invalid-kit", failure.Reason)
	}
	if len(e.storeBlobs()) == 0 {
		t.Fatal("the failed import removed the verified blobs it stored")
	}

	// A watch --once run rejects the folder at once and logs the same
	// message.
	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once: exit %d, want %d\nstderr: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, layer) {
		t.Errorf("watch log does not name the missing file %s: %s", layer, r.stderr)
	}
	if strings.Contains(r.stderr, "unexpected EOF") {
		t.Errorf("watch log shows the EOF text of a truncated file: %s", r.stderr)
	}

	if err := os.WriteFile(layer, layerBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	var res struct {
		BlobsSkipped int `json:"blobsSkipped"`
	}
	out := e.must("ouk", "import", "--key", e.pub, "-o", "json", dir)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding the import report: %v\n%s", err, out)
	}
	if res.BlobsSkipped == 0 {
		t.Errorf("the import of the completed folder stored every blob again: %s", out)
	}
}
