package cas

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/errdef"
)

// openSpaceSlack is the free space that Open requires besides the
// write-ahead logs it replays and the MANIFEST it rewrites. It covers the OPTIONS file
// (about 3 KiB), marker files and the first records of a new log.
const openSpaceSlack = 1 << 20

// compactionWriteCategory is the category of the tables that Pebble
// v2.1.7 writes in a compaction (getDiskWriteCategoryForCompaction).
const compactionWriteCategory vfs.DiskWriteCategory = "pebble-compaction"

// isDiskFull reports whether err means that a write found no room. That is
// ENOSPC on a full volume, EDQUOT when the user's disk quota is used up,
// and EFBIG when a file reached the maximum file size, usually the limit
// that `ulimit -f` sets. The Go runtime catches SIGXFSZ without exiting
// (Go 1.26, runtime/sigtab_linux_generic.go), so such a write fails with
// EFBIG instead of killing the process.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// diskFullAdvice is the step to take when the store's volume is full.
const diskFullAdvice = "free space on that volume or grow it, or move the store to a larger volume, " +
	"then retry; `stella ouk gc` can then remove unused kits, but it needs a few MiB free itself"

// fileSizeAdvice is the step to take when a file of the store reached the
// maximum file size.
const fileSizeAdvice = "raise the file size limit of the stella process (`ulimit -f unlimited` in the " +
	"shell or LimitFSIZE= in a systemd unit), or move the store to a file system that allows larger " +
	"files, then retry"

// WrapDiskFull returns err as a disk-full error of the store when err comes
// from a write that found no room (ENOSPC, EDQUOT or EFBIG). That error
// names the store directory, the free space and the next step, and wraps
// both err and errdef.ErrDiskFull. Other errors, and those that wrap
// errdef.ErrDiskFull already, are returned unchanged.
func (s *Store) WrapDiskFull(err error) error {
	if err == nil || errors.Is(err, errdef.ErrDiskFull) || !isDiskFull(err) {
		return err
	}
	return fmt.Errorf("store %s: %w", s.dir, s.diskFullError(err))
}

// diskFullError describes cause, a write the store's volume had no room
// for, as an error that wraps errdef.ErrDiskFull and cause. Callers add
// the store directory.
func (s *Store) diskFullError(cause error) error {
	problem, free := s.diskFullParts(cause)
	advice := diskFullAdvice
	if errors.Is(cause, syscall.EFBIG) {
		advice = fileSizeAdvice
	}
	return fmt.Errorf("%s (%s): %w; %s: %w", problem, free, cause, advice, errdef.ErrDiskFull)
}

// diskFullParts returns what ran out for cause, a write the store's volume
// had no room for, and the free space of the volume, with a hint when
// ENOSPC came with space to spare.
func (s *Store) diskFullParts(cause error) (problem, free string) {
	problem = "its volume is full"
	switch {
	case errors.Is(cause, syscall.EDQUOT):
		problem = "your disk quota on its volume is used up"
	case errors.Is(cause, syscall.EFBIG):
		problem = "a file of it reached the maximum file size, which is the process's `ulimit -f` limit or the file system's"
	}
	free = "free space unknown"
	if usage, err := s.fs.GetDiskUsage(s.dir); err == nil {
		free = FormatSize(int64(usage.AvailBytes)) + " free"
		// ENOSPC with bytes to spare often means the volume has no free
		// inodes. Otherwise the space was freed after the failed write, as
		// when the import removed the table it was writing.
		if usage.AvailBytes >= inodeHintFree && errors.Is(cause, syscall.ENOSPC) {
			switch avail, total, err := freeInodes(s.dir); {
			case err != nil || total == 0:
				free += ", so it may be out of inodes: check `df -i`"
			case avail == 0:
				free += ", but no free inodes: remove files on that volume or check `df -i`"
			default:
				free += " now, freed after the write failed"
			}
		}
	}
	return problem, free
}

// freeInodes returns the free and total inodes of the volume that holds
// dir. File systems without a fixed number of inodes, such as btrfs,
// report a total of zero. Tests replace it.
var freeInodes = func(dir string) (avail, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Ffree, st.Files, nil
}

// inodeHintFree is the free space from which a disk-full message suggests
// that the volume ran out of inodes rather than bytes.
const inodeHintFree = 64 << 20

