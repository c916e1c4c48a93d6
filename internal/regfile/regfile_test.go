package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

func TestOpenRejectsNamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "key.pub")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without O_NONBLOCK this open would wait for a writer forever.
	_, err := ReadFile(fifo, "a public key file")
	if err == nil {
		t.Fatal("ReadFile of a named pipe succeeded")
	}
	if !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Errorf("error does not wrap ErrInvalidArgument: %v", err)
	}
	want := fifo + " is a named pipe (FIFO), not a regular file; give a public key file"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := Check(fifo, "a public key file"); err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %q", err, want)
	}
}

func TestOpenReadsRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(path, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path, "a file")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "content" {
		t.Errorf("read %q, want %q", got, "content")
	}
	if err := Check(path, "a file"); err != nil {
		t.Errorf("Check of a regular file: %v", err)
	}
}

func TestOpenFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, "a file")
	if !errors.Is(err, syscall.EISDIR) {
		t.Errorf("Open of a folder: %v, want EISDIR", err)
	}
	if err != nil && strings.Contains(err.Error(), "regular") {
		t.Errorf("folder error speaks of regular files: %v", err)
	}
}
