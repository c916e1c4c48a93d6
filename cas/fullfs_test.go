package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// fullFS wraps a vfs.FS as a volume with a byte budget. Writes past the
// budget fail with errno like a full disk, and GetDiskUsage reports the
// budget left, unless reportAvail overrides it. Creating, renaming and
// removing files still succeed, as they do on a full tmpfs.
type fullFS struct {
	vfs.FS

	mu     sync.Mutex
	budget int64
	errno  syscall.Errno
	// reportAvail, when not negative, is the free space GetDiskUsage
	// reports instead of the budget, as for a quota that statfs misses.
	reportAvail int64
	// failures counts the writes that failed for lack of space.
	failures int
}

func newFullFS(inner vfs.FS, budget int64) *fullFS {
	return &fullFS{FS: inner, budget: budget, errno: syscall.ENOSPC, reportAvail: -1}
}

// setBudget sets the bytes that writes may still use.
func (f *fullFS) setBudget(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget = n
}

// take charges n bytes written to name, or returns the full-disk error.
func (f *fullFS) take(name string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if int64(n) > f.budget {
		f.failures++
		return &iofs.PathError{Op: "write", Path: name, Err: f.errno}
	}
	f.budget -= int64(n)
	return nil
}

func (f *fullFS) failureCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

func (f *fullFS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &fullFile{File: file, fs: f, name: name}, nil
}

func (f *fullFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	return f.wrap(name, file, err)
}

func (f *fullFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, category, opts...)
	return f.wrap(name, file, err)
}

func (f *fullFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, category)
	return f.wrap(newname, file, err)
}

func (f *fullFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	avail := f.budget
	if f.reportAvail >= 0 {
		avail = f.reportAvail
	}
	return vfs.DiskUsage{AvailBytes: uint64(avail), TotalBytes: 1 << 30, UsedBytes: 1<<30 - uint64(avail)}, nil
}

func (f *fullFS) Unwrap() vfs.FS { return f.FS }

// fullFile charges its writes to the budget of its fullFS.
type fullFile struct {
	vfs.File
	fs   *fullFS
	name string
}

func (f *fullFile) Write(p []byte) (int, error) {
	if err := f.fs.take(f.name, len(p)); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.take(f.name, len(p)); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

// Preallocate fails on a full volume, as fallocate does; Pebble ignores the
// error for its write-ahead log.
func (f *fullFile) Preallocate(offset, length int64) error {
	if err := f.fs.take(f.name, 0); err != nil {
		return err
	}
	return f.File.Preallocate(offset, length)
}

// storeOnFullVolume creates a store on a fullFS with one blob and an
// unflushed write-ahead log, closes it, and then leaves budget bytes for
// writes. With reportAvail at or above zero, GetDiskUsage reports that
// instead of the budget.
func storeOnFullVolume(t *testing.T, budget, reportAvail int64) (*fullFS, ocispec.Descriptor, []byte) {
	t.Helper()
	fs := newFullFS(vfs.NewMem(), 1<<40)
	s, err := Open("/store", Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(7, 4000)
	desc := push(t, s, data, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs.setBudget(budget)
	fs.reportAvail = reportAvail
	return fs, desc, data
}

func TestOpenFullVolumeReadOnlyIfFull(t *testing.T) {
	fs, desc, data := storeOnFullVolume(t, 0, -1)
	s := openTest(t, "/store", Options{fs: fs, ReadOnlyIfFull: true})
	if !s.ReadOnly() {
		t.Error("store on a full volume opened for writing with ReadOnlyIfFull")
	}
	if err := s.LowSpace(); !errors.Is(err, errdef.ErrDiskFull) {
		t.Errorf("LowSpace() = %v, want an error wrapping errdef.ErrDiskFull", err)
	}
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Error("blob differs when read from a store opened read-only on a full volume")
	}
	if n := fs.failureCount(); n != 0 {
		t.Errorf("read-only open tried %d writes on a full volume", n)
	}
}

func TestOpenReadOnlyIfFullWithoutInodes(t *testing.T) {
	saved := freeInodes
	t.Cleanup(func() { freeInodes = saved })
	fs, desc, data := storeOnFullVolume(t, 1<<30, -1)
	freeInodes = func(string) (uint64, uint64, error) { return 3, 1000, nil }

	_, err := Open("/store", Options{fs: fs})
	if !errors.Is(err, errdef.ErrDiskFull) || !strings.Contains(err.Error(), "only 3 free inodes") {
		t.Errorf("Open on a volume without free inodes: err = %v, want disk full naming the 3 free inodes", err)
	}
	s := openTest(t, "/store", Options{fs: fs, ReadOnlyIfFull: true})
	if !s.ReadOnly() {
		t.Error("store on a volume without free inodes opened for writing with ReadOnlyIfFull")
	}
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Error("blob differs when read from a store opened read-only without free inodes")
	}
}

func TestOpenReadOnlyIfFullWithSpace(t *testing.T) {
	fs, _, _ := storeOnFullVolume(t, 1<<30, -1)
	s := openTest(t, "/store", Options{fs: fs, ReadOnlyIfFull: true})
	if s.ReadOnly() {
		t.Error("store on a volume with space opened read-only with ReadOnlyIfFull")
	}
	if err := s.LowSpace(); err != nil {
		t.Errorf("LowSpace() = %v, want nil", err)
	}
}

func TestOpenFullVolumeChecksSpaceFirst(t *testing.T) {
	fs, desc, data := storeOnFullVolume(t, 0, -1)
	_, err := Open("/store", Options{fs: fs})
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("Open on a full volume: err = %v, want errdef.ErrDiskFull", err)
	}
	for _, want := range []string{"/store", "0 B free", "stella ouk gc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := fs.failureCount(); n != 0 {
		t.Errorf("Open tried %d writes on a volume it knew was full", n)
	}

	// The check released the lock, so the store opens once there is space.
	fs.setBudget(1 << 30)
	s := openTest(t, "/store", Options{fs: fs})
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Errorf("blob differs after the volume was full")
	}
}

