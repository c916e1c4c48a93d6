package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKitCommandsEscapeControlName runs import, inspect and verify on a
// file whose name carries a terminal escape. Their messages show the
// escape as \x1b, as the watch log does, and never the raw byte.
func TestKitCommandsEscapeControlName(t *testing.T) {
	e := newEnv(t)
	name := filepath.Join(e.dir, "bad\x1b[2J.tzst")
	if err := os.WriteFile(name, []byte("text, not a kit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"ouk", "import", "--key", e.pub, name},
		{"ouk", "inspect", name},
		{"ouk", "verify", "--key", e.pub, name},
	} {
		r := e.run(args...)
		if r.code == 0 {
			t.Errorf("%s of a text file succeeded", args[1])
		}
		if strings.Contains(r.stderr, "\x1b") || strings.Contains(r.stdout, "\x1b") {
			t.Errorf("%s prints the raw escape character:\nstdout: %q\nstderr: %q", args[1], r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, `bad\x1b[2J.tzst`) {
			t.Errorf("%s error does not show the escaped name bad\\x1b[2J.tzst: %q", args[1], r.stderr)
		}
	}
}
