package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestDeltaMissingOwnBlobIsIncomplete(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.importJSON(series[0].full)
	before := e.activeDigest()

	// Unpack the delta and drop its largest blob, which a delta carries
	// because the base lacks it: the new overlay layer.
	raw, err := os.ReadFile(series[1].delta)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecodeAll(raw, nil)
	dec.Close()
	if err != nil {
		t.Fatal(err)
	}
	unpacked := filepath.Join(e.dir, "delta.tar")
	os.WriteFile(unpacked, plain, 0o644)
	k := &kitParts{entries: readTar(t, unpacked)}
	largest := 0
	for i, en := range k.entries {
		if strings.HasPrefix(en.hdr.Name, "blobs/") && len(en.data) > len(k.entries[largest].data) {
			largest = i
		}
	}
	k.remove(k.entries[largest].hdr.Name)
	cut := e.write(t, "cut-delta.tar", k)

	r := e.run("ouk", "import", "--key", e.pub, cut)
	if r.code != exitRejected {
		t.Fatalf("incomplete delta: exit %d, want %d: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "incomplete") || strings.Contains(r.stderr, "first") {
		t.Errorf("error should call the delta incomplete, not ask for its base: %s", r.stderr)
	}
	if got := e.activeDigest(); got != before {
		t.Errorf("active kit changed to %s", got)
	}
}

func TestWatchWaitsForEmptyFile(t *testing.T) {
	e := newEnv(t)
	drop := filepath.Join(e.dir, "drop")
	os.MkdirAll(drop, 0o755)
	empty := filepath.Join(drop, "copying.tar.zst")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch --once over a file being copied: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(empty + ".stella-rejected"); err == nil {
		t.Errorf("an empty file, the start of a copy, was marked rejected")
	}
}