func TestOpenFullVolumeWithoutStatfs(t *testing.T) {
	// The volume reports plenty of free space, as with a quota that statfs
	// does not show, so the writes of the open itself fail. Without the
	// watch, Pebble panics in a background goroutine at some budgets and
	// retries its flush forever at others.
	for _, budget := range []int64{0, 100, 2000, 5000, 20000} {
		fs, _, _ := storeOnFullVolume(t, budget, 1<<30)
		s, err := Open("/store", Options{fs: fs})
		if err == nil {
			s.Close()
			if budget == 0 {
				t.Errorf("Open with no space left succeeded")
			}
			continue
		}
		if !errors.Is(err, errdef.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("budget %d: err = %v, want errdef.ErrDiskFull and ENOSPC", budget, err)
		}
		// ENOSPC with 1 GiB free is what a volume out of inodes reports.
		if !strings.Contains(err.Error(), "df -i") {
			t.Errorf("budget %d: error %q does not suggest checking inodes", budget, err)
		}
	}
}

func TestOpenQuotaExceeded(t *testing.T) {
	fs, _, _ := storeOnFullVolume(t, 0, 1<<30)
	fs.errno = syscall.EDQUOT
	_, err := Open("/store", Options{fs: fs})
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "quota") {
		t.Errorf("error %q does not mention the quota", err)
	}
	if strings.Contains(err.Error(), "inodes") {
		t.Errorf("error %q blames inodes for a quota", err)
	}
}

func TestOpenReadOnlyOnFullVolume(t *testing.T) {
	fs, desc, data := storeOnFullVolume(t, 0, -1)
	s := openTest(t, "/store", Options{fs: fs, ReadOnly: true})
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Errorf("blob read from a read-only store differs")
	}
	other := randomBytes(8, 100)
	if err := s.Push(context.Background(), descOf(other, ""), bytes.NewReader(other)); !errors.Is(err, pebble.ErrReadOnly) {
		t.Errorf("Push to a read-only store: err = %v, want pebble.ErrReadOnly", err)
	}
	if n := fs.failureCount(); n != 0 {
		t.Errorf("read-only store tried %d writes", n)
	}
}

func TestOpenReadOnlyMissingStore(t *testing.T) {
	fs := vfs.NewMem()
	_, err := Open("/absent", Options{fs: fs, ReadOnly: true})
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("err = %v, want errdef.ErrNotFound", err)
	}
	if _, statErr := fs.Stat("/absent"); statErr == nil {
		t.Errorf("read-only Open created the store directory")
	}
}

func TestFatalfPanicsWithCause(t *testing.T) {
	cause := &iofs.PathError{Op: "write", Path: "/store/MANIFEST-000006", Err: syscall.ENOSPC}
	err := func() (err error) {
		defer recoverFatal(&err)
		pebbleLogger{slog.New(slog.DiscardHandler)}.Fatalf("MANIFEST flush failed: %v", cause)
		return nil
	}()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("recovered err = %v, want one wrapping ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "MANIFEST flush failed") {
		t.Errorf("recovered err %q lost Pebble's message", err)
	}
}

