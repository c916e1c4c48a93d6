package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportEmptyKitArgument checks that an empty kit argument, as from an
// unset shell variable, is a usage error whose message names the problem.
func TestImportEmptyKitArgument(t *testing.T) {
	e := newEnv(t)
	for _, command := range []string{"import", "inspect", "verify"} {
		args := []string{"ouk", command, "--key", e.pub, ""}
		if command == "inspect" {
			args = []string{"ouk", command, ""}
		}
		r := e.run(args...)
		if r.code != exitUsage {
			t.Errorf("%s \"\": exit %d, want %d\nstderr: %s", command, r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "the kit argument is empty") {
			t.Errorf("%s \"\": error does not say the argument is empty: %s", command, r.stderr)
		}
	}
	if _, err := os.Stat(e.store); err == nil {
		t.Errorf("import of an empty argument created the store %s", e.store)
	}
}

// TestImportFolderOfKits imports a folder that contains kit files but is no
// layout folder, as a drop folder is. The usage error names the kits and
// the two commands that import them.
func TestImportFolderOfKits(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "kit-01.tar"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "import", "--key", e.pub, drop)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d\nstderr: %s", r.code, exitUsage, r.stderr)
	}
	for _, want := range []string{"folder of kits: kit-01.tar",
		"stella ouk import " + filepath.Join(drop, "kit-01.tar"),
		"stella ouk watch " + drop + " --once"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not contain %q: %s", want, r.stderr)
		}
	}

	// A folder without kits keeps the message of a folder that is no
	// layout.
	empty := filepath.Join(e.dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "import", "--key", e.pub, empty)
	if r.code != exitRejected || !strings.Contains(r.stderr, "not an OCI image layout folder") {
		t.Errorf("import of an empty folder: exit %d, want %d with the layout message\nstderr: %s",
			r.code, exitRejected, r.stderr)
	}
}

// TestImportDashFileNameHint names a kit file whose name starts with a dash
// without ./ or --, which the flag parser reads as flags. The error shows
// how to name the file, and both ways work.
func TestImportDashFileNameHint(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("-kit.tar", "--version", "1.0.0")
	if filepath.Base(kit) != "-kit.tar" {
		t.Fatalf("kit written to %s", kit)
	}
	r := e.run("ouk", "import", "--key", e.pub, "-kit.tar")
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d\nstderr: %s", r.code, exitUsage, r.stderr)
	}
	if !strings.Contains(r.stderr, "write ./-kit.tar, or put -- before it") {
		t.Errorf("error does not say how to name the file: %s", r.stderr)
	}
	e.must("ouk", "import", "--key", e.pub, "--", "-kit.tar")
	e.must("ouk", "import", "--key", e.pub, "./-kit.tar")

	r = e.run("ouk", "import", "--key", e.pub, "-nothing.tar")
	if strings.Contains(r.stderr, "put -- before it") {
		t.Errorf("error gives the file hint for a name that is no file: %s", r.stderr)
	}
}
