package cas

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"stella-ops.org/ouk/internal/errdef"
)

// abandonedStores records the lock files of the stores whose open this
// process abandoned after a write found the volume full (see openPebble).
// Pebble's parked goroutines keep the directory lock of such a store, and
// its lock file open, until the process exits. So a later Open of that
// store in this process returns the error recorded here at once, instead
// of waiting for a lock that no other process holds. The key is the lock
// file's device and inode, so that every path to the store matches.
// NOTE: a store on a file system that is not the operating system's, as in
// tests, is not recorded, and a later Open waits for its lock as before.
var abandonedStores struct {
	sync.Mutex
	errs map[fileID]error
}

// lockFileID returns the fileID of the store's lock file, and false when
// it has none, as on an in-memory file system.
func (s *Store) lockFileID() (fileID, bool) {
	info, err := os.Stat(s.fs.PathJoin(s.dir, lockFileName))
	if err != nil {
		return fileID{}, false
	}
	return statFileID(info)
}

// markAbandoned records the store as abandoned by this process and
// returns the error that this Open and every later Open of the store in
// this process return, without the store directory, which Open adds.
// cause is the write that found no room.
func (s *Store) markAbandoned(cause error) error {
	problem, free := s.diskFullParts(cause)
	advice := "Free space on that volume or raise your disk quota there"
	if errors.Is(cause, syscall.EFBIG) {
		advice = "Raise the file size limit of this process (`ulimit -f unlimited` in the shell or " +
			"LimitFSIZE= in a systemd unit)"
	}
	err := fmt.Errorf("%s (%s): %w; this process still holds the store's lock, because Pebble's open "+
		"stopped partway and cannot be undone, so no stella command can open the store until this "+
		"process exits. %s, then restart this process: %w: %w",
		problem, free, cause, advice, errdef.ErrDiskFull, errdef.ErrOpenAbandoned)
	key, ok := s.lockFileID()
	if !ok {
		return err
	}
	abandonedStores.Lock()
	defer abandonedStores.Unlock()
	if abandonedStores.errs == nil {
		abandonedStores.errs = make(map[fileID]error)
	}
	abandonedStores.errs[key] = err
	return err
}

// abandonedError returns the error of an earlier Open of this process
// that abandoned the store, or nil.
func (s *Store) abandonedError() error {
	key, ok := s.lockFileID()
	if !ok {
		return nil
	}
	abandonedStores.Lock()
	err := abandonedStores.errs[key]
	abandonedStores.Unlock()
	if err == nil {
		return nil
	}
	return fmt.Errorf("opening store %s: %w", s.dir, err)
}
