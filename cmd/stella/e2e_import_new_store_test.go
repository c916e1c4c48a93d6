package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

	// Folders created on the way to a new store folder go too, up to the
	// one that existed.
	nested := filepath.Join(e.dir, "sites", "east", "store")
	r = e.run("--store", nested, "ouk", "import", "--key", e.pub, series[1].delta)
	if r.code != exitRejected {
		t.Fatalf("import of a delta into a new nested store: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "sites")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected import left the folders it created for %s behind (stat: %v)", nested, err)
	}
	if _, err := os.Stat(e.dir); err != nil {
		t.Errorf("rejected import removed the existing folder %s: %v", e.dir, err)
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

// TestNewStoreAmongOtherFilesWarns checks that an import which creates a
// store in a folder of other files, such as a feed folder given to
// --store by mistake, warns and names the folder. A folder that contains
// only store files, or an existing store, gets no warning.
func TestNewStoreAmongOtherFilesWarns(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	const warning = "a folder that contains other files but no store"

	feeds := filepath.Join(e.dir, "feeds")
	if err := os.MkdirAll(filepath.Join(feeds, "osv"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.run("--store", feeds, "ouk", "import", "--key", e.pub, kit)
	if r.code != 0 {
		t.Fatalf("import into a folder of other files: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{warning, feeds, "--store", "osv"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import into a folder of other files: stderr does not mention %q:\n%s", want, r.stderr)
		}
	}
	r = e.run("--store", feeds, "ouk", "import", "--key", e.pub, kit)
	if strings.Contains(r.stderr, warning) {
		t.Errorf("import into an existing store warns about a new store:\n%s", r.stderr)
	}

	// keys/ and config.yaml belong to a store folder that an operator
	// prepared before the first import.
	prepared := filepath.Join(e.dir, "prepared")
	if err := os.MkdirAll(filepath.Join(prepared, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prepared, "config.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.run("--store", prepared, "ouk", "import", "--key", e.pub, kit)
	if r.code != 0 || strings.Contains(r.stderr, warning) {
		t.Errorf("import into a prepared store folder: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// A store path that is a symbolic link to a folder that does not exist
// gets a message that names the link's target, where creating the
// folder failed with "file exists" before.
func TestStorePathDanglingLink(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	target := filepath.Join(e.dir, "missing-target")
	link := filepath.Join(e.dir, "store-link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r := e.run("--store", link, "ouk", "import", "--key", e.pub, kit)
	if r.code == 0 {
		t.Fatalf("import into a store path that is a dangling link succeeded\n%s", r.stderr)
	}
	want := link + ": it is a symbolic link to " + target + ", which does not exist"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("import into a dangling link: stderr lacks %q:\n%s", want, r.stderr)
	}
}
