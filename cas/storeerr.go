package cas

import (
	"context"
	"errors"

	"stella-ops.org/ouk/internal/errdef"
)

// StoreError is a failure of the store itself. Its database may be
// damaged or have stopped writing after a fatal error, or the volume of its
// folder may fail, such as with an I/O error or a read-only remount. The
// data given to the store is not at fault (but see the NOTE in
// IngestTables), so a caller retries once the store is repaired.
type StoreError struct {
	// Dir is the store folder.
	Dir string
	Err error
}

// Error returns the message of the wrapped error, which callers in this
// package already prefix with the operation.
func (e *StoreError) Error() string { return e.Err.Error() }

func (e *StoreError) Unwrap() error { return e.Err }

// IsStoreError reports whether err is or wraps a *StoreError.
func IsStoreError(err error) bool {
	var se *StoreError
	return errors.As(err, &se)
}

// storeError wraps err, an error of the database or of a file in the
// store folder, in a *StoreError. A corruption that Pebble found becomes
// a *DamagedError inside it. It returns nil, a missing key
// (errdef.ErrNotFound), a cancellation and a *StoreError unchanged.
func (s *Store) storeError(err error) error {
	if err == nil || errors.Is(err, errdef.ErrNotFound) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || IsStoreError(err) {
		return err
	}
	if damage := s.damageError(err); damage != nil {
		return &StoreError{Dir: s.dir, Err: damage}
	}
	return &StoreError{Dir: s.dir, Err: err}
}