func TestBackgroundErrorsRateLimited(t *testing.T) {
	var logged bytes.Buffer
	b := &backgroundErrors{log: slog.New(slog.NewTextHandler(&logged, nil))}
	cause := &iofs.PathError{Op: "write", Path: "/store/000011.sst", Err: syscall.ENOSPC}
	for range 100000 {
		b.report(cause)
	}
	lines := strings.Count(logged.String(), "\n")
	if lines < backgroundErrorsLoggedInFull || lines > 20 {
		t.Errorf("100000 repeats of one error logged %d lines, want between %d and 20",
			lines, backgroundErrorsLoggedInFull)
	}
	if !strings.Contains(logged.String(), "volume that holds the store is full") {
		t.Errorf("log does not say the volume is full:\n%s", logged.String())
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{24690646, "23.5 MiB"},
		{62484480, "59.6 MiB"},
		{67108864, "64.0 MiB"},
		{3 << 30, "3.0 GiB"},
	} {
		if got := FormatSize(tc.n); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// deniedFS is a file system whose MkdirAll fails with mkdirErr and whose
// Lock fails with lockErr, as on a read-only mount or a folder the user
// cannot enter.
type deniedFS struct {
	vfs.FS
	mkdirErr, lockErr error
}

func (f deniedFS) MkdirAll(dir string, perm iofs.FileMode) error {
	if f.mkdirErr != nil {
		return &iofs.PathError{Op: "mkdir", Path: dir, Err: f.mkdirErr}
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f deniedFS) Lock(name string) (io.Closer, error) {
	if f.lockErr != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: f.lockErr}
	}
	return f.FS.Lock(name)
}

func TestOpenDeniedGivesNextStep(t *testing.T) {
	for name, fs := range map[string]deniedFS{
		"read-only mount":   {FS: vfs.NewMem(), lockErr: syscall.EROFS},
		"no write access":   {FS: vfs.NewMem(), lockErr: syscall.EACCES},
		"folder not usable": {FS: vfs.NewMem(), mkdirErr: syscall.EACCES},
	} {
		_, err := Open("/store", Options{fs: fs})
		if err == nil {
			t.Fatalf("%s: Open succeeded", name)
		}
		if !strings.Contains(err.Error(), "--store") {
			t.Errorf("%s: error does not say what to do: %v", name, err)
		}
		if fs.mkdirErr != nil && strings.Contains(err.Error(), "creating") {
			t.Errorf("%s: error says the existing folder is being created: %v", name, err)
		}
	}
}

func TestWrapDiskFull(t *testing.T) {
	s := openTest(t, "/store", Options{fs: newFullFS(vfs.NewMem(), 1<<40)})
	other := errors.New("read failed")
	already := fmt.Errorf("opening: %w", errdef.ErrDiskFull)
	for _, tc := range []struct {
		name string
		err  error
		// want lists what the message contains; nil means err comes back
		// unchanged.
		want []string
	}{
		{"nil", nil, nil},
		{"other error", other, nil},
		{"disk-full error already", already, nil},
		{"ENOSPC", writeErr(syscall.ENOSPC), []string{"store /store", "volume is full", "free space", ": disk full"}},
		{"EDQUOT", writeErr(syscall.EDQUOT), []string{"store /store", "quota", ": disk full"}},
		{"EFBIG", writeErr(syscall.EFBIG), []string{"store /store", "maximum file size", "ulimit -f", ": disk full"}},
		{"fatal Pebble error", &fatalError{msg: "pebble: fatal commit error", cause: writeErr(syscall.EFBIG)},
			[]string{"fatal commit error", ": disk full"}},
	} {
		got := s.WrapDiskFull(tc.err)
		if tc.want == nil {
			if got != tc.err {
				t.Errorf("%s: WrapDiskFull changed %v to %v", tc.name, tc.err, got)
			}
			continue
		}
		if !errors.Is(got, errdef.ErrDiskFull) {
			t.Errorf("%s: %v does not wrap errdef.ErrDiskFull", tc.name, got)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: %v does not wrap the cause", tc.name, got)
		}
		for _, want := range tc.want {
			if !strings.Contains(got.Error(), want) {
				t.Errorf("%s: message %q does not contain %q", tc.name, got, want)
			}
		}
	}
}

// writeErr is the error of a write to a store file that failed with errno,
// wrapped as the store's callers wrap it.
func writeErr(errno syscall.Errno) error {
	cause := &iofs.PathError{Op: "write", Path: "/store/ingest/0123-abcd.sst", Err: errno}
	return fmt.Errorf("storing blob sha256:0123: writing sstable: %w", cause)
}

func TestPushIngestedTableFileTooLarge(t *testing.T) {
	fs := newFullFS(vfs.NewMem(), 1<<40)
	s := openTest(t, "/store", Options{fs: fs})
	fs.errno = syscall.EFBIG
	fs.setBudget(64 << 10)
	data := randomBytes(11, 1<<20) // above ingestThreshold, so it goes into a table of its own
	desc := descOf(data, "")
	err := s.Push(context.Background(), desc, bytes.NewReader(data))
	if !errors.Is(err, errdef.ErrDiskFull) || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Push past the file size limit: err = %v, want errdef.ErrDiskFull and EFBIG", err)
	}
	if ok, _ := s.Exists(context.Background(), desc); ok {
		t.Errorf("blob exists after its push failed")
	}

	fs.setBudget(1 << 30)
	push(t, s, data, "")
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Errorf("blob pushed after the limit was lifted differs")
	}
}