// openSpaceShortfall returns why the volume cannot hold what opening the
// store for writing writes, or "" when it can. The open flushes a table
// from the write-ahead logs it replays and writes a new MANIFEST, which
// takes about openSpaceNeeded bytes and a few inodes. When that flush
// fails for lack of space, Pebble v2.1.7 returns no error and retries it
// forever, so Open hangs, or panics once the MANIFEST write fails. What
// the file system cannot report counts as enough.
func (s *Store) openSpaceShortfall() string {
	if avail, total, err := freeInodes(s.dir); err == nil && total > 0 && avail < openInodesNeeded {
		have := "no free inodes"
		if avail > 0 {
			have = fmt.Sprintf("only %d free inodes", avail)
		}
		return fmt.Sprintf("its volume has %s, but opening it for writing needs about %d for new files "+
			"(see `df -i`)", have, openInodesNeeded)
	}
	usage, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		return ""
	}
	need, err := s.openSpaceNeeded()
	if err != nil {
		return ""
	}
	if int64(usage.AvailBytes) >= need {
		return ""
	}
	return fmt.Sprintf("its volume has %s free, but opening it for writing needs about %s to move the "+
		"write-ahead log into a table and rewrite the MANIFEST", FormatSize(int64(usage.AvailBytes)), FormatSize(need))
}

// openInodesNeeded is the number of free inodes below which an open for
// writing is not tried: a table, a MANIFEST, a write-ahead log and the
// files that replace them, with room to spare.
const openInodesNeeded = 16

// openSpaceNeeded estimates the bytes that opening the store for writing
// adds to the volume: the size of the write-ahead logs and an eighth more,
// which the flush turns into a table, plus the MANIFEST files, which Open
// rewrites, plus openSpaceSlack. The eighth is a guess for the table's
// index and filter blocks. The estimate only spares the common case a
// failed open; openWatch catches a write that still does not fit.
func (s *Store) openSpaceNeeded() (int64, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return 0, err
	}
	var logs, manifests int64
	for _, name := range names {
		isLog := strings.HasSuffix(name, ".log")
		isManifest := strings.HasPrefix(name, "MANIFEST-")
		if !isLog && !isManifest {
			continue
		}
		info, err := s.fs.Stat(s.fs.PathJoin(s.dir, name))
		if err != nil {
			continue // removed since List
		}
		if isLog {
			logs += info.Size()
		} else {
			manifests += info.Size()
		}
	}
	return logs + logs/8 + manifests + openSpaceSlack, nil
}

// openWatch notices a write that fails for lack of space while pebble.Open
// runs. Pebble v2.1.7 retries a failed flush at once and forever, and
// panics in a background goroutine when a MANIFEST write fails, so neither
// reaches Open's caller as an error. The goroutine whose write failed during
// the open is parked for good instead, which stops the retries and the
// panic, and Open returns the error. A compaction is the exception: Pebble
// removes the tables of a compaction that failed and tries it again later,
// so its failed writes return their error. Parked, it would leave its
// partial table on the volume until the next open that succeeds, and each
// failed open would take the space freed for the next attempt.
type openWatch struct {
	mu      sync.Mutex
	opening bool
	err     error
	full    chan struct{} // closed when err is set
}

func newOpenWatch() *openWatch {
	return &openWatch{opening: true, full: make(chan struct{})}
}

// failed records err, a failed write, and returns it, unless the write
// happened during the open: then it parks the calling goroutine for good.
func (w *openWatch) failed(err error) error {
	if !isDiskFull(err) {
		return err
	}
	w.mu.Lock()
	if !w.opening {
		w.mu.Unlock()
		return err
	}
	if w.err == nil {
		w.err = err
		close(w.full)
	}
	w.mu.Unlock()
	select {} // Pebble cannot undo this write; see openWatch.
}

// finish ends the open and returns the disk-full error seen during it, if
// any. Later failed writes return their error as usual.
func (w *openWatch) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opening = false
	return w.err
}

// watchedFS passes the errors of writes through an openWatch. Preallocate
// is not watched: Pebble ignores its errors, and a log that cannot be
// preallocated still grows as records are written.
type watchedFS struct {
	vfs.FS
	watch *openWatch
}

func (f *watchedFS) file(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, f.watch.failed(err)
	}
	return &watchedFile{File: file, watch: f.watch}, nil
}

func (f *watchedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	if category != compactionWriteCategory {
		return f.file(file, err)
	}
	// A compaction's errors go to Pebble: see openWatch.
	if err != nil {
		return nil, err
	}
	return &watchedFile{File: file, watch: f.watch, compaction: true}, nil
}

func (f *watchedFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.file(f.FS.OpenReadWrite(name, category, opts...))
}

func (f *watchedFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return f.file(f.FS.ReuseForWrite(oldname, newname, category))
}

func (f *watchedFS) Link(oldname, newname string) error {
	if err := f.FS.Link(oldname, newname); err != nil {
		return f.watch.failed(err)
	}
	return nil
}

func (f *watchedFS) Rename(oldname, newname string) error {
	if err := f.FS.Rename(oldname, newname); err != nil {
		return f.watch.failed(err)
	}
	return nil
}

func (f *watchedFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.FS.MkdirAll(dir, perm); err != nil {
		return f.watch.failed(err)
	}
	return nil
}

func (f *watchedFS) Unwrap() vfs.FS { return f.FS }

// watchedFile passes the errors of writes and syncs through an openWatch;
// some file systems report a full volume only when data is synced.
type watchedFile struct {
	vfs.File
	watch *openWatch
	// compaction marks a table of a compaction, whose failed writes are
	// returned to Pebble unwatched (see openWatch).
	compaction bool
}

