package cas

import (
	"bytes"
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"stella-ops.org/ouk/internal/bindmount"
	"stella-ops.org/ouk/internal/errdef"
)

// storeWithBlob creates a store in dir holding one blob, closes it and
// returns the blob's descriptor and bytes.
func storeWithBlob(t *testing.T, dir string) (ocispec.Descriptor, []byte) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(21, 3000)
	desc := push(t, s, data, "application/octet-stream")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return desc, data
}

// waitSignal is a slog.Handler that closes waiting when Open logs that it
// waits for another holder of the store.
type waitSignal struct {
	once    sync.Once
	waiting chan struct{}
}

func newWaitSignal() *waitSignal { return &waitSignal{waiting: make(chan struct{})} }

func (w *waitSignal) Enabled(context.Context, slog.Level) bool { return true }

func (w *waitSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "waiting") {
		w.once.Do(func() { close(w.waiting) })
	}
	return nil
}

func (w *waitSignal) WithAttrs([]slog.Attr) slog.Handler { return w }

func (w *waitSignal) WithGroup(string) slog.Handler { return w }

// storeOpenResult is the outcome of an Open in another goroutine.
type storeOpenResult struct {
	store *Store
	err   error
}

// openLoggedWaitingWriter opens the store in dir for writing in a
// goroutine and returns once that Open logs that it waits for another
// holder. The channel receives the result of the Open, and the caller
// closes the store.
func openLoggedWaitingWriter(t *testing.T, dir string) <-chan storeOpenResult {
	t.Helper()
	signal := newWaitSignal()
	opened := make(chan storeOpenResult, 1)
	go func() {
		s, err := Open(dir, Options{LockWait: time.Minute, Logger: slog.New(signal)})
		opened <- storeOpenResult{store: s, err: err}
	}()
	<-signal.waiting
	return opened
}

func TestIsUnwritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"read-only mount", &iofs.PathError{Op: "open", Path: "LOCK", Err: syscall.EROFS}, true},
		{"no write permission", &iofs.PathError{Op: "open", Path: "LOCK", Err: syscall.EACCES}, true},
		{"operation not permitted", &iofs.PathError{Op: "open", Path: "LOCK", Err: syscall.EPERM}, true},
		{"I/O error", &iofs.PathError{Op: "open", Path: "LOCK", Err: syscall.EIO}, false},
		// fcntl reports a lock that another process holds with EACCES or
		// EAGAIN, and no path.
		{"lock held, EACCES", syscall.EACCES, false},
		{"lock held, EAGAIN", syscall.EAGAIN, false},
	} {
		if got := isUnwritable(tc.err); got != tc.want {
			t.Errorf("%s: isUnwritable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestOpenUnwritableFallsBackToReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		errno   syscall.Errno
		problem string
	}{
		{"read-only mount", syscall.EROFS, "read-only mount"},
		{"no write permission", syscall.EACCES, "may not write"},
		{"operation not permitted", syscall.EPERM, "may not write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			desc, data := storeWithBlob(t, dir)
			// A record that another host's holder left: a reader must
			// neither replace nor remove it.
			other := currentProcess()
			other.Host = "other-host.example"
			writeHolderRecord(t, dir, holderRecord{Command: "stella ouk import", process: other})
			record, err := os.ReadFile(filepath.Join(dir, holderFile))
			if err != nil {
				t.Fatal(err)
			}
			denied := deniedFS{FS: vfs.Default, lockErr: tc.errno}

			_, err = Open(dir, Options{fs: denied})
			if err == nil {
				t.Fatal("Open for writing of a store whose lock file cannot be written succeeded")
			}
			if !errors.Is(err, tc.errno) {
				t.Errorf("error %v does not wrap %v", err, tc.errno)
			}
			for _, want := range []string{dir, tc.problem, "--store", "only read"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q: %v", want, err)
				}
			}

			s, err := Open(dir, Options{fs: denied, ReadOnlyIfUnwritable: true})
			if err != nil {
				t.Fatalf("Open with ReadOnlyIfUnwritable: %v", err)
			}
			if !s.ReadOnly() {
				t.Error("ReadOnly() = false for a store opened under the shared lock")
			}
			if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
				t.Error("blob read from the store opened read-only differs")
			}
			more := randomBytes(22, 100)
			if err := s.Push(context.Background(), descOf(more, ""), bytes.NewReader(more)); !errors.Is(err, pebble.ErrReadOnly) {
				t.Errorf("Push to the store opened read-only: err = %v, want pebble.ErrReadOnly", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(dir, holderFile)); err != nil || !bytes.Equal(got, record) {
				t.Errorf("holder record after the read-only open and close = %q, %v; want it unchanged", got, err)
			}
		})
	}
}

