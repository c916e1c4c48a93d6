package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/sbom"
)

// foreignInputLimit bounds the bytes of standard input that the commands
// of other users than the service's hold at once. A scan of another user
// reads its whole SBOM, of up to sbom.MaxSBOMSize, from standard input
// into memory, and maxForeignClients of them could otherwise take 32 GiB.
// The limit fits four scans of the largest SBOM at once.
const foreignInputLimit = 4 * sbom.MaxSBOMSize

// foreignInputWait is how long a command of another user waits for the
// budget of foreignInputLimit to take the next chunk of its input, before
// it fails with the store-in-use exit code.
const foreignInputWait = 10 * time.Second

// byteBudget is a count of bytes that many goroutines take from and give
// back, up to a limit.
type byteBudget struct {
	limit int64
	// wait is how long a take waits for bytes to be given back.
	wait time.Duration
	mu   sync.Mutex
	used int64
	// freed is closed and replaced whenever bytes are given back.
	freed chan struct{}
}

func newByteBudget(limit int64, wait time.Duration) *byteBudget {
	return &byteBudget{limit: limit, wait: wait, freed: make(chan struct{})}
}

// take takes n bytes from the budget, waiting up to b.wait for others to
// give back enough. It returns an error that wraps errdef.ErrStoreInUse
// when the bytes are not free in time, and ctx's error when ctx ends first.
func (b *byteBudget) take(ctx context.Context, n int64) error {
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		if n > b.limit {
			return b.exhaustedError(n)
		}
		if timeout == nil {
			timer := time.NewTimer(b.wait)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case <-freed:
		case <-timeout:
			return b.exhaustedError(n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// give returns n bytes to the budget.
func (b *byteBudget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
}

// exhaustedError is the error of a take of n bytes that the budget could
// not spare.
func (b *byteBudget) exhaustedError(n int64) error {
	return fmt.Errorf("the store service reached its memory limit of %d bytes for the standard input of "+
		"other users' commands, which had no room for %d more bytes within %s, so this command stopped; try "+
		"again in a moment: %w", b.limit, n, b.wait, errdef.ErrStoreInUse)
}