func TestPushFullWriteAheadLog(t *testing.T) {
	// Pebble calls Fatalf when a commit cannot write the write-ahead log.
	// The store must return that as a disk-full error, stop writing, close,
	// and open again once there is space.
	fs := newFullFS(vfs.NewMem(), 1<<40)
	s, err := Open("/store", Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	fs.setBudget(0)
	data := randomBytes(12, 1000) // below ingestThreshold, so it goes through the log
	desc := descOf(data, "")
	err = s.Push(context.Background(), desc, bytes.NewReader(data))
	if !errors.Is(err, errdef.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Push with a full log: err = %v, want errdef.ErrDiskFull and ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "store /store") {
		t.Errorf("error %q does not name the store", err)
	}

	failures := fs.failureCount()
	other := randomBytes(13, 1000)
	err = s.Push(context.Background(), descOf(other, ""), bytes.NewReader(other))
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Errorf("Push after the fatal error: err = %v, want errdef.ErrDiskFull", err)
	}
	if n := fs.failureCount(); n != failures {
		t.Errorf("store tried %d more writes after the fatal error", n-failures)
	}
	if err := s.Close(); err == nil {
		t.Errorf("Close after the fatal error returned no error")
	}

	fs.setBudget(1 << 30)
	s = openTest(t, "/store", Options{fs: fs})
	if ok, _ := s.Exists(context.Background(), desc); ok {
		t.Errorf("blob whose metadata write failed exists after reopening")
	}
	push(t, s, data, "")
}

func TestDiskFullInodeHint(t *testing.T) {
	saved := freeInodes
	t.Cleanup(func() { freeInodes = saved })
	cases := []struct {
		name        string
		avail, all  uint64
		err         error
		want, avoid string
	}{
		{"inodes left", 1000, 5000, nil, "freed after the write failed", "df -i"},
		{"no inodes left", 0, 5000, nil, "no free inodes", "freed after"},
		{"no fixed inode count", 0, 0, nil, "may be out of inodes", "freed after"},
		{"statfs failed", 0, 0, syscall.EIO, "may be out of inodes", "freed after"},
	}
	for _, c := range cases {
		freeInodes = saved
		fs, _, _ := storeOnFullVolume(t, 0, 1<<30)
		freeInodes = func(string) (uint64, uint64, error) { return c.avail, c.all, c.err }
		_, err := Open("/store", Options{fs: fs})
		if !errors.Is(err, errdef.ErrDiskFull) {
			t.Errorf("%s: err = %v, want errdef.ErrDiskFull", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q lacks %q", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), c.avoid) {
			t.Errorf("%s: error %q says %q", c.name, err, c.avoid)
		}
	}
}

func TestOpenWatchPassesCompactionErrors(t *testing.T) {
	// Pebble removes the tables of a failed compaction itself, so the
	// watch must return the error of such a write rather than park it and
	// leave a partial table behind.
	full := newFullFS(vfs.NewMem(), 0)
	watch := newOpenWatch()
	wfs := &watchedFS{FS: full, watch: watch}
	f, err := wfs.Create("/000009.sst", compactionWriteCategory)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Write(make([]byte, 4096))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("compaction write: err = %v, want ENOSPC", err)
		}
	case <-watch.full:
		t.Fatalf("the watch parked a compaction's write during the open")
	}
	if err := watch.finish(); err != nil {
		t.Errorf("the watch recorded a compaction's error: %v", err)
	}
}
