package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// Intervals between attempts to take a store that another process holds.
// While a kernel wait for the release is under way (see startReleaseWait),
// attempts also run every slowPollInterval, in case the release does not
// wake the wait, as when the lock file was replaced. Without a kernel
// wait, attempts back off from firstPollDelay to maxPollDelay.
const (
	slowPollInterval = time.Second
	firstPollDelay   = 50 * time.Millisecond
	maxPollDelay     = 250 * time.Millisecond
)

// maxIdleWakes is how many kernel waits in a row may find the lock file
// free at once while the attempts that follow still find the store held.
// Past that, the kernel does not see the holder's lock on this file
// system, and the wait falls back to polling.
const maxIdleWakes = 5

// fileID identifies a file by device and inode number, so that two paths
// to one lock file, as through a bind mount, map to one entry.
type fileID struct{ dev, ino uint64 }

// statFileID returns the fileID of the file that info describes, and
// false when info does not come from the operating system.
func statFileID(info os.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// processLocks records the lock files on which this process holds Pebble's
// exclusive lock, taken through trackedLockFS. Pebble takes a traditional
// fcntl lock, which belongs to the process, and closing any descriptor of
// the file releases it (fcntl(2), "Advisory record locking"). So a
// descriptor that this package opens on a lock file, as a waiter or a
// reader does, must not be closed while this process holds that lock.
// closeLockFile keeps such a descriptor in deferred, and the release of
// the lock closes it.
//
// released is closed, and then replaced, whenever this process releases
// such a lock, so that an Open of this process that waits for another
// Store of this process wakes without a kernel wait (see
// releaseSignal).
var processLocks struct {
	sync.Mutex
	lockCounts map[fileID]int
	deferred   map[fileID][]*os.File
	released   chan struct{}
}

// releaseSignal returns a channel that is closed when this process next
// releases a lock taken through trackedLockFS.
func releaseSignal() <-chan struct{} {
	processLocks.Lock()
	defer processLocks.Unlock()
	if processLocks.released == nil {
		processLocks.released = make(chan struct{})
	}
	return processLocks.released
}

// heldHere reports whether this process holds Pebble's lock on the lock
// file at path through trackedLockFS.
func heldHere(path string) bool {
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	id, ok := statFileID(info)
	if !ok {
		return false
	}
	processLocks.Lock()
	defer processLocks.Unlock()
	return processLocks.lockCounts[id] > 0
}

// trackedLockFS is the store's file system with Lock recorded in
// processLocks.
type trackedLockFS struct{ vfs.FS }

// Lock takes Pebble's lock through the wrapped file system and records
// it, under processLocks's mutex, so that closeLockFile finds it at once.
// Pebble rejects a second lock of this process only for the same path
// string, while the kernel grants a process's traditional lock again for
// any path to the file. So Lock rejects a file that this process already
// holds through another path, such as a symlink or a bind mount, with
// Pebble's error for a lock of this process (see isHeldByThisProcess).
func (f trackedLockFS) Lock(name string) (io.Closer, error) {
	processLocks.Lock()
	defer processLocks.Unlock()
	if info, err := os.Stat(name); err == nil {
		if id, ok := statFileID(info); ok && processLocks.lockCounts[id] > 0 {
			return nil, errors.New("lock held by current process")
		}
	}
	lock, err := f.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	var id fileID
	info, err := os.Stat(name)
	if err == nil {
		id, _ = statFileID(info)
	}
	// A lock file that is not the operating system's, as in a MemFS,
	// counts under the zero fileID, which no such file has.
	if processLocks.lockCounts == nil {
		processLocks.lockCounts = make(map[fileID]int)
	}
	processLocks.lockCounts[id]++
	return &trackedLock{Closer: lock, id: id}, nil
}

// trackedLock is a lock taken through trackedLockFS.
type trackedLock struct {
	io.Closer
	id fileID
}

// Close releases the lock, then closes the descriptors that closeLockFile
// deferred until this process no longer holds a lock on the file.
func (l *trackedLock) Close() error {
	processLocks.Lock()
	defer processLocks.Unlock()
	err := l.Closer.Close()
	if processLocks.released != nil {
		close(processLocks.released)
		processLocks.released = nil
	}
	processLocks.lockCounts[l.id]--
	if processLocks.lockCounts[l.id] > 0 {
		return err
	}
	delete(processLocks.lockCounts, l.id)
	for _, f := range processLocks.deferred[l.id] {
		_ = f.Close()
	}
	delete(processLocks.deferred, l.id)
	return err
}

// closeLockFile closes f, a descriptor of a lock file that holds no lock
// of its own. While this process holds Pebble's lock on the same file,
// closing f would release that lock, so f stays open until the lock is
// released.
func closeLockFile(f *os.File) {
	processLocks.Lock()
	defer processLocks.Unlock()
	if info, err := f.Stat(); err == nil {
		if id, ok := statFileID(info); ok && processLocks.lockCounts[id] > 0 {
			if processLocks.deferred == nil {
				processLocks.deferred = make(map[fileID][]*os.File)
			}
			processLocks.deferred[id] = append(processLocks.deferred[id], f)
			return
		}
	}
	_ = f.Close()
}

// releaseWaitsInFlight counts the goroutines of startReleaseWait that
// have not yet closed their descriptor, including those that an Open left
// behind when it gave up or took the store by another route. Tests read
// it to know when no such goroutine holds a lock file open.
var releaseWaitsInFlight atomic.Int64

// releaseResult is the outcome of a kernel wait for the release of a lock
// file.
type releaseResult struct {
	// immediate is set when the file was free at the first try, so the
	// wait did not block.
	immediate bool
	err       error
}

// releaseWaits lists the kernel waits under way, by lock file and lock
// type, with the channels that receive the result of each. An Open joins
// the wait under way for its lock file. So a process that opens a held
// store again and again, as a watch does once a round, keeps one
// goroutine and one descriptor per lock file, not one per Open that gave
// up.
var releaseWaits struct {
	sync.Mutex
	waiting map[releaseWaitKey][]chan releaseResult
}

// releaseWaitKey identifies the lock file and lock type of a kernel wait.
type releaseWaitKey struct {
	file   fileID
	shared bool
}

// startReleaseWait returns a channel that receives the result of a kernel
// wait for the release of the lock file path. It joins the wait under way
// for the same file and lock type, or else opens the file and starts one.
// The wait runs in a new goroutine, which waits in the kernel until no
// other lock blocks an open file description (OFD) lock on the file. A
// writer waits for a write lock (F_WRLCK), which every holder keeps out.
// A reader under the shared lock waits for a read lock (F_RDLCK), which
// only a writer keeps out. A writer first waits for the write lock on
// the writer gate, which only writers keep out, and holds it, so that
// readers that come while it waits wait for it (see writerGate). Such a
// lock conflicts with Pebble's traditional
// F_SETLK lock, also when this process holds that one, and with the OFD
// locks of readers, as fcntl(2) states for Linux 3.15 and later. Once the
// kernel grants the lock, the goroutine closes the descriptor at once,
// which releases it, and sends the result to every channel of the wait. A
// writer of another process is so kept out only between the grant and
// the close. Each channel has room for the result, so a caller that
// stopped waiting leaves nothing held behind.
//
// F_OFD_SETLKW waits without a deadline, and nothing can cancel it. The
// goroutine of a wait whose callers gave up stays blocked until the store
// is released, then takes and drops the lock in the same way. Until then
// it keeps the lock file open.
func startReleaseWait(path string, shared bool) (<-chan releaseResult, error) {
	flag, lockType := os.O_RDWR, int16(unix.F_WRLCK)
	if shared {
		flag, lockType = os.O_RDONLY, unix.F_RDLCK
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	done := make(chan releaseResult, 1)

	key := releaseWaitKey{shared: shared}
	keyed := false
	if info, err := f.Stat(); err == nil {
		key.file, keyed = statFileID(info)
	}
	if keyed {
		releaseWaits.Lock()
		if waiting, ok := releaseWaits.waiting[key]; ok {
			releaseWaits.waiting[key] = append(waiting, done)
			releaseWaits.Unlock()
			// f holds no lock, and the wait under way has its own
			// descriptor.
			closeLockFile(f)
			return done, nil
		}
		if releaseWaits.waiting == nil {
			releaseWaits.waiting = make(map[releaseWaitKey][]chan releaseResult)
		}
		releaseWaits.waiting[key] = []chan releaseResult{done}
		releaseWaits.Unlock()
	}

	// receivers removes the wait from releaseWaits before its descriptor
	// is closed, so that an Open after the release starts a wait of its
	// own rather than joining one whose result is from before its attempt.
	receivers := func() []chan releaseResult {
		if !keyed {
			return []chan releaseResult{done}
		}
		releaseWaits.Lock()
		defer releaseWaits.Unlock()
		waiting := releaseWaits.waiting[key]
		delete(releaseWaits.waiting, key)
		return waiting
	}

	releaseWaitsInFlight.Add(1)
	go func() {
		defer releaseWaitsInFlight.Add(-1)
		gateImmediate := true
		if !shared {
			// The gate waits for a writer that holds the store and for
			// other waiting writers. A file system that rejects the lock
			// leaves the wait without a gate.
			gate := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: writerGate, Len: 1}
			gateImmediate, _ = waitForOFDLock(f, &gate)
		}
		spec := unix.Flock_t{Type: lockType, Whence: io.SeekStart, Start: 0, Len: 0}
		immediate, err := waitForOFDLock(f, &spec)
		immediate = immediate && gateImmediate

		waiting := receivers()
		result := releaseResult{immediate: immediate, err: err}
		if err != nil {
			// No lock was taken, so closing f could release a lock that
			// this process holds on the file.
			closeLockFile(f)
			result.immediate = false
		} else {
			// f holds the OFD lock, which excludes a traditional lock of
			// this process, so closing it releases only its own lock.
			_ = f.Close()
		}
		for _, c := range waiting {
			c <- result
		}
	}()
	return done, nil
}

// waitForOFDLock takes the OFD lock spec on f, waiting in the kernel
// while another lock blocks it, and reports whether it was free at once.
func waitForOFDLock(f *os.File, spec *unix.Flock_t) (immediate bool, err error) {
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, spec)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		return false, err
	}
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, spec)
		if !errors.Is(err, unix.EINTR) {
			return false, err
		}
	}
}

