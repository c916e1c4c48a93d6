package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestKitCommandsRejectNamedPipe(t *testing.T) {
	e := newEnv(t)
	fifo := filepath.Join(e.dir, "kit.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"ouk", "inspect", fifo},
		{"ouk", "verify", "--key", e.pub, fifo},
		{"ouk", "import", "--key", e.pub, fifo},
	} {
		command := strings.Join(args[:2], " ")
		// Without a writer, opening the pipe for reading would block.
		r := e.runLimited(stallLimit, args...)
		if r.code != exitUsage {
			t.Errorf("%s on a named pipe: exit %d, want %d\nstderr: %s", command, r.code, exitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, fifo+" is a named pipe (FIFO)") {
			t.Errorf("%s: error does not name the path and its type:\n%s", command, r.stderr)
		}
		if !strings.Contains(r.stderr, "give a kit file or a layout folder") {
			t.Errorf("%s: error does not say what to give instead:\n%s", command, r.stderr)
		}
	}
}
