package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRejectedImportLeavesNoNewStore(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)

	// A store folder that does not exist stays absent.
	absent := filepath.Join(e.dir, "store3")
	r := e.run("--store", absent, "ouk", "import", "--key", e.pub, series[1].delta)
	if r.code != exitRejected {
		t.Fatalf("import of a delta into a new store: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if _, err := os.Stat(absent); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected import left the store folder %s behind (stat: %v)", absent, err)
	}

	// A store folder that exists without a store keeps its other files.
	folder := filepath.Join(e.dir, "store4")
	keys := filepath.Join(folder, "keys")
	if err := os.MkdirAll(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	r = e.run("--store", folder, "ouk", "import", series[1].delta)
	if r.code != exitRejected {
		t.Fatalf("import of a delta into an empty store folder: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(folder, "db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected import left a store in %s (stat: %v)", folder, err)
	}
	if _, err := os.Stat(keys); err != nil {
		t.Errorf("rejected import removed the existing keys folder: %v", err)
	}

	// A store that holds a kit stays as it was.
	e.importJSON(series[0].full)
	r = e.run("ouk", "import", "--key", e.pub, filepath.Join(e.dir, "missing.tar.zst"))
	if r.code == 0 {
		t.Fatalf("import of a missing file succeeded")
	}
	if got := e.activeDigest(); got != series[0].digest {
		t.Errorf("after a failed import the active kit is %s, want %s", got, series[0].digest)
	}

	// A kit that imports into a new store keeps it.
	fresh := filepath.Join(e.dir, "store5")
	e.must("--store", fresh, "ouk", "import", "--key", e.pub, series[0].full)
	if _, err := os.Stat(filepath.Join(fresh, "db")); err != nil {
		t.Errorf("store of a successful import: %v", err)
	}
}
