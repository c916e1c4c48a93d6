package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Keygen rejects a cosign.key or cosign.pub that is a named pipe, also with
// --force, and leaves the pipe in place.
func TestKeygenRejectsNamedPipe(t *testing.T) {
	for _, name := range []string{"cosign.key", "cosign.pub"} {
		for _, force := range []bool{false, true} {
			dir := t.TempDir()
			fifo := filepath.Join(dir, name)
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"ouk", "keygen", "--output-dir", dir}
			if force {
				args = append(args, "--force")
			}
			cmd := exec.Command(stellaBin, args...)
			cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if exitErr, ok := err.(*exec.ExitError); ok {
				code = exitErr.ExitCode()
			}
			if code != exitUsage {
				t.Errorf("%s, --force %v: exit %d, want %d\n%s", name, force, code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), fifo+" is a named pipe (FIFO)") {
				t.Errorf("%s, --force %v: error does not name the pipe:\n%s", name, force, stderr.String())
			}
			info, err := os.Lstat(fifo)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("%s, --force %v: keygen replaced the named pipe with a file of mode %v", name, force, info.Mode())
			}
		}
	}
}
