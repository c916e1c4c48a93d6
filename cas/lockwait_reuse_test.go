package cas

import (
	"errors"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// A long-running process, such as a watch, that opens a held store once a
// round must not leave one more kernel wait, each with an open descriptor
// of the lock file, behind every Open that gives up.
func TestOpenGivingUpReusesKernelWait(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	stop := startHolder(t, dir)
	before := releaseWaitsInFlight.Load()

	for range 5 {
		_, err := Open(dir, Options{LockWait: 50 * time.Millisecond})
		if !errors.Is(err, errdef.ErrStoreInUse) {
			t.Fatalf("Open while another process holds the store: err = %v, want ErrStoreInUse", err)
		}
	}
	if got := releaseWaitsInFlight.Load(); got != before+1 {
		t.Errorf("%d kernel waits in flight after 5 Opens gave up, want %d", got, before+1)
	}

	stop()
	waitForReleaseWaits(t, before)
	s, err := Open(dir, Options{LockWait: time.Minute})
	if err != nil {
		t.Fatalf("Open after the holder exited: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
