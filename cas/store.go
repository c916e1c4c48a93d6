package cas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
)

const (
	// DefaultChunkSize is the number of blob bytes stored per chunk key when
	// Options.ChunkSize is zero.
	DefaultChunkSize int64 = 1 << 20
	// MaxChunkSize is the largest Options.ChunkSize that Open accepts. Push
	// holds about two chunks in memory at a time.
	MaxChunkSize int64 = 64 << 20
	// blockCacheSize is the size of Pebble's block cache. It fills only as
	// blocks are read, so an import, which mostly writes, stays small. A
	// scan of a large SBOM reads index and data blocks of records spread
	// over the whole DB, and with 64 MiB the 99th percentile of purl
	// lookups at 300,000 records was about 0.2 ms slower.
	blockCacheSize = 256 << 20
	// memTableSize is the size of each Pebble memtable.
	memTableSize = 64 << 20
)

// Permissions, before the umask, of the folders that Open creates.
const (
	// storeDirPerm is the permission of the store directory and the
	// folders in it. Other users may read them, so that a reader under
	// ReadOnlyIfUnwritable needs only the folders above the store to let
	// it in.
	storeDirPerm fs.FileMode = 0o755
	// defaultParentPerm is the permission of the folders above the store
	// directory when Options.ParentPerm is zero.
	defaultParentPerm fs.FileMode = 0o755
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// ChunkSize is the number of blob bytes stored per chunk key; zero means
	// DefaultChunkSize. It applies to blobs pushed from now on, since every
	// blob records its own chunk size.
	ChunkSize int64
	// Logger receives the store's and Pebble's log messages; nil discards them.
	Logger *slog.Logger
	// LockWait is how long Open waits while another process holds the
	// store. Open takes the store as soon as the holder releases it (see
	// acquireLock). Zero fails at once with an *InUseError. The context of
	// OpenContext ends the wait earlier.
	LockWait time.Duration
	// MustExist makes Open fail with an error wrapping errdef.ErrNotFound,
	// creating nothing, when dir does not exist or when the process whose
	// release Open waited for removed the store (CloseAndRemoveIfEmpty).
	// Without it, Open creates the store in both cases. ReadOnly implies
	// it.
	MustExist bool
	// ReadOnly opens an existing store without writing to its database,
	// so it opens even when the volume is full. It writes the lock holder
	// record, as an open for writing does, unless the volume is short of
	// the space that an open for writing needs. Without a record of its
	// own, or when its write fails, it removes the one that the last
	// holder left. Pebble replays the
	// write-ahead log into memory instead of flushing it, and every write
	// returns an error wrapping pebble.ErrReadOnly. The default opens for writing.
	// When the lock file cannot be opened for writing, a read-only open
	// takes the shared lock, as with ReadOnlyIfUnwritable.
	ReadOnly bool
	// ReadOnlyIfUnwritable opens the store read-only, as ReadOnly does,
	// when its lock file cannot be opened for writing because the volume
	// is mounted read-only or this user may not write it. Open then takes
	// a shared lock on the lock file in place of the exclusive one. Any
	// number of such readers share the store, and a writer on this host
	// waits for all of them, as they wait for it. Such an open writes and
	// removes no holder record. A store that can be written opens for
	// writing as usual. Without this option, a store that cannot be
	// written fails to open with an error that names its folder.
	ReadOnlyIfUnwritable bool
	// ReadOnlyIfFull opens the store read-only, as ReadOnly does, when
	// its volume reports less free space or fewer free inodes than an
	// open for writing needs, where the open would otherwise fail with
	// errdef.ErrDiskFull. LowSpace then returns that error. A limit the
	// volume does not report, such as a disk quota, still fails the open.
	ReadOnlyIfFull bool
	// HolderCommand is the command that the holder record names, such as
	// "stella ouk import". When it is empty, the record takes the words of
	// the command line shaped like command names (isCommandWord).
	HolderCommand string
	// CacheSize is the size of Pebble's block cache in bytes; zero means
	// 256 MiB. A process that mostly writes, such as an import, needs
	// little, because the cache then keeps only the blocks that Pebble
	// reads while it ingests tables.
	CacheSize int64
	// ParentPerm is the permission, before the umask, of the missing
	// folders above the store directory that Open creates. Open creates
	// them on the first open and again when the holder it waited for
	// removed the store and its folder (see CloseAndRemoveIfEmpty). Zero
	// means 0755. The store directory and the folders in it always get
	// storeDirPerm, 0755.
	ParentPerm fs.FileMode

	// fs replaces the operating system's file system in tests.
	fs vfs.FS
}

