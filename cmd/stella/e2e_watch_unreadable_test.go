package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"stella-ops.org/ouk/internal/watch"
)

// unprivilegedUID is the user that runs stella when the tests run as root,
// which reads every file regardless of its permissions.
const unprivilegedUID = 65534

// runUnprivileged runs stella like run, but as unprivilegedUID when the
// test runs as root.
func (e *env) runUnprivileged(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivilegedUID, Gid: unprivilegedUID}}
	}
	return e.runCommand(cmd, args)
}

// handToUnprivileged gives the test folder to unprivilegedUID when the test
// runs as root, so that runUnprivileged can use the store and the keys.
func (e *env) handToUnprivileged() {
	e.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Chmod(filepath.Dir(e.dir), 0o755); err != nil {
		e.t.Fatal(err)
	}
	err := filepath.WalkDir(e.dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, unprivilegedUID, unprivilegedUID)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestWatchRetriesUnreadableKit(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	drop := e.newDrop("drop", kit)
	dropped := filepath.Join(drop, filepath.Base(kit))
	e.handToUnprivileged()
	if err := os.Chmod(dropped, 0); err != nil {
		t.Fatal(err)
	}

	r := e.runUnprivileged("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitError {
		t.Errorf("watch --once with an unreadable kit: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if !strings.Contains(r.stderr, "kit cannot be read on this host") || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("log does not say that the kit cannot be read and why:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "kit rejected") {
		t.Errorf("an unreadable kit was rejected:\n%s", r.stderr)
	}
	// The error is an attribute of the same line, not another log entry.
	if strings.Contains(r.stderr, "named in the log") || !strings.Contains(r.stderr, "error given as error= on this line") {
		t.Errorf("log does not point to the error on its own line:\n%s", r.stderr)
	}
	if _, err := os.Stat(watch.NotePath(dropped)); err == nil {
		t.Errorf("a rejection note was written for a kit that could not be read")
	}

	// Fixing the permission changes neither size nor modification time.
	if err := os.Chmod(dropped, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.runUnprivileged("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once after the permission was fixed: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="kit imported"`) {
		t.Errorf("kit not imported after the permission was fixed:\n%s", r.stderr)
	}
}

func TestWatchRejectionNamesRetry(t *testing.T) {
	e := newEnv(t)
	drop := e.newDrop("drop")
	bad := filepath.Join(drop, "bad.tar")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a kit ", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Fatalf("watch --once with a bad kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	note := watch.NotePath(bad)
	if !strings.Contains(r.stderr, "note="+note) || !strings.Contains(r.stderr, "delete the note to make the watch try the kit again") {
		t.Errorf("rejection log does not name the note and how to retry:\n%s", r.stderr)
	}
	n, ok := watch.ReadNote(bad)
	if !ok {
		t.Fatal("no rejection note beside the bad kit")
	}
	if !strings.Contains(n.Retry, "delete this file") {
		t.Errorf("note retry %q does not say to delete the note", n.Retry)
	}

	r = e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if !strings.Contains(r.stderr, `msg="kit remains rejected; skipped"`) || !strings.Contains(r.stderr, "note="+note) {
		t.Errorf("second run does not name the note of the rejected kit:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "delete a note to make the watch try its kit again") {
		t.Errorf("final error does not say how to retry a kit:\n%s", r.stderr)
	}
}