// failed passes err through the watch, except for a compaction's table.
func (f *watchedFile) failed(err error) error {
	if f.compaction {
		return err
	}
	return f.watch.failed(err)
}

// maxPreallocation bounds the space reserved ahead of a write-ahead log's
// records. Pebble v2.1.7 reserves 110% of the memtable size, about 70 MiB,
// for each new log. Its memtables start small and double, so a run that writes
// a few MiB starts several logs, and each stays on disk until the next
// open. A full import left six logs, 420 MiB on disk for 14 MiB of records.
// A log still grows past its reservation as records are written.
const maxPreallocation = 4 << 20

// Preallocate reserves at most maxPreallocation bytes from offset.
func (f *watchedFile) Preallocate(offset, length int64) error {
	return f.File.Preallocate(offset, min(length, maxPreallocation))
}

func (f *watchedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err != nil {
		return n, f.failed(err)
	}
	return n, nil
}

func (f *watchedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if err != nil {
		return n, f.failed(err)
	}
	return n, nil
}

func (f *watchedFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return f.failed(err)
	}
	return nil
}

func (f *watchedFile) SyncData() error {
	if err := f.File.SyncData(); err != nil {
		return f.failed(err)
	}
	return nil
}

func (f *watchedFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	if err != nil {
		return full, f.failed(err)
	}
	return full, nil
}

// openResult is the outcome of pebble.Open in its own goroutine.
type openResult struct {
	db  *pebble.DB
	err error
}

// openPebble runs pebble.Open with the writes watched. When a write during
// the open found the volume full, it sets abandoned and returns an error
// wrapping errdef.ErrOpenAbandoned and errdef.ErrDiskFull. The goroutines
// that Pebble left behind then stay parked and keep the directory lock. So
// every later Open of the store in this process returns that error at
// once (see abandonedStores), and a new process can open the store once
// there is space.
func (s *Store) openPebble(popts *pebble.Options, watch *openWatch) (db *pebble.DB, abandoned bool, err error) {
	done := make(chan openResult, 1)
	go func() {
		var res openResult
		defer func() { done <- res }()
		defer recoverFatal(&res.err)
		res.db, res.err = pebble.Open(s.dir, popts)
	}()
	var res openResult
	select {
	case res = <-done:
	case <-watch.full:
	}
	if err := watch.finish(); err != nil {
		// A database that Open returned while another goroutine was parked
		// mid-write cannot be closed safely, so it is left open.
		return nil, true, s.markAbandoned(err)
	}
	if res.err != nil && isDiskFull(res.err) {
		return nil, false, s.diskFullError(res.err)
	}
	return res.db, false, res.err
}

// fatalError is the panic value of pebbleLogger.Fatalf: Pebble's message,
// and the error among its arguments, if any. It is an error, so the runtime
// prints the message when such a panic is not recovered.
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }

func (e *fatalError) Unwrap() error { return e.cause }

// recoverFatal turns a fatalError panic into *errp; other panics go on.
// Pebble leaves a database whose call panicked this way in an unknown state,
// so the caller must stop using it.
func recoverFatal(errp *error) {
	r := recover()
	if r == nil {
		return
	}
	fe, ok := r.(*fatalError)
	if !ok {
		panic(r)
	}
	*errp = fe
}

// backgroundErrors logs the errors of Pebble's flushes and compactions.
// Pebble retries a failed flush at once, which on a full volume repeats
// the same error many thousands of times a second, so only the first few and
// then every time the count doubles are logged, with the count.
type backgroundErrors struct {
	log *slog.Logger
	// full, when set, learns of each error that is a full volume.
	full   *fullAlarm
	mu     sync.Mutex
	count  int
	logged int
}

// backgroundErrorsLoggedInFull is the number of background errors logged
// before repeats are only counted.
const backgroundErrorsLoggedInFull = 3

func (b *backgroundErrors) report(err error) {
	if b.full != nil && isDiskFull(err) {
		b.full.raise(err)
	}
	b.mu.Lock()
	b.count++
	count := b.count
	logIt := count <= backgroundErrorsLoggedInFull || count >= 2*b.logged
	if logIt {
		b.logged = count
	}
	b.mu.Unlock()
	if !logIt {
		return
	}
	msg := "pebble: background error"
	if isDiskFull(err) {
		msg = "pebble: background error: the volume that holds the store is full"
	}
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		msg = "pebble: background error: a file of the store is damaged"
		err = &DamagedError{File: info.Path, Problem: corruptionProblem(info.Details)}
	}
	b.log.Error(msg, "error", err, "count", count)
}

// FormatSize returns n bytes in binary units with one decimal, such as
// "59.6 MiB", or in bytes below 1 KiB.
func FormatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	value := float64(n) / 1024
	i := 0
	for value >= 1024 && i < len(units)-1 {
		value /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", value, units[i])
}
