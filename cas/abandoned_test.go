package cas

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"stella-ops.org/ouk/internal/errdef"
)

// A long-running process, such as stella ouk watch, opens the store each
// round. After one open found the volume full while Pebble wrote, this
// process keeps the store's lock, so every later open in it must fail at
// once with an error that gives a restart of the process as the next step,
// instead of waiting for its own lock and blaming another process.
func TestOpenAfterAbandonedOpenFailsAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	fs := newFullFS(vfs.Default, 1<<40)
	s, err := Open(dir, Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, randomBytes(7, 4000), "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// statfs reports room, but every write fails, as when another program
	// fills the volume while the store opens.
	fs.setBudget(0)
	fs.reportAvail = 1 << 30
	fs.errno = syscall.ENOSPC
	_, err = Open(dir, Options{fs: fs})
	checkAbandoned(t, "Open on a volume that fills during the open", err)

	// The operator frees space. The lock wait is long, and the context
	// only keeps a regression from hanging the test.
	fs.setBudget(1 << 40)
	fs.reportAvail = -1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = OpenContext(ctx, dir, Options{fs: fs, LockWait: time.Hour})
	checkAbandoned(t, "Open after space was freed, in the same process", err)
	if errors.Is(err, errdef.ErrStoreInUse) {
		t.Errorf("Open after space was freed: err = %v, which blames another process", err)
	}
	_, err = OpenContext(ctx, dir, Options{fs: fs, LockWait: time.Hour, ReadOnly: true})
	checkAbandoned(t, "read-only Open after space was freed", err)
}

// checkAbandoned fails the test unless err is the error of an abandoned
// open.
func checkAbandoned(t *testing.T, label string, err error) {
	t.Helper()
	if !errors.Is(err, errdef.ErrOpenAbandoned) {
		t.Fatalf("%s: err = %v, want errdef.ErrOpenAbandoned", label, err)
	}
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Errorf("%s: err = %v, want errdef.ErrDiskFull too", label, err)
	}
	if !strings.Contains(err.Error(), "restart this process") {
		t.Errorf("%s: error %q does not say to restart the process", label, err)
	}
}