// lockWaiter waits between the attempts of acquireLock to take a store
// that another process holds. It waits in the kernel for the release of
// the lock file (startReleaseWait) where it can, and polls where it
// cannot.
type lockWaiter struct {
	fs   vfs.FS
	path string
	log  *slog.Logger
	// shared is set while the attempts take the shared lock of a reader.
	shared bool

	// kernel is cleared when the file system cannot wait for the lock
	// file in the kernel. checked is set once that was first tried.
	kernel, checked bool
	// pending receives the result of the kernel wait under way, or is
	// nil.
	pending <-chan releaseResult
	// woke is set when a kernel wait returned, until the next call of
	// wait. lastImmediate is set when that wait did not block, and
	// idleWakes counts such waits in a row.
	woke, lastImmediate bool
	idleWakes           int
	delay               time.Duration

	// releases counts the times that the store was free after a kernel
	// wait, and another process took it before this one could.
	releases int
}

func newLockWaiter(fsys vfs.FS, path string, log *slog.Logger) *lockWaiter {
	return &lockWaiter{fs: fsys, path: path, log: log, kernel: true, delay: firstPollDelay}
}

// setShared switches the waits to those of a reader under the shared
// lock. A kernel wait under way for the exclusive lock goes on alone.
func (w *lockWaiter) setShared() {
	w.shared = true
	w.pending = nil
	w.woke = false
}