func TestOpenOtherLockErrorNoFallback(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	_, err := Open(dir, Options{fs: deniedFS{FS: vfs.Default, lockErr: syscall.EIO}, ReadOnlyIfUnwritable: true})
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Open whose lock fails with EIO: err = %v, want it to fail with EIO", err)
	}
}

func TestOpenWritableIgnoresFallback(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{ReadOnlyIfUnwritable: true})
	if s.ReadOnly() {
		t.Error("a writable store opened with ReadOnlyIfUnwritable is read-only")
	}
	push(t, s, []byte("writable"), "application/octet-stream")
}

func TestSharedLockExcludesWriter(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	reader := Options{fs: deniedFS{FS: vfs.Default, lockErr: syscall.EROFS}, ReadOnlyIfUnwritable: true}

	first, err := Open(dir, reader)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(dir, reader)
	if err != nil {
		t.Fatalf("second reader while the first holds the shared lock: %v", err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("writer while readers hold the store: err = %v, want ErrStoreInUse", err)
	}

	// A writer that waits gets the store once every reader has closed it.
	opened := openLoggedWaitingWriter(t, dir)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-opened:
		t.Fatalf("writer got the store while a reader still held it (err = %v)", r.err)
	default:
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	waited := <-opened
	if waited.err != nil {
		t.Fatalf("writer that waited for the readers: %v", waited.err)
	}
	if err := waited.store.Close(); err != nil {
		t.Fatalf("closing the writer that waited for the readers: %v", err)
	}

	// A reader waits for a writer in turn.
	w := openTest(t, dir, Options{})
	if _, err := Open(dir, reader); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Errorf("reader while a writer holds the store: err = %v, want ErrStoreInUse", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOnReadOnlyMount(t *testing.T) {
	src := t.TempDir()
	desc, data := storeWithBlob(t, src)
	ro := bindmount.ReadOnly(t, src)

	_, err := Open(ro, Options{})
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Open for writing on a read-only mount: err = %v, want EROFS", err)
	}
	if !strings.Contains(err.Error(), "read-only mount") || !strings.Contains(err.Error(), ro) {
		t.Errorf("error does not name the folder and the read-only mount: %v", err)
	}

	first, err := Open(ro, Options{ReadOnlyIfUnwritable: true})
	if err != nil {
		t.Fatalf("Open with ReadOnlyIfUnwritable on a read-only mount: %v", err)
	}
	if !first.ReadOnly() {
		t.Error("ReadOnly() = false on a read-only mount")
	}
	if got := fetchAll(t, first, desc); !bytes.Equal(got, data) {
		t.Error("blob read through the read-only mount differs")
	}
	second, err := Open(ro, Options{ReadOnlyIfUnwritable: true})
	if err != nil {
		t.Fatalf("second reader on the read-only mount: %v", err)
	}

	// The writable path reaches the same lock file, so a writer there
	// waits for the readers.
	if _, err := Open(src, Options{}); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("writer through the writable path while readers hold the store: err = %v, want ErrStoreInUse", err)
	}
	opened := openLoggedWaitingWriter(t, src)
	for _, s := range []*Store{first, second} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waited := <-opened
	if waited.err != nil {
		t.Fatalf("writer that waited for the readers: %v", waited.err)
	}
	defer waited.store.Close()
	if _, err := Open(ro, Options{ReadOnlyIfUnwritable: true}); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Errorf("reader on the read-only mount while a writer holds the store: err = %v, want ErrStoreInUse", err)
	}
	if _, err := os.Stat(filepath.Join(src, holderFile)); err != nil {
		t.Errorf("holder record of the writer: %v", err)
	}
}