// Validate reports invalid option values.
func (o Options) Validate() error {
	if o.ChunkSize < 0 || o.ChunkSize > MaxChunkSize {
		return fmt.Errorf("chunk size %d is out of range: use 0 for the default of %d or a value up to %d",
			o.ChunkSize, DefaultChunkSize, MaxChunkSize)
	}
	if o.CacheSize < 0 {
		return fmt.Errorf("block cache size %d is negative: use 0 for the default of %d bytes or a positive size", o.CacheSize, blockCacheSize)
	}
	if o.LockWait < 0 {
		return fmt.Errorf("lock wait %s is negative: use 0 to fail at once or a positive duration", o.LockWait)
	}
	if o.ParentPerm&^fs.ModePerm != 0 || (o.ParentPerm != 0 && o.ParentPerm&0o700 != 0o700) {
		return fmt.Errorf("parent folder permission %#o is invalid: use 0 for the default of 0755 or permission "+
			"bits up to 0777 that let the owner read, write and search (0700)", uint32(o.ParentPerm))
	}
	return nil
}

// Store is a content-addressable store in one Pebble database. It is safe
// for concurrent use by multiple goroutines.
type Store struct {
	dir       string
	fs        vfs.FS
	db        *pebble.DB
	opts      *pebble.Options
	lock      *pebble.Lock
	log       *slog.Logger
	chunkSize int64
	// parentPerm is Options.ParentPerm, or its default.
	parentPerm fs.FileMode
	// readOnly is set when Pebble is open read-only, and shared when the
	// store holds the shared lock of a reader (see lockShared).
	readOnly bool
	shared   bool
	// lowSpace is the reason a store opened with Options.ReadOnlyIfFull
	// is read-only, or nil.
	lowSpace error
	// unsniffed is set while the store may hold manifests that an earlier
	// release stored without their edges (see checkFormat).
	unsniffed bool

	// inflight maps the digests being pushed to a channel closed when the
	// push ends, so one digest is written by one Push at a time.
	mu       sync.Mutex
	inflight map[digest.Digest]chan struct{}

	// historyMu serialises Activate, which derives the next history key.
	historyMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
	// served is set while one process serves the store to many commands
	// (see Serve), and Close then leaves it open.
	served atomic.Bool

	// brokenMu guards broken, the fatal Pebble error after which the
	// database is in an unknown state; see write.
	brokenMu sync.Mutex
	broken   error

	// damage is the first damaged file that Pebble reported.
	damage damageRecord

	// full records the flushes and compactions that found the volume
	// full, for compact and VolumeFull.
	full *fullAlarm
}

// Open opens the store in dir, creating dir and the database when absent
// unless opts.MustExist or opts.ReadOnly is set. When another process (or another Store in this process) holds the store,
// Open waits for its release for up to opts.LockWait and then returns an
// *InUseError, which wraps errdef.ErrStoreInUse. When the volume lacks the
// space that opening for writing needs, or a write during the open finds
// it full, Open returns an error wrapping errdef.ErrDiskFull. With
// opts.ReadOnly, such a store still opens for reading. A write that finds
// the volume full during the open also leaves the store locked by this
// process until it exits. Then that Open, and every later Open of the
// store in this process, returns an error that wraps
// errdef.ErrOpenAbandoned too. With
// opts.ReadOnlyIfUnwritable, a store whose lock file this process cannot
// write opens read-only under a shared lock.
func Open(dir string, opts Options) (*Store, error) {
	return OpenContext(context.Background(), dir, opts)
}

