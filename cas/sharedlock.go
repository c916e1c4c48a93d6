package cas

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// sharedLockFS is the store's file system with Lock replaced by
// lockShared, so that pebble.LockDirectory takes the shared lock of a
// reader in place of Pebble's exclusive one.
type sharedLockFS struct{ vfs.FS }

func (sharedLockFS) Lock(name string) (io.Closer, error) { return lockShared(name) }

// lockShared opens the lock file name read-only and takes a shared read
// lock (F_RDLCK) on its bytes below writerGate. Any number of readers can
// hold it at the same time. It conflicts with the exclusive write lock
// (F_WRLCK) on the whole file that Pebble v2.1.7 takes with F_SETLK
// (vfs/file_lock_unix.go), so readers and a writer wait for each other,
// including a writer that reaches the same file through another mount.
// A reader also waits while a writer waits (see writerGate), so that
// readers that overlap cannot keep a writer out for good.
//
// The lock is an open file description lock (F_OFD_SETLK, Linux 3.15 and
// later). Unlike an F_SETLK lock, it belongs to the open file and not to
// the process. So it conflicts with a writer's lock taken in this same
// process, and closing another descriptor of the file does not release it. A lock
// held elsewhere fails with a bare EAGAIN or EACCES, as isLockHeld
// expects, and a file that cannot be opened with a *fs.PathError.
//
// It locks the operating system's file even when the store's vfs.FS is
// another one, so it serves only stores on vfs.Default or on wrappers of
// it.
func lockShared(name string) (io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if err := checkWriterGate(f); err != nil {
		closeLockFile(f)
		return nil, err
	}
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: 0, Len: writerGate}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &spec); err != nil {
		// A plain close would release a writer's lock that this process
		// holds on the file (see processLocks).
		closeLockFile(f)
		return nil, err
	}
	return f, nil
}

// writerGate is the offset of the byte of the lock file that a writer
// locks for writing while it waits for the store (see startReleaseWait).
// Readers lock only the bytes below it, so a waiting writer can take it
// while readers hold the store, and a new reader finds it locked and
// waits. Pebble's lock covers the whole file, this byte included. The
// kernel wait of a writer that gave up keeps the gate until the readers
// before it close the store, so new readers wait for those too.
const writerGate = 1 << 62

// checkWriterGate returns EAGAIN, as for a held lock, when another lock
// on the writer gate of the lock file f keeps a reader out: a waiting
// writer's, or that of a writer holding the store.
func checkWriterGate(f *os.File) error {
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: writerGate, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &spec); err != nil {
		return err
	}
	if spec.Type != unix.F_UNLCK {
		return unix.EAGAIN
	}
	return nil
}

// isUnwritable reports whether err, from taking Pebble's lock, means that
// the lock file cannot be opened for writing: the volume is mounted
// read-only (EROFS) or this user may not write the file or its folder
// (EACCES, EPERM). A lock held by another process fails without a
// *fs.PathError (see isLockHeld), so its EACCES does not count.
func isUnwritable(err error) bool {
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) {
		return false
	}
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}

// unwritableError describes err, a lock file that cannot be opened for
// writing (isUnwritable), for a command that needs to write the store.
func (s *Store) unwritableError(err error) error {
	problem := fmt.Sprintf("this user (uid %d) may not write its files", os.Geteuid())
	advice := "run it as the user who owns the store, give this user write permission on the store folder " +
		"and its files"
	if errors.Is(err, syscall.EROFS) {
		problem = "it is on a read-only mount"
		advice = "run it on a host or in a container that mounts the store read-write"
	}
	return fmt.Errorf("opening store %s for writing: %s (%w); this command writes to the store, so %s, "+
		"or give a writable store with --store. Commands that only read, such as `stella db lookup`, "+
		"`stella scan` and `stella ouk status`, work on such a store", s.dir, problem, err, advice)
}

// sharedLockError describes err, a lock file that lockShared could not
// open. A missing lock file means that no process has opened the store
// for writing, so it holds no data, or that the folder is not a store.
func (s *Store) sharedLockError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("opening store %s read-only: it has no lock file, so it was never opened for writing "+
			"and holds no kit, or it is not a stella store (%w); check --store, or import a kit into it where it "+
			"is mounted read-write", s.dir, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("opening store %s read-only: this user (uid %d) may not read its lock file (%w); give "+
			"this user read permission on the store folder and its files, or run the command as the user who "+
			"owns the store", s.dir, os.Geteuid(), err)
	}
	return fmt.Errorf("locking store %s for reading: %w", s.dir, err)
}
