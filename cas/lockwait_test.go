package cas

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// cyclerEnv makes the test binary, run as a child process, take and
// release Pebble's lock of the store in that directory in a loop until
// stdin closes. It prints "held" each time it has taken the lock.
const cyclerEnv = "STELLA_CAS_TEST_CYCLE_DIR"

// The child holds the lock for cycleHold, waits cycleGap, then polls for
// the lock every millisecond. A waiter that polls on its own schedule
// finds the store free only in the short gaps. maxCycles bounds the run
// of a child whose parent died.
const (
	cycleHold = 200 * time.Millisecond
	cycleGap  = time.Millisecond
	maxCycles = 300
)

// cycleLock takes the lock through pebble.LockDirectory on the operating
// system's file system, the lock that Pebble and every stella release
// take.
func cycleLock(dir string) int {
	stopped := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stopped)
	}()
	for range maxCycles {
		var lock *pebble.Lock
		for lock == nil {
			l, err := pebble.LockDirectory(dir, vfs.Default)
			switch {
			case err == nil:
				lock = l
				continue
			case !isLockHeld(err):
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			select {
			case <-stopped:
				return 0
			case <-time.After(time.Millisecond):
			}
		}
		fmt.Println("held")
		select {
		case <-stopped:
		case <-time.After(cycleHold):
		}
		if err := lock.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		select {
		case <-stopped:
			return 0
		case <-time.After(cycleGap):
		}
	}
	return 0
}

// startCycler runs cycleLock in a child process on the store in dir and
// returns a channel that receives a value each time the child has taken
// the lock. The child stops when the test ends.
func startCycler(t *testing.T, dir string) <-chan struct{} {
	t.Helper()
	cmd, stdin, stdout := startHelper(t, cyclerEnv, dir)
	held := make(chan struct{}, maxCycles)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if lines.Text() == "held" {
				held <- struct{}{}
			}
		}
	}()

	t.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("lock cycler process: %v", err)
		}
	})
	return held
}

// nextHold waits until the cycler takes the lock again after the values
// already in held.
func nextHold(t *testing.T, held <-chan struct{}) {
	t.Helper()
	for len(held) > 0 {
		<-held
	}
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the lock cycler process did not take the lock within a minute")
	}
}

// tryLockEnv makes the test binary, run as a child process, try once to
// take Pebble's lock of the store in that directory. It exits with 0 when
// it took the lock and with lockHeldExit when another holder has it.
const tryLockEnv = "STELLA_CAS_TEST_TRY_LOCK_DIR"

const lockHeldExit = 3

func tryLock(dir string) int {
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	switch {
	case err == nil:
		_ = lock.Close()
		return 0
	case isLockHeld(err):
		return lockHeldExit
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// lockFreeInOtherProcess reports whether another process can take the
// lock of the store in dir at once.
func lockFreeInOtherProcess(t *testing.T, dir string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), tryLockEnv+"="+dir)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == lockHeldExit:
		return false
	}
	t.Fatalf("lock check process: %v", err)
	return false
}