// OpenContext is Open with a context that ends the wait for another
// holder of the store. When ctx is done before OpenContext has taken the
// store, it returns an error wrapping ctx.Err() without opening the store:
// a *WaitStoppedError when ctx ended a wait for another holder.
// Once it has taken the store, it no longer reads ctx, so Pebble's replay
// of its log runs to the end.
func OpenContext(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", dir, err)
	}
	s := &Store{
		dir:        dir,
		fs:         opts.fs,
		log:        opts.Logger,
		chunkSize:  opts.ChunkSize,
		parentPerm: opts.ParentPerm,
		inflight:   make(map[digest.Digest]chan struct{}),
	}
	if s.fs == nil {
		s.fs = vfs.Default
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.chunkSize == 0 {
		s.chunkSize = DefaultChunkSize
	}
	if s.parentPerm == 0 {
		s.parentPerm = defaultParentPerm
	}
	mustExist := opts.ReadOnly || opts.MustExist
	createdDir := false
	if mustExist {
		if _, err := s.fs.Stat(dir); err != nil {
			mode := ""
			if opts.ReadOnly {
				mode = " read-only"
			}
			return nil, fmt.Errorf("opening store %s%s: %w; this open creates no store", dir, mode, errdef.ErrNotFound)
		}
	} else {
		// A directory that this open creates is removed again when the
		// open fails for lack of space (removeUnopenedDir).
		_, statErr := s.fs.Stat(dir)
		createdDir = errors.Is(statErr, fs.ErrNotExist)
		if err := s.createDir(); err != nil {
			if isDiskFull(err) {
				return nil, fmt.Errorf("creating store directory %s: %w", dir, s.diskFullError(err))
			}
			if errors.Is(err, fs.ErrPermission) {
				return nil, fmt.Errorf("opening store directory %s: %w; run stella as a user who can enter and write "+
					"the store folder, or give another folder with --store", dir, err)
			}
			return nil, fmt.Errorf("creating store directory %s: %w", dir, err)
		}
	}

	if err := s.abandonedError(); err != nil {
		return nil, err
	}
	lock, shared, err := s.acquireLock(ctx, opts.LockWait, mustExist, opts.ReadOnly || opts.ReadOnlyIfUnwritable)
	if err != nil {
		return nil, err
	}
	s.shared = shared
	s.readOnly = opts.ReadOnly || shared
	if err := s.checkDatabaseFiles(mustExist); err != nil {
		_ = lock.Close()
		return nil, err
	}
	switch {
	case shared:
		// Other readers may hold the store too, and this user cannot
		// write its folder, so the holder record stays as it is.
	case opts.ReadOnly && s.openSpaceShortfall() != "":
		// A read-only open on a volume short of space writes nothing, but
		// it removes the last holder's record, which is stale now.
		s.removeHolder()
	case opts.ReadOnly:
		// The exclusive lock makes other commands wait, so the record
		// names this process to them. A failed write only removes the
		// last holder's record.
		s.writeHolder(opts.HolderCommand)
	default:
		// Before the space check, because a table that a crashed push left
		// can take the space this open needs. No Push of this Store runs
		// before Open returns, and the exclusive lock keeps other
		// processes out.
		s.removeIngestLeftovers()
		shortfall := s.openSpaceShortfall()
		switch {
		case shortfall == "":
			s.writeHolder(opts.HolderCommand)
		case opts.ReadOnlyIfFull:
			// As with ReadOnly, the last holder's record is stale.
			s.readOnly = true
			s.lowSpace = lowSpaceError(shortfall)
			s.removeHolder()
		default:
			s.removeHolder()
			if createdDir {
				s.removeUnopenedDir()
			}
			_ = lock.Close()
			return nil, openSpaceError(dir, shortfall)
		}
	}
	watch := newOpenWatch()
	s.full = newFullAlarm()
	background := &backgroundErrors{log: s.log, full: s.full}
	listener := &pebble.EventListener{BackgroundError: background.report, DataCorruption: s.reportCorruption}
	s.full.listen(listener)
	popts := &pebble.Options{
		FS:            &watchedFS{FS: s.fs, watch: watch},
		Lock:          lock,
		Logger:        pebbleLogger{s.log},
		EventListener: listener,
		ReadOnly:      s.readOnly,
	}
	tuneOptions(popts)
	if opts.CacheSize > 0 {
		popts.CacheSize = opts.CacheSize
	}
	popts.EnsureDefaults()
	db, abandoned, err := s.openPebble(popts, watch)
	if err != nil {
		if !abandoned {
			s.removeHolder()
			_ = lock.Close()
		}
		if s.shared && errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("opening store %s read-only: this user (uid %d) may not read a file of it: %w; "+
				"the process that writes the store created it without read permission for others, as with "+
				"umask 077. Run imports with umask 022 (or 027 and readers in the store's group), make the "+
				"store's files readable (chmod -R a+rX, or g+rX for a group), or run this command as the "+
				"store's owner", dir, os.Geteuid(), err)
		}
		if damage := openDamage(dir, err); damage != nil {
			return nil, fmt.Errorf("opening store %s: %w", dir, &StoreError{Dir: dir, Err: damage})
		}
		return nil, fmt.Errorf("opening store %s: %w", dir, err)
	}
	s.db = db
	s.opts = popts
	s.lock = lock
	if err := s.checkFormat(context.Background()); err != nil {
		// GC and KitComplete stay correct without the repair, because
		// they parse the blobs concerned themselves while s.unsniffed is
		// set. The next open for writing tries again.
		s.log.Warn("recording the manifest edges that an earlier release left out failed", "dir", dir, "error", err)
	}
	if !s.readOnly {
		s.ensureID()
	}
	return s, nil
}

