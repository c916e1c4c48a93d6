package cas

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// fullAlarm records the flushes and compactions that Pebble runs in the
// background and that fail because the volume is full.
type fullAlarm struct {
	mu sync.Mutex
	// last is the last such failure, and current is too, unless a flush
	// or compaction ended without one since.
	last, current error
	// next is closed at the next such failure and then replaced.
	next chan struct{}
}

func newFullAlarm() *fullAlarm {
	return &fullAlarm{next: make(chan struct{})}
}

// raise records err, a background write that found the volume full, and
// wakes the compactions that wait for one.
func (a *fullAlarm) raise(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last, a.current = err, err
	close(a.next)
	a.next = make(chan struct{})
}

// ended clears the recorded failure after a flush or compaction that ended
// with err, unless err is a full volume too. Pebble v2.1.7 reports a flush
// that wrote no table with an error, which counts as an end without one.
func (a *fullAlarm) ended(err error) {
	if isDiskFull(err) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.current = nil
}

// state returns the current and the last failure, and the channel that the
// next one closes.
func (a *fullAlarm) state() (current, last error, next <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current, a.last, a.next
}

// listen sets the callbacks of listener that keep the alarm, besides its
// BackgroundError callback, which reports to the alarm through
// backgroundErrors.
func (a *fullAlarm) listen(listener *pebble.EventListener) {
	listener.FlushEnd = func(info pebble.FlushInfo) { a.ended(info.Err) }
	listener.CompactionEnd = func(info pebble.CompactionInfo) { a.ended(info.Err) }
}

// VolumeFull returns the last error of a flush or compaction that Pebble
// ran in the background and that found the store's volume full, unless a
// flush or compaction has ended without that error since. The error wraps
// errdef.ErrDiskFull. A caller uses it to skip cleanup that writes, such
// as the removal of a failed import's blobs, while such writes cannot
// reach the disk.
func (s *Store) VolumeFull() error {
	if s.full == nil {
		return nil
	}
	current, _, _ := s.full.state()
	return s.backgroundFull(current)
}

// backgroundFull returns err, a flush or compaction that found the volume
// full, as an error that wraps errdef.ErrDiskFull, or nil for a nil err.
func (s *Store) backgroundFull(err error) error {
	if err == nil {
		return nil
	}
	return s.WrapDiskFull(fmt.Errorf("a flush or compaction in the background failed: %w", err))
}

// errVolumeFilled ends the wait of a compaction when a flush or
// compaction in the background found the volume full.
var errVolumeFilled = errors.New("a flush or compaction in the background found the volume full")

// compact compacts the keys from lower to upper. Pebble v2.1.7 first
// flushes the memtables that overlap the range (DB.Compact), and it retries
// a flush that failed for lack of space at once and without end. So
// compact stops waiting at the next flush or compaction that fails that
// way, and returns an error wrapping errdef.ErrDiskFull. Pebble may still
// run the compaction later.
func (s *Store) compact(ctx context.Context, lower, upper []byte) error {
	var filled <-chan struct{}
	if s.full != nil {
		_, _, filled = s.full.state()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-filled:
			cancel(errVolumeFilled)
		case <-ctx.Done():
		}
	}()
	err := s.write(func() error { return s.db.Compact(ctx, lower, upper, false) })
	if err != nil && errors.Is(context.Cause(ctx), errVolumeFilled) {
		_, last, _ := s.full.state()
		return s.backgroundFull(last)
	}
	return err
}
