package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

// unpinnedReads lets the lookups and scans of the store service read a kit
// without a pin in the store, while its volume lacks the space to write
// one. A pin is a write, and Pebble treats a failed write to its
// write-ahead log as fatal, so a pin on a full volume would stop every
// later write of the service's store. Only gc removes kits, and a gc in
// the service waits until no read without a pin runs, and such reads wait
// for the gc, so the kit that each of them reads stays in the store.
type unpinnedReads struct {
	mu      sync.Mutex
	readers int
	// gc is set while a gc runs or waits to run. New reads then wait, so
	// that a stream of them cannot keep the gc waiting forever.
	gc bool
	// changed is closed and replaced whenever readers or gc changes.
	changed chan struct{}
	// pendingUnpins are the pins whose removal was skipped because the
	// volume was short of space. They are removed once it has space.
	pendingUnpins []func()
	// shortLogged is set once a read without a pin is logged, until the
	// volume has space again, so that the log gets one line per shortage.
	shortLogged atomic.Bool
}

// notify wakes every waiter. The caller holds mu.
func (u *unpinnedReads) notify() {
	if u.changed != nil {
		close(u.changed)
	}
	u.changed = make(chan struct{})
}

// waitChange returns the channel that the next change closes. The caller
// holds mu.
func (u *unpinnedReads) waitChange() <-chan struct{} {
	if u.changed == nil {
		u.changed = make(chan struct{})
	}
	return u.changed
}

// waitWhile waits until cond is false. The caller holds mu, and holds it
// again when waitWhile returns nil. When ctx ends first, waitWhile returns
// its error with mu released.
func (u *unpinnedReads) waitWhile(ctx context.Context, cond func() bool) error {
	for cond() {
		changed := u.waitChange()
		u.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		u.mu.Lock()
	}
	return nil
}

// startRead registers a read without a pin, once no gc runs or waits.
func (u *unpinnedReads) startRead(ctx context.Context) (func(), error) {
	u.mu.Lock()
	if err := u.waitWhile(ctx, func() bool { return u.gc }); err != nil {
		return nil, err
	}
	u.readers++
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.readers--
			u.notify()
			u.mu.Unlock()
		})
	}, nil
}

// startGC waits until no read without a pin runs and no other gc runs,
// and returns the function that ends the gc.
func (u *unpinnedReads) startGC(ctx context.Context) (func(), error) {
	u.mu.Lock()
	if err := u.waitWhile(ctx, func() bool { return u.gc }); err != nil {
		return nil, err
	}
	u.gc = true
	u.notify()
	if err := u.waitWhile(ctx, func() bool { return u.readers > 0 }); err != nil {
		u.mu.Lock()
		u.gc = false
		u.notify()
		u.mu.Unlock()
		return nil, err
	}
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.gc = false
			u.notify()
			u.mu.Unlock()
		})
	}, nil
}

// deferUnpin keeps unpin, a pin's removal that the volume lacked the space
// for, to run once the volume has space.
func (u *unpinnedReads) deferUnpin(unpin func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pendingUnpins = append(u.pendingUnpins, unpin)
}

// readsRunning reports whether a read without a pin runs.
func (u *unpinnedReads) readsRunning() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.readers > 0
}

// hasPendingUnpins reports whether a pin's removal waits for space.
func (u *unpinnedReads) hasPendingUnpins() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.pendingUnpins) > 0
}

// takePendingUnpins returns the deferred pin removals and clears their list.
func (u *unpinnedReads) takePendingUnpins() []func() {
	u.mu.Lock()
	defer u.mu.Unlock()
	pending := u.pendingUnpins
	u.pendingUnpins = nil
	return pending
}

// removePendingPins removes the pins whose removal was deferred for lack
// of space, when the volume has space now.
func (s *service) removePendingPins() {
	if !s.unpinned.hasPendingUnpins() || s.store.ReadOnly() || s.store.WriteSpaceShortfall() != nil {
		return
	}
	for _, unpin := range s.unpinned.takePendingUnpins() {
		unpin()
	}
}

// pinKit pins the kit d for holder, as a lookup or scan does before it
// reads the kit. When the volume lacks the space to write the pin, the
// read goes on without one (see unpinnedReads), and the returned function
// ends it.
func (s *service) pinKit(ctx context.Context, d digest.Digest, holder string, requestID uint64) (func(), error) {
	s.removePendingPins()
	if short := s.store.WriteSpaceShortfall(); short != nil {
		if !s.unpinned.shortLogged.Swap(true) {
			s.log.Warn("lookups and scans read kits without a pin until the store's volume has space to write "+
				"one; gc waits for them", "request", requestID, "kit", d, "reason", short)
		}
		return s.unpinned.startRead(ctx)
	}
	s.unpinned.shortLogged.Store(false)
	unpin, err := s.store.PinProcess(ctx, d, holder)
	if err != nil {
		return nil, err
	}
	return func() {
		if short := s.store.WriteSpaceShortfall(); short != nil {
			// GC finds the pin's holder, the service, still running, so
			// the kit stays until the service removes the pin later.
			s.log.Warn("keeping a pin until the store's volume has space to remove it", "request", requestID,
				"kit", d, "reason", short)
			s.unpinned.deferUnpin(unpin)
			return
		}
		unpin()
	}, nil
}

// startGC waits for the reads without a pin in the store service, and
// keeps new ones waiting, until the returned function is called. Outside
// the service it returns at once.
func (g *globalOptions) startGC(ctx context.Context) (func(), error) {
	if g.svc == nil || g.request == nil {
		return func() {}, nil
	}
	g.svc.removePendingPins()
	if g.svc.unpinned.readsRunning() {
		g.svc.log.Info("gc waits for the lookups and scans that read kits without a pin", "request", g.request.id)
	}
	return g.svc.unpinned.startGC(ctx)
}

// writeSpaceShortfall returns why a command should not write to store,
// whose volume lacks the space for it, or nil. A store opened read-only
// for lack of space returns its LowSpace error. In the store service,
// whose store is open for writing, the free space is checked now (see
// cas.Store.WriteSpaceShortfall).
func (g *globalOptions) writeSpaceShortfall(store *cas.Store) error {
	if err := store.LowSpace(); err != nil {
		return err
	}
	if g.svc == nil || store.ReadOnly() {
		return nil
	}
	return store.WriteSpaceShortfall()
}

// checkWriterSpace returns the error of a command that changes the store
// when the service's store cannot take its writes for lack of space. The
// error is the one that the command gets on its own, where it opens the
// store for writing. A write that fails for lack of space would stop the
// service's store (see cas.Store.Broken).
func (s *service) checkWriterSpace() error {
	err := s.store.OpenSpaceError()
	if err == nil && s.store.LowSpace() != nil {
		return fmt.Errorf("store %s is open read-only in the store service, because its volume lacked the "+
			"space to open it for writing when the service started; restart the service now that the volume "+
			"has space, then run the command again: %w", s.dir, errdef.ErrStoreInUse)
	}
	return err
}