// createDir creates the store directory with storeDirPerm and the missing
// folders above it with s.parentPerm. The modes of folders that exist stay
// as they are.
// removeUnopenedDir removes the store directory that this open created
// when it holds nothing but the lock file, as when the volume is too full
// to open the new store. The caller holds the lock, so no other process
// has written to the directory.
func (s *Store) removeUnopenedDir() {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if name != lockFileName {
			return
		}
	}
	trash := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf(".%s.removing-%d", filepath.Base(s.dir), os.Getpid()))
	if err := s.fs.Rename(s.dir, trash); err != nil {
		s.log.Debug("keeping the new store directory", "dir", s.dir, "error", err)
		return
	}
	if err := s.fs.RemoveAll(trash); err != nil {
		s.log.Debug("removing the new store directory", "dir", trash, "error", err)
	}
}

func (s *Store) createDir() error {
	if err := s.fs.MkdirAll(s.fs.PathDir(s.dir), s.parentPerm); err != nil {
		return err
	}
	return s.fs.MkdirAll(s.dir, storeDirPerm)
}

// acquireLock takes Pebble's directory lock, retrying while another
// holder has it and wait has not passed. Between attempts it waits for the
// holder to release the lock file (see lockWaiter), so it takes the store
// soon after a release rather than at its next poll. The holder may remove
// a store it created and left unused (CloseAndRemoveIfEmpty). Then an open
// without mustExist creates the directory again and takes its lock, and
// one with mustExist fails as for a store that does not exist. When the
// lock file cannot be opened for writing (isUnwritable) and
// sharedIfUnwritable is set, acquireLock takes the shared lock of a reader
// instead (see lockShared), waits for it in the same way and reports
// shared. When wait passes, it returns an *InUseError. When ctx ends a
// wait, it returns a *WaitStoppedError, and when ctx is done before any
// wait, an error wrapping ctx.Err().
func (s *Store) acquireLock(ctx context.Context, wait time.Duration, mustExist, sharedIfUnwritable bool) (*pebble.Lock, bool, error) {
	deadline := time.Now().Add(wait)
	lockPath := s.fs.PathJoin(s.dir, lockFileName)
	waiter := newLockWaiter(s.fs, lockPath, s.log)
	var holders holderLog
	recreated := 0
	warned := false
	shared := false
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			// No attempt follows, so a store released meanwhile is not
			// taken by a command that is stopping.
			if !waited {
				return nil, false, fmt.Errorf("opening store %s: %w", s.dir, err)
			}
			return nil, false, &WaitStoppedError{Dir: s.dir, Holder: holders.last, Err: err}
		}
		var lockFS vfs.FS = trackedLockFS{s.fs}
		if shared {
			lockFS = sharedLockFS{s.fs}
		}
		// Taken before the attempt, so that a release by another Store of
		// this process after the attempt still wakes the wait below.
		released := releaseSignal()
		lock, err := pebble.LockDirectory(s.dir, lockFS)
		if err == nil {
			return lock, shared, nil
		}
		var pathErr *fs.PathError
		if shared && errors.As(err, &pathErr) {
			return nil, false, s.sharedLockError(err)
		}
		if errors.Is(err, fs.ErrNotExist) && recreated < 3 {
			recreated++
			if mustExist {
				return nil, false, fmt.Errorf("opening store %s: another process removed it while this one "+
					"waited for its lock: %w", s.dir, errdef.ErrNotFound)
			}
			if mkErr := s.createDir(); mkErr != nil {
				return nil, false, fmt.Errorf("creating store directory %s again after another process removed it: %w",
					s.dir, mkErr)
			}
			s.log.Info("store was removed by the process that held its lock; creating it again", "dir", s.dir)
			continue
		}
		if !isLockHeld(err) {
			if !shared && isUnwritable(err) {
				if !sharedIfUnwritable {
					return nil, false, s.unwritableError(err)
				}
				s.log.Debug("store cannot be written here; opening it read-only under a shared lock",
					"dir", s.dir, "error", err)
				shared = true
				waiter.setShared()
				continue
			}
			return nil, false, fmt.Errorf("locking store %s: %w", s.dir, err)
		}
		holder := s.readHolder()
		holders.observe(holder)
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, false, &InUseError{Dir: s.dir, Wait: wait, Holder: holders.last, Holders: holders.holders,
				Releases: waiter.releases}
		}
		if !warned {
			// Said once, so a command that waits does not look hung.
			warned = true
			s.log.Warn("store is in use by another stella process; waiting for it to finish",
				"dir", s.dir, "holder", holder, "waitUpTo", remaining.Round(time.Second))
		}
		s.log.Debug("store is in use; waiting for its release", "dir", s.dir, "holder", holder)
		if !isHeldByThisProcess(err) && !heldHere(lockPath) {
			released = nil
		}
		waiter.wait(ctx, remaining, released)
		waited = true
	}
}

