// Package bindmount makes read-only bind mounts for tests, so that a test
// can see a folder as it is on a read-only mount.
package bindmount

import (
	"os/exec"
	"strings"
	"testing"
)

// ReadOnly mounts the folder src read-only on a new empty folder and
// returns that folder's path. The mount is removed when the test ends,
// before the folders that t.TempDir created earlier. src stays writable
// at its own path, and both paths reach the same files. Mounting needs
// root (or CAP_SYS_ADMIN) and the mount command, so the test is skipped
// with the reason when the mount fails.
func ReadOnly(t testing.TB, src string) string {
	t.Helper()
	target := t.TempDir()
	if out, err := exec.Command("mount", "--bind", src, target).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount %s, which this test needs (root and the mount command): %v: %s",
			src, err, strings.TrimSpace(string(out)))
	}
	// Registered after t.TempDir's removal, so it runs before that.
	t.Cleanup(func() { unmount(t, target) })
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", target).CombinedOutput(); err != nil {
		t.Skipf("cannot make the bind mount %s read-only: %v: %s", target, err, strings.TrimSpace(string(out)))
	}
	return target
}

// unmount removes the mount on target. When a process still uses it,
// the mount is detached lazily (umount -l), so that the test's folders can
// still be removed.
func unmount(t testing.TB, target string) {
	out, err := exec.Command("umount", target).CombinedOutput()
	if err == nil {
		return
	}
	if lazyOut, lazyErr := exec.Command("umount", "-l", target).CombinedOutput(); lazyErr != nil {
		t.Errorf("unmounting %s: %v: %s; then umount -l: %v: %s", target, err, strings.TrimSpace(string(out)),
			lazyErr, strings.TrimSpace(string(lazyOut)))
	}
}