func TestOpenWaitTakesStoreBetweenHolders(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"writer", Options{}},
		// A reader under the shared lock waits for the writer in the
		// same way.
		{"reader", Options{fs: deniedFS{FS: vfs.Default, lockErr: syscall.EROFS}, ReadOnlyIfUnwritable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			storeWithBlob(t, dir)
			held := startCycler(t, dir)

			// Each Open starts while the other process holds the store,
			// which it releases for cycleGap after every cycleHold.
			// Polling at up to one second seldom lands in such a gap, and
			// three Opens in a row almost never all do.
			for i := range 3 {
				nextHold(t, held)
				signal := newWaitSignal()
				opts := tc.opts
				opts.LockWait = 3 * time.Second
				opts.Logger = slog.New(signal)
				s, err := Open(dir, opts)
				if err != nil {
					t.Fatalf("Open %d while another process takes and releases the store in turn: %v", i, err)
				}
				select {
				case <-signal.waiting:
				default:
					t.Errorf("Open %d found the store free at once; the test needs it held when Open starts", i)
				}
				if s.ReadOnly() != tc.opts.ReadOnlyIfUnwritable {
					t.Errorf("Open %d: ReadOnly() = %v", i, s.ReadOnly())
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// waitForReleaseWaits waits until at most n kernel waits are in flight.
func waitForReleaseWaits(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for releaseWaitsInFlight.Load() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d kernel waits for a lock file are still in flight after a minute, want at most %d",
				releaseWaitsInFlight.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenGivesUpWhenHeldThroughout(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	stop := startHolder(t, dir)
	before := releaseWaitsInFlight.Load()

	_, err := Open(dir, Options{LockWait: 300 * time.Millisecond})
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("Open while another process holds the store for all of the wait: err = %v, want ErrStoreInUse", err)
	}
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("error %T is not an *InUseError: %v", err, err)
	}
	if inUse.Holders != 1 {
		t.Errorf("Holders = %d, want 1", inUse.Holders)
	}
	if inUse.Releases != 0 {
		t.Errorf("Releases = %d, want 0", inUse.Releases)
	}
	if !strings.Contains(err.Error(), "wait for that process to finish") {
		t.Errorf("the message does not tell to wait for the one holder: %v", err)
	}
	if got := releaseWaitsInFlight.Load(); got != before+1 {
		t.Errorf("%d kernel waits in flight after Open gave up, want %d: the one that Open left behind", got, before+1)
	}

	// The wait left behind wakes when the holder exits, and drops its
	// lock at once.
	checkFreeAfterHolderExits(t, dir, stop, before)
}

// checkFreeAfterHolderExits ends the holder process with stop and checks
// that the kernel waits in flight go back to before, and that another
// process and then this one can take the store without a wait.
func checkFreeAfterHolderExits(t *testing.T, dir string, stop func(), before int64) {
	t.Helper()
	stop()
	waitForReleaseWaits(t, before)
	if !lockFreeInOtherProcess(t, dir) {
		t.Error("another process cannot take the store after its holder exited")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open without a wait after the holder exited: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCountsHoldersInTurn(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	lockPath := filepath.Join(dir, lockFileName)

	// Two readers that overlap keep the store from a writer, while the
	// holder record changes from the first to the second. The second
	// locks the bytes of a reader without looking at the writer gate, as
	// a reader that checked the gate just before the writer took it does.
	first, err := lockShared(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	writeHolderRecord(t, dir, holderRecord{Command: "stella scan", Since: time.Now(), process: currentProcess()})
	signal := newWaitSignal()
	done := make(chan error, 1)
	go func() {
		// The wait spans at least two polls after the record changes.
		s, err := Open(dir, Options{LockWait: 2*slowPollInterval + slowPollInterval/2, Logger: slog.New(signal)})
		if err == nil {
			_ = s.Close()
		}
		done <- err
	}()
	<-signal.waiting
	second, err := lockReaderBytes(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	writeHolderRecord(t, dir, holderRecord{Command: "stella db lookup", Since: time.Now(), process: currentProcess()})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	err = <-done
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("Open while two readers held the store in turn: err = %v, want an *InUseError", err)
	}
	if inUse.Holders != 2 {
		t.Errorf("Holders = %d, want 2", inUse.Holders)
	}
	if !strings.Contains(inUse.Holder, "stella db lookup") {
		t.Errorf("Holder = %q, want the second record", inUse.Holder)
	}
	for _, want := range []string{"held by 2 stella processes in turn", "the last holder was", "stella db lookup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message does not contain %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "wait for that process") {
		t.Errorf("message tells to wait for one process although two held the store: %v", err)
	}
}

func TestInUseErrorTurnover(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  InUseError
		want []string
	}{
		{"one holder", InUseError{Dir: "/s", Wait: 5 * time.Second, Holder: "pid 7, stella scan", Holders: 1},
			[]string{"another stella process (pid 7, stella scan) has it open", "wait for that process"}},
		{"free once", InUseError{Dir: "/s", Wait: 5 * time.Second, Releases: 1},
			[]string{"it was free once during the 5s wait, but another process took it first;",
				"the last holder was another stella process"}},
		{"free three times", InUseError{Dir: "/s", Wait: 5 * time.Second, Releases: 3},
			[]string{"it was free 3 times during the 5s wait, but another process took it first each time"}},
		{"holders and releases", InUseError{Dir: "/s", Wait: time.Second, Holder: "pid 9, stella db lookup",
			Holders: 4, Releases: 6},
			[]string{"held by 4 stella processes in turn during the 1s wait, and it was free 6 times, but another " +
				"process took it first each time", "the last holder was another stella process (pid 9, stella db lookup)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message does not contain %q: %s", want, msg)
				}
			}
			if !errors.Is(&tc.err, errdef.ErrStoreInUse) {
				t.Error("InUseError does not wrap ErrStoreInUse")
			}
		})
	}
}

func TestLockFileCloseKeepsPebbleLock(t *testing.T) {
	dir := t.TempDir()
	lock, err := pebble.LockDirectory(dir, trackedLockFS{vfs.Default})
	if err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(dir, lockFileName)

	// An OFD lock conflicts with the traditional lock that Pebble took in
	// this same process, which the kernel wait relies on.
	for _, tc := range []struct {
		name     string
		flag     int
		lockType int16
	}{
		{"read lock", os.O_RDONLY, unix.F_RDLCK},
		{"write lock", os.O_RDWR, unix.F_WRLCK},
	} {
		f, err := os.OpenFile(lockPath, tc.flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		spec := unix.Flock_t{Type: tc.lockType, Whence: io.SeekStart}
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &spec); !errors.Is(err, unix.EAGAIN) {
			t.Errorf("OFD %s while this process holds Pebble's lock: err = %v, want EAGAIN", tc.name, err)
		}
		// A plain close of f would release Pebble's lock.
		closeLockFile(f)
	}
	if shared, err := lockShared(lockPath); err == nil {
		_ = shared.Close()
		t.Error("a shared lock was taken while this process holds Pebble's lock")
	} else if !isLockHeld(err) {
		t.Errorf("shared lock while this process holds Pebble's lock: err = %v, want the lock held", err)
	}
	if lockFreeInOtherProcess(t, dir) {
		t.Fatal("closing descriptors of the lock file released this process's lock")
	}

	if err := lock.Close(); err != nil {
		t.Fatal(err)
	}
	if !lockFreeInOtherProcess(t, dir) {
		t.Error("the lock is still held after its release")
	}
	processLocks.Lock()
	defer processLocks.Unlock()
	if n := len(processLocks.deferred); n != 0 {
		t.Errorf("%d lock files still have descriptors to close after the release", n)
	}
}

func TestLockWaiterPollsWithoutKernelWait(t *testing.T) {
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll("/store", 0o755); err != nil {
		t.Fatal(err)
	}
	w := newLockWaiter(fsys, "/store/"+lockFileName, slog.New(slog.DiscardHandler))
	w.wait(context.Background(), time.Millisecond, nil)
	if w.kernel || w.pending != nil {
		t.Errorf("waiter on a file system other than the operating system's: kernel = %v, pending = %v; want polling",
			w.kernel, w.pending != nil)
	}
}

func TestLockWaiterIdleWakesFallBack(t *testing.T) {
	dir := t.TempDir()
	lockPath := filepath.Join(dir, lockFileName)
	if err := os.WriteFile(lockPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// As on a file system whose kernel waits do not see the holder: each
	// wait finds the file free, and the attempt after it fails.
	w := newLockWaiter(vfs.Default, lockPath, slog.New(slog.DiscardHandler))
	for i := 0; i <= maxIdleWakes && w.kernel; i++ {
		w.wait(context.Background(), time.Minute, nil)
	}
	if w.kernel {
		t.Errorf("waiter still waits in the kernel after %d waits that found the file free", maxIdleWakes)
	}
	if w.releases != maxIdleWakes {
		t.Errorf("releases = %d, want %d", w.releases, maxIdleWakes)
	}
}

// lockReaderBytes takes the read lock of lockShared without its check of
// the writer gate.
func lockReaderBytes(path string) (io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: 0, Len: writerGate}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &spec); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