// wait returns when the store may have been released since the last
// attempt failed, when remaining has passed or when ctx is done. A kernel
// wait under way then goes on, as after a wait that gave up (see
// startReleaseWait), and the next wait joins it. When another Store of
// this process held the store at that attempt, released is the
// releaseSignal taken before it, and wait waits for that signal in place
// of the kernel. A kernel wait would block on this process's own lock,
// and left behind by an Open that gives up, it would take and drop the
// lock just as this process's next Open tries to take it.
func (w *lockWaiter) wait(ctx context.Context, remaining time.Duration, released <-chan struct{}) {
	w.noteFailedAttempt()
	if released != nil {
		timer := time.NewTimer(min(slowPollInterval, remaining))
		defer timer.Stop()
		select {
		case <-released:
		case <-timer.C:
		case <-ctx.Done():
		}
		return
	}
	if w.kernel && w.pending == nil {
		w.startKernelWait()
	}
	if w.pending == nil {
		timer := time.NewTimer(min(w.delay, remaining))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		w.delay = min(2*w.delay, maxPollDelay)
		return
	}
	timer := time.NewTimer(min(slowPollInterval, remaining))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case r := <-w.pending:
		w.pending = nil
		if r.err != nil {
			w.kernel = false
			w.log.Debug("waiting for the store's lock in the kernel failed; polling instead",
				"lockFile", w.path, "error", r.err)
			return
		}
		w.woke, w.lastImmediate = true, r.immediate
	case <-timer.C:
	}
}

// noteFailedAttempt counts the attempt that failed before wait was
// called, when a kernel wait had found the lock file free.
func (w *lockWaiter) noteFailedAttempt() {
	if !w.woke {
		return
	}
	w.woke = false
	w.releases++
	if !w.lastImmediate {
		w.idleWakes = 0
		return
	}
	w.idleWakes++
	if w.idleWakes >= maxIdleWakes {
		w.kernel = false
		w.log.Debug("the kernel finds the store's lock file free while the store is held; polling instead",
			"lockFile", w.path)
	}
}