func TestOpenReadOnlyMountWithoutLockFile(t *testing.T) {
	src := t.TempDir()
	ro := bindmount.ReadOnly(t, src)
	_, err := Open(ro, Options{ReadOnlyIfUnwritable: true})
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("Open of an empty folder on a read-only mount: err = %v, want one wrapping ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "no lock file") || !strings.Contains(err.Error(), "never opened for writing") {
		t.Errorf("error does not say that the folder was never opened as a store: %v", err)
	}
}

// A reader that comes while a writer waits for the readers before it must
// wait for that writer, or readers that overlap would keep the writer out
// for as long as they keep coming.
func TestSharedLockWaitingWriterFirst(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	reader := Options{fs: deniedFS{FS: vfs.Default, lockErr: syscall.EROFS}, ReadOnlyIfUnwritable: true}
	first, err := Open(dir, reader)
	if err != nil {
		t.Fatal(err)
	}

	done := startWaitingWriter(t, dir)

	second, err := Open(dir, reader)
	if err == nil {
		_ = second.Close()
		t.Error("a new reader took the store while a writer waited for the reader before it")
	} else if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Errorf("new reader while a writer waits: err = %v, want ErrStoreInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("writer that waited for the reader: %v", err)
	}
	later, err := Open(dir, reader)
	if err != nil {
		t.Fatalf("reader after the writer closed the store: %v", err)
	}
	if err := later.Close(); err != nil {
		t.Fatal(err)
	}
}

// A writer that starts to wait while another writer holds the store must
// still go before the readers that come after that writer's release, even
// when a reader took the store first at the release.
func TestSharedLockWriterGateAfterRelease(t *testing.T) {
	dir := t.TempDir()
	storeWithBlob(t, dir)
	reader := Options{fs: deniedFS{FS: vfs.Default, lockErr: syscall.EROFS}, ReadOnlyIfUnwritable: true}
	lockPath := filepath.Join(dir, lockFileName)

	// The test's own OFD write lock on the whole file stands for a writer
	// of another process, as Pebble's lock covers the whole file too.
	holder, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	setLock(t, holder, unix.F_WRLCK, 0, 0)

	done := startWaitingWriter(t, dir)

	// The holder hands the store to a reader without a gap: the bytes of
	// a reader turn into a read lock, then the rest is unlocked.
	setLock(t, holder, unix.F_RDLCK, 0, writerGate)
	setLock(t, holder, unix.F_UNLCK, writerGate, 0)
	deadline := time.Now().Add(10 * time.Second)
	for !writerGateLocked(t, lockPath) {
		if time.Now().After(deadline) {
			t.Fatal("the waiting writer did not lock the writer gate after the holder released the store")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if second, err := Open(dir, reader); err == nil {
		_ = second.Close()
		t.Error("a new reader took the store while a writer waited")
	}

	setLock(t, holder, unix.F_UNLCK, 0, 0)
	if err := <-done; err != nil {
		t.Fatalf("writer that waited: %v", err)
	}
}

// setLock sets an OFD lock of type lockType on f from start for length
// bytes, where 0 means to the end of the file and beyond.
func setLock(t *testing.T, f *os.File, lockType int16, start, length int64) {
	t.Helper()
	spec := unix.Flock_t{Type: lockType, Whence: io.SeekStart, Start: start, Len: length}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &spec); err != nil {
		t.Fatalf("setting lock type %d on %s from %d for %d bytes: %v", lockType, f.Name(), start, length, err)
	}
}

// writerGateLocked reports whether a lock on the lock file at path keeps
// a reader off its writer gate.
func writerGateLocked(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return checkWriterGate(f) != nil
}

// startWaitingWriter opens the store in dir for writing in a goroutine,
// which closes it again once it has it, and returns when that Open waits
// for the store's release. The channel receives the result of the Open
// and Close.
func startWaitingWriter(t *testing.T, dir string) <-chan error {
	t.Helper()
	before := releaseWaitsInFlight.Load()
	done := make(chan error, 1)
	go func() {
		w, err := Open(dir, Options{LockWait: time.Minute})
		if err == nil {
			err = w.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for releaseWaitsInFlight.Load() <= before {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not start waiting within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return done
}
