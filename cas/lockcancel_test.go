package cas

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"stella-ops.org/ouk/internal/errdef"
)

// waitLogHandler closes waiting when Open logs that it starts to wait for
// the store.
type waitLogHandler struct {
	once    *sync.Once
	waiting chan struct{}
}

func newWaitLogHandler() waitLogHandler {
	return waitLogHandler{once: new(sync.Once), waiting: make(chan struct{})}
}

func (h waitLogHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h waitLogHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h waitLogHandler) WithGroup(string) slog.Handler            { return h }

func (h waitLogHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "waiting for it to finish") {
		h.once.Do(func() { close(h.waiting) })
	}
	return nil
}

type waitResult struct {
	store *Store
	err   error
}

// openUntilCancelled starts an OpenContext of dir with a long lock wait,
// cancels its context once it waits for the store, and returns its
// result. It fails the test when the open does not return within a
// minute, which only a wait that ignores the context takes.
func openUntilCancelled(t *testing.T, dir string, opts Options) waitResult {
	t.Helper()
	logs := newWaitLogHandler()
	opts.Logger = slog.New(logs)
	opts.LockWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan waitResult, 1)
	go func() {
		s, err := OpenContext(ctx, dir, opts)
		done <- waitResult{s, err}
	}()

	select {
	case <-logs.waiting:
	case r := <-done:
		t.Fatalf("OpenContext of a held store returned before it waited: %v", r.err)
	}
	cancel()
	select {
	case r := <-done:
		if r.store != nil {
			_ = r.store.Close()
		}
		return r
	case <-time.After(time.Minute):
		t.Fatal("OpenContext still waits for the store a minute after its context was cancelled")
	}
	return waitResult{}
}

// checkCancelledOpen checks that r is the result of an open whose wait
// ended because its context was cancelled.
func checkCancelledOpen(t *testing.T, r waitResult) {
	t.Helper()
	if r.store != nil {
		t.Fatal("OpenContext took the store although its context was cancelled while the store was held")
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", r.err)
	}
	if errors.Is(r.err, errdef.ErrStoreInUse) {
		t.Errorf("error %v wraps ErrStoreInUse, but the wait did not time out", r.err)
	}
	if r.err != nil && !strings.Contains(r.err.Error(), "stopped waiting") {
		t.Errorf("error %v does not say that the wait stopped", r.err)
	}
	if !errors.As(r.err, new(*WaitStoppedError)) {
		t.Errorf("error %v is not a *WaitStoppedError", r.err)
	}
}

func TestOpenContextCancelEndsKernelWait(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	stop := startHolder(t, dir)
	before := releaseWaitsInFlight.Load()

	checkCancelledOpen(t, openUntilCancelled(t, dir, Options{}))
	// As after a wait that gave up, the kernel wait goes on until the
	// holder releases the store, and a later Open joins it.
	if got := releaseWaitsInFlight.Load(); got != before+1 {
		t.Errorf("%d kernel waits in flight after the cancelled Open, want %d: the one that it left behind",
			got, before+1)
	}
	checkCancelledOpen(t, openUntilCancelled(t, dir, Options{ReadOnlyIfUnwritable: true}))
	if got := releaseWaitsInFlight.Load(); got != before+1 {
		t.Errorf("%d kernel waits in flight after a second cancelled Open, want %d: it joins the first",
			got, before+1)
	}

	checkFreeAfterHolderExits(t, dir, stop, before)
}

func TestCancelEndsWaitInProcess(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	before := releaseWaitsInFlight.Load()

	checkCancelledOpen(t, openUntilCancelled(t, dir, Options{}))
	if got := releaseWaitsInFlight.Load(); got != before {
		t.Errorf("%d kernel waits in flight after Open waited for a Store of this process, want %d", got, before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after the first Store closed: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenContextCancelEndsPolling(t *testing.T) {
	// The kernel cannot wait for a lock file in memory, so Open polls.
	fsys := vfs.NewMem()
	s, err := Open("/store", Options{fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	checkCancelledOpen(t, openUntilCancelled(t, "/store", Options{fs: fsys}))
}

func TestOpenContextDoneBeforeOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := OpenContext(ctx, dir, Options{})
	if s != nil {
		_ = s.Close()
		t.Fatal("OpenContext with a cancelled context opened the store")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenContext with a cancelled context created %s: stat error %v", dir, err)
	}
}

// TestOpenContextDoneBeforeWait checks that a context done before an open
// of a held store gives no *WaitStoppedError, since nothing waited.
func TestOpenContextDoneBeforeWait(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := OpenContext(ctx, dir, Options{LockWait: time.Hour})
	if s != nil {
		_ = s.Close()
		t.Fatal("OpenContext with a cancelled context took a held store")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if errors.As(err, new(*WaitStoppedError)) {
		t.Errorf("error %v is a *WaitStoppedError, but nothing waited", err)
	}
	if err != nil && strings.Contains(err.Error(), "waiting") {
		t.Errorf("error %v mentions a wait that did not happen", err)
	}
}

func TestOpenMustExistCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store", "db")
	_, err := Open(dir, Options{MustExist: true})
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open with MustExist of a missing store: error %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with MustExist created the folder above the store: stat error %v", err)
	}
}

func TestMustExistStoreRemovedDuringWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"write open", Options{MustExist: true}},
		{"reader", Options{MustExist: true, ReadOnlyIfUnwritable: true}},
		{"read-only", Options{ReadOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "store")
			dir := filepath.Join(parent, "db")
			holder, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}

			logs := newWaitLogHandler()
			opts := tc.opts
			opts.Logger = slog.New(logs)
			opts.LockWait = time.Hour
			done := make(chan waitResult, 1)
			go func() {
				s, err := Open(dir, opts)
				done <- waitResult{s, err}
			}()
			<-logs.waiting
			// As a rejected first import does: the store goes, and then
			// the empty folder above it.
			if removed, err := holder.CloseAndRemoveIfEmpty(); err != nil || !removed {
				t.Fatalf("CloseAndRemoveIfEmpty: removed %v, error %v; want the unused store removed", removed, err)
			}
			if err := os.Remove(parent); err != nil {
				t.Fatal(err)
			}

			var r waitResult
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Open still waits a minute after the holder removed the store")
			}
			if r.store != nil {
				_ = r.store.Close()
				t.Fatal("Open created the store again that its holder removed while it waited")
			}
			if !errors.Is(r.err, errdef.ErrNotFound) {
				t.Errorf("error %v does not wrap ErrNotFound", r.err)
			}
			if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open created %s again: stat error %v", parent, err)
			}
		})
	}
}