// startKernelWait starts a kernel wait for the release of the lock file,
// or clears kernel when the file system cannot have one. That is so when
// the store's file system is not the operating system's, such as a
// MemFS in tests, since the kernel waits on the operating system's file.
func (w *lockWaiter) startKernelWait() {
	if !w.checked {
		w.checked = true
		if !w.isOSFile() {
			w.kernel = false
			return
		}
	}
	pending, err := startReleaseWait(w.path, w.shared)
	if err != nil {
		w.kernel = false
		w.log.Debug("cannot wait for the store's lock in the kernel; polling instead",
			"lockFile", w.path, "error", err)
		return
	}
	w.pending = pending
}

// isOSFile reports whether the lock file that the store's file system
// names is the operating system's file at that path.
func (w *lockWaiter) isOSFile() bool {
	viaStore, err := w.fs.Stat(w.path)
	if err != nil {
		return false
	}
	viaOS, err := os.Stat(w.path)
	if err != nil {
		return false
	}
	storeID, ok := statFileID(viaStore)
	if !ok {
		return false
	}
	osID, ok := statFileID(viaOS)
	return ok && storeID == osID
}

// holderLog records the holders that an Open found while it waited.
type holderLog struct {
	last    string
	holders int
}

// observe records h, a holder record read while the store was held, or
// "" when there was none.
func (l *holderLog) observe(h string) {
	if h == "" || h == l.last {
		return
	}
	l.last = h
	l.holders++
}

// InUseError is the error of Open when another process held the store for
// all of Options.LockWait. It wraps errdef.ErrStoreInUse.
type InUseError struct {
	// Dir is the store's directory and Wait is Options.LockWait.
	Dir  string
	Wait time.Duration
	// Holder describes the last holder whose record Open read while it
	// waited, as LockHolder does, or is "" when it read none.
	Holder string
	// Holders is the number of distinct holder records that Open read
	// while it waited.
	Holders int
	// Releases is the number of times that Open found the store free
	// while it waited, and another process took it first. It counts only
	// what the kernel's wait for the lock file shows, so it is zero where
	// Open polls.
	Releases int
}

// Changed reports whether more than one holder had the store during the
// wait, so the store is busy rather than held by one process.
func (e *InUseError) Changed() bool {
	return e.Holders > 1 || e.Releases > 0
}

// Turnover describes how the store changed hands during the wait, such as
// "it was held by 7 stella processes in turn during the 5s wait", or
// returns "" when Changed is false.
func (e *InUseError) Turnover() string {
	free, tookFirst := "once", "another process took it first"
	if e.Releases > 1 {
		free, tookFirst = fmt.Sprintf("%d times", e.Releases), tookFirst+" each time"
	}
	switch {
	case e.Holders > 1 && e.Releases > 0:
		return fmt.Sprintf("it was held by %d stella processes in turn during the %s wait, and it was free %s, "+
			"but %s", e.Holders, e.Wait, free, tookFirst)
	case e.Holders > 1:
		return fmt.Sprintf("it was held by %d stella processes in turn during the %s wait", e.Holders, e.Wait)
	case e.Releases > 0:
		return fmt.Sprintf("it was free %s during the %s wait, but %s", free, e.Wait, tookFirst)
	}
	return ""
}

func (e *InUseError) Error() string {
	holder := "another stella process"
	if e.Holder != "" {
		holder += " (" + e.Holder + ")"
	}
	if e.Changed() {
		return fmt.Sprintf("opening store %s: %s: %s; the last holder was %s. The store is busy rather than held "+
			"by one process, so run fewer commands on it at once, or retry with a longer lock wait",
			e.Dir, errdef.ErrStoreInUse, e.Turnover(), holder)
	}
	return fmt.Sprintf("opening store %s: %s: %s has it open; wait for that process to finish or stop it, "+
		"or retry with a longer lock wait", e.Dir, errdef.ErrStoreInUse, holder)
}

func (e *InUseError) Unwrap() error { return errdef.ErrStoreInUse }

// WaitStoppedError is the error of OpenContext when its context ended
// while it waited for another process to release the store. It wraps the
// context's error. A context that is done before any wait gives a plain
// error wrapping ctx.Err() instead, so a caller can tell a command stopped
// in a wait from one stopped before it reached the store.
type WaitStoppedError struct {
	// Dir is the store's directory.
	Dir string
	// Holder describes the last holder whose record OpenContext read
	// while it waited, as LockHolder does, or is "" when it read none.
	Holder string
	// Err is the context's error.
	Err error
}

func (e *WaitStoppedError) Error() string {
	holder := ""
	if e.Holder != "" {
		holder = " (" + e.Holder + ")"
	}
	return fmt.Sprintf("opening store %s: stopped waiting for another process%s to release it: %v", e.Dir, holder, e.Err)
}

func (e *WaitStoppedError) Unwrap() error { return e.Err }