// lockFileName is the name of the file in the store's directory that
// pebble.LockDirectory locks (base.FileTypeLock in Pebble v2.1.7).
const lockFileName = "LOCK"

// isLockHeld reports whether err from Pebble's directory lock means that
// someone else holds it, as opposed to the lock file being unwritable.
func isLockHeld(err error) bool {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return false
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
		return true
	}
	return isHeldByThisProcess(err)
}

// isHeldByThisProcess reports whether err from Pebble's directory lock
// means that this process holds the lock. Pebble tracks its own locks in
// the process and reports a second lock of the same file with this
// message (vfs/file_lock_unix.go, v2.1.7).
func isHeldByThisProcess(err error) bool {
	return strings.Contains(err.Error(), "lock held by current process")
}

// write runs fn, a write to the database, and returns its error. Pebble
// v2.1.7 calls Fatalf on the calling goroutine when it cannot write its
// write-ahead log, and pebbleLogger.Fatalf panics. write returns that
// panic's error instead, and every later write returns it at once, because
// Pebble's commit pipeline cannot be used after such a failure. Close
// still releases the lock. A full volume or a file size limit causes such
// a failure most often, so the error goes through WrapDiskFull.
func (s *Store) write(fn func() error) (err error) {
	if err := s.brokenErr(); err != nil {
		return err
	}
	// An error of a write is taken to come from the database or its
	// volume, because the callers check the data before they write it.
	// The exception is a table that passes the checks of IngestTables and
	// still fails Pebble's Ingest, which is marked as a store failure too.
	defer func() { err = s.storeError(err) }()
	var fatal error
	defer func() {
		if fatal == nil {
			return
		}
		err = s.WrapDiskFull(fatal)
		s.log.Error("the store stops writing after a fatal database error; run the command again",
			"dir", s.dir, "error", fatal)
		s.brokenMu.Lock()
		if s.broken == nil {
			s.broken = s.storeError(fmt.Errorf("store %s cannot write after an earlier error: %w", s.dir, err))
		}
		s.brokenMu.Unlock()
	}()
	// Deferred last, so it runs first and hands the panic to the function
	// above.
	defer recoverFatal(&fatal)
	return fn()
}

// Broken returns the error after which the store stopped writing, or nil.
// Such a store fails every later write, so a caller stops its work and
// closes it.
func (s *Store) Broken() error { return s.brokenErr() }

// brokenErr returns the error that stopped the store's writes, or nil.
func (s *Store) brokenErr() error {
	s.brokenMu.Lock()
	defer s.brokenMu.Unlock()
	return s.broken
}

// Serve makes Close and CloseAndRemoveIfEmpty do nothing until Unserve is
// called, so that a long-running process can hand the open store to
// commands that close it when they finish.
func (s *Store) Serve() { s.served.Store(true) }

// Unserve ends Serve, so that the next Close closes the store.
func (s *Store) Unserve() { s.served.Store(false) }

// Close flushes and closes the database and releases the directory lock.
// Calling Close again returns the first result. A served store stays open
// (see Serve).
func (s *Store) Close() error {
	if s.served.Load() {
		return nil
	}
	s.closeOnce.Do(func() {
		err := s.closeDB()
		s.removeHolder()
		if lockErr := s.lock.Close(); err == nil {
			err = lockErr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("closing store %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

// CloseAndRemoveIfEmpty closes the store and, when its database holds no
// key and it is not open read-only, removes its directory, as for a store
// that Open created and a rejected import left unused. It reports whether
// it removed the directory. The directory is renamed away while the lock
// is still held, so a process that waits for the lock never opens the
// store that is being removed: it creates a new one (see acquireLock).
// Calls after the first close do nothing.
func (s *Store) CloseAndRemoveIfEmpty() (bool, error) {
	if s.served.Load() {
		return false, nil
	}
	removed := false
	s.closeOnce.Do(func() {
		empty, err := s.isEmpty()
		if cerr := s.closeDB(); err == nil {
			err = cerr
		}
		if err == nil && empty && !s.readOnly {
			trash := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf(".%s.removing-%d", filepath.Base(s.dir), os.Getpid()))
			if err = s.fs.Rename(s.dir, trash); err == nil {
				removed = true
				err = s.fs.RemoveAll(trash)
			}
		}
		if !removed {
			s.removeHolder()
		}
		if lockErr := s.lock.Close(); err == nil {
			err = lockErr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("closing store %s: %w", s.dir, err)
		}
	})
	return removed, s.closeErr
}

// isEmpty reports whether the database holds no key besides the store
// format, which every open for writing records.
func (s *Store) isEmpty() (bool, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	found := it.First()
	if found && string(it.Key()) == keyFormat {
		found = it.Next()
	}
	return !found, it.Close()
}

// ReadOnly reports whether the store is open read-only, because
// Options.ReadOnly asked for it, because its lock file cannot be written
// (Options.ReadOnlyIfUnwritable) or because its volume is nearly full
// (Options.ReadOnlyIfFull). Every write then returns an error wrapping
// pebble.ErrReadOnly.
func (s *Store) ReadOnly() bool {
	return s.readOnly
}

// LowSpace returns why a store opened with Options.ReadOnlyIfFull is
// read-only: an error that matches errdef.ErrDiskFull and gives the free
// space and the space an open for writing needs. It returns nil for a
// store open for writing or read-only for another reason.
func (s *Store) LowSpace() error {
	return s.lowSpace
}

// WriteSpaceShortfall returns an error that matches errdef.ErrDiskFull
// when the store's volume has less free space or fewer free inodes than an
// open for writing needs, and nil otherwise. A write that would not fit
// is then best not tried. Pebble treats a failed write to its write-ahead
// log as fatal, so such a write would stop every later write (see
// Broken). An open store needs about what an open for writing needs,
// because a write can start a flush of the write-ahead log into a table.
// The check does not reserve the space, so another process may still fill
// the volume before the write.
func (s *Store) WriteSpaceShortfall() error {
	if shortfall := s.openSpaceShortfall(); shortfall != "" {
		return lowSpaceError(shortfall)
	}
	return nil
}

// OpenSpaceError returns the error that an open for writing without
// Options.ReadOnlyIfFull would return now for lack of space, or nil when
// the volume has the space for such an open.
func (s *Store) OpenSpaceError() error {
	if shortfall := s.openSpaceShortfall(); shortfall != "" {
		return openSpaceError(s.dir, shortfall)
	}
	return nil
}

// openSpaceError is the error of an open for writing that the volume
// lacks the space for, as shortfall describes.
func openSpaceError(dir, shortfall string) error {
	return fmt.Errorf("opening store %s: %s; %s: %w", dir, shortfall, diskFullAdvice, errdef.ErrDiskFull)
}

// lowSpaceError is the error of LowSpace. Its text is the shortfall alone,
// for a warning of a command that goes on.
type lowSpaceError string

func (e lowSpaceError) Error() string { return string(e) }

// Is makes a lowSpaceError match errdef.ErrDiskFull.
func (e lowSpaceError) Is(target error) bool { return target == errdef.ErrDiskFull }

// Dir returns the directory of the Pebble database.
func (s *Store) Dir() string {
	return s.dir
}

// DiskUsage returns the total size in bytes of the files in the Pebble
// directory and in its ingest folder, which includes deleted data that
// compactions have not yet reclaimed and tables that a crashed push left.
func (s *Store) DiskUsage() (int64, error) {
	total, err := s.filesSize(s.dir)
	if err != nil {
		return 0, err
	}
	ingest, err := s.filesSize(s.fs.PathJoin(s.dir, ingestDir))
	if errors.Is(err, fs.ErrNotExist) {
		return total, nil
	}
	return total + ingest, err
}

// filesSize returns the total size of the files in dir, without its
// folders.
func (s *Store) filesSize(dir string) (int64, error) {
	names, err := s.fs.List(dir)
	if err != nil {
		return 0, fmt.Errorf("listing store folder %s: %w", dir, err)
	}
	var total int64
	for _, name := range names {
		info, err := s.fs.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a compaction or a push since List
		}
		if err != nil {
			return 0, fmt.Errorf("reading size of %s: %w", name, err)
		}
		if !info.IsDir() {
			total += info.Size()
		}
	}
	return total, nil
}

// maxDeletionWait bounds how long WaitForFileDeletions waits.
const maxDeletionWait = 10 * time.Second

// WaitForFileDeletions waits until Pebble has deleted the files that no
// longer hold live data, so that DiskUsage measures the store without them.
// Pebble deletes them in the background after a compaction. The wait ends
// after maxDeletionWait or when ctx is done. It does not wait for a file
// that an open iterator still reads: Pebble v2.1.7 counts such a file as a
// zombie, not as obsolete, and deletes it only when the iterator closes,
// so DiskUsage still counts it.
func (s *Store) WaitForFileDeletions(ctx context.Context) {
	deadline := time.Now().Add(maxDeletionWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m := s.db.Metrics()
		if m.Table.ObsoleteCount == 0 && m.BlobFiles.ObsoleteCount == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Metrics returns Pebble's metrics table as text: levels, compactions and
// write amplification.
func (s *Store) Metrics() string {
	return s.db.Metrics().String()
}

// get returns a copy of the value of key, or errdef.ErrNotFound.
func (s *Store) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errdef.ErrNotFound
	}
	if err != nil {
		return nil, s.storeError(err)
	}
	out := append([]byte(nil), v...)
	return out, s.storeError(closer.Close())
}

// scan calls fn for every key with prefix in ascending order; the slices are
// valid only during the call.
func (s *Store) scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.scanRange(prefix, prefixEnd(prefix), fn)
}

// scanRange calls fn for every key from lower up to upper, exclusive.
func (s *Store) scanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return s.storeError(err)
	}
	if err := s.visitAll(it, fn); err != nil {
		_ = it.Close()
		return err
	}
	return s.storeError(it.Close())
}

// scanPrefixes calls fn for the keys under each prefix in turn, on one
// iterator whose bounds move from prefix to prefix.
func (s *Store) scanPrefixes(prefixes [][]byte, fn func(i int, key, value []byte) error) error {
	if len(prefixes) == 0 {
		return nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixes[0], UpperBound: prefixEnd(prefixes[0])})
	if err != nil {
		return s.storeError(err)
	}
	for i, p := range prefixes {
		if i > 0 {
			it.SetBounds(p, prefixEnd(p))
		}
		err := s.visitAll(it, func(key, value []byte) error { return fn(i, key, value) })
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return s.storeError(it.Close())
}

// visitAll passes every key within the iterator's bounds, with its value,
// to fn. It returns an error of fn unchanged, and an error of the iterator
// as a *StoreError.
func (s *Store) visitAll(it *pebble.Iterator, fn func(key, value []byte) error) error {
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return s.storeError(err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return s.storeError(it.Error())
}

// pebbleLogger sends Pebble's messages to slog. Pebble's informational
// messages (flushes, compactions) go to debug level.
type pebbleLogger struct{ log *slog.Logger }

// pebbleMessage formats a Pebble log line with one "pebble: " prefix,
// since many of Pebble's own messages start with it already.
func pebbleMessage(format string, args ...any) string {
	return "pebble: " + strings.TrimPrefix(fmt.Sprintf(format, args...), "pebble: ")
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(pebbleMessage(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(pebbleMessage(format, args...))
}

// Fatalf logs and panics with a *fatalError, because Pebble expects Fatalf
// not to return. The store's entry points that recover it return the error.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	fe := &fatalError{msg: pebbleMessage(format, args...)}
	for _, arg := range args {
		if err, ok := arg.(error); ok {
			fe.cause = err
			break
		}
	}
	l.log.Error(fe.msg)
	panic(fe)
}

// The store satisfies the oras-go content interfaces that oras.Copy and
// the registry code use.
var (
	_ content.Storage           = (*Store)(nil)
	_ content.TagResolver       = (*Store)(nil)
	_ content.Untagger          = (*Store)(nil)
	_ content.PredecessorFinder = (*Store)(nil)
	_ content.Deleter           = (*Store)(nil)
	_ io.Closer                 = (*Store)(nil)
)

// hasPrefix reports whether any key starts with prefix.
func (s *Store) hasPrefix(prefix []byte) (bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return false, s.storeError(err)
	}
	found := it.First()
	return found, s.storeError(it.Close())
}

// tuneOptions sets the Pebble options that do not depend on the store's
// directory. Tables written outside a store, such as pre-built index
// tables, take their Bloom filters from the same settings, and WriteTable
// sets their compression and block size.
func tuneOptions(o *pebble.Options) {
	// The lookup index reads many small values at random. A block cache
	// larger than Pebble's 8 MiB default and Bloom filters on every level
	// keep most of those reads off the disk.
	o.CacheSize = blockCacheSize
	// Index batches touch keys all over the key space, so each memtable
	// flush is compacted against most of the level below it. A larger
	// memtable means far fewer flushes, and so far fewer rewrites of the
	// same keys during an import.
	o.MemTableSize = memTableSize
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
}

// holderFile names the file in the store folder that describes the process
// holding the store's lock, for the message of a process that waits.
const holderFile = "stella-holder"

// Limits on the holder record. Anyone who can write the store folder may
// have edited it, so readHolder reads at most maxHolderRecord bytes and
// returns at most maxHolderText.
const (
	maxHolderRecord = 4 << 10
	maxHolderText   = 200
)

// holderRecord is the content of holderFile.
type holderRecord struct {
	// Command is "stella" followed by up to three command words, such as
	// "stella ouk import".
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	process
}

// writeHolder records this process as the lock holder. Open writes it as
// soon as it has the lock, before Pebble replays its log, so that no
// earlier holder's record names the holder while it opens. The record only
// improves a message, so a failed write only removes the record it could
// not replace.
func (s *Store) writeHolder(command string) {
	if command == "" {
		var words []string
		for _, a := range os.Args[1:] {
			// Only words shaped like command names, such as "ouk import", so
			// that no path, address or other flag value lands in a file that
			// other users may read.
			if len(words) < 3 && isCommandWord(a) {
				words = append(words, a)
			}
		}
		command = strings.TrimSpace("stella " + strings.Join(words, " "))
	}
	rec := holderRecord{Command: command,
		Since: time.Now().UTC().Truncate(time.Second), process: currentProcess()}
	raw, err := json.Marshal(rec)
	if err != nil {
		s.removeHolder()
		return
	}
	f, err := s.fs.Create(filepath.Join(s.dir, holderFile), vfs.WriteCategoryUnspecified)
	if err != nil {
		s.removeHolder()
		return
	}
	_, werr := f.Write(raw)
	if cerr := f.Close(); werr != nil || cerr != nil {
		s.removeHolder()
	}
}

// removeHolder deletes the holder record, ignoring errors. Close calls it
// before it releases the lock, so it never deletes the next holder's record.
// A store under the shared lock of a reader leaves the record alone,
// because the record is not its own.
func (s *Store) removeHolder() {
	if s.shared {
		return
	}
	_ = s.fs.Remove(filepath.Join(s.dir, holderFile))
}

// isCommandWord reports whether a is a short word of lower-case letters,
// as stella's command names are.
func isCommandWord(a string) bool {
	if a == "" || len(a) > 12 {
		return false
	}
	for _, r := range a {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// readHolder returns the record of the process holding the lock, or "".
func (s *Store) readHolder() string { return readHolder(s.fs, s.dir) }

// LockHolder describes the process that holds the lock of the store in dir,
// such as "pid 4242, stella ouk import, since 2026-12-05T10:00:00Z". It
// returns "" when no record exists, when the record cannot be parsed, and
// when the process it names has exited or its PID now names another
// process. A record without host and boot ID names an exited process when
// no process with its PID runs on this host. When the record names a
// process that cannot be checked, such as one on another host, the text
// states that.
func LockHolder(dir string) string { return readHolder(vfs.Default, dir) }

func readHolder(fsys vfs.FS, dir string) string {
	f, err := fsys.Open(filepath.Join(dir, holderFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, maxHolderRecord)
	n, _ := io.ReadFull(f, buf)
	var rec holderRecord
	if json.Unmarshal(buf[:n], &rec) != nil || rec.PID <= 0 {
		return ""
	}
	text := fmt.Sprintf("pid %d, %s", rec.PID, printableText(rec.Command))
	if !rec.Since.IsZero() {
		text += ", since " + rec.Since.UTC().Format(time.RFC3339)
	}
	state := checkHolder(rec.process, currentProcess())
	if state == holderUnknown && rec.Host == "" && rec.Boot == "" && !pidExists(rec.PID) {
		// stella always records its host and boot ID, so a record
		// without them was written by hand or is damaged. Without a host
		// it is read as one of this host, and no process has its PID.
		state = holderGone
	}
	switch state {
	case holderGone:
		return ""
	case holderUnknown:
		// Such as a process on another host that shares the store folder.
		text += "; whether it still runs cannot be checked from here"
	}
	return capText(text, maxHolderText)
}

// printableText removes ANSI escape sequences, control characters and
// invisible format characters, such as bidirectional overrides, from s, so
// that a record read from a file cannot change the terminal it is printed
// on.
func printableText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			// A control sequence: ESC [, parameter and intermediate
			// bytes, then one final byte from 0x40 to 0x7e.
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = min(j+1, len(s))
			continue
		}
		i += size
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// capText cuts s to at most limit bytes at a character boundary and marks
// the cut with "...".
func capText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
