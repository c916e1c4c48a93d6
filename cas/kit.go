package cas

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

// KitRecord describes one activation of a kit.
type KitRecord struct {
	// Digest names the kit's bundle index.
	Digest digest.Digest `json:"digest"`
	// Version and Sequence are the kit's signed version and sequence number.
	Version  string `json:"version"`
	Sequence int64  `json:"sequence"`
	// Created and Expires are the kit's signed creation and expiry times;
	// a zero Expires means the kit does not expire.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	// At is when the kit was activated; Activate sets it to the current
	// time when it is zero.
	At time.Time `json:"at"`
	// Action is "import", "downgrade" or "rollback".
	Action string `json:"action"`
	// Note is free text for operators, such as why a downgrade was allowed
	// or that the signature check was skipped.
	Note string `json:"note,omitempty"`
	// SignedBy is the source of the trusted key that verified the kit's
	// signature at this activation, such as the path of its .pub file. It
	// is empty when the check was skipped, and in records written before
	// stella stored it.
	SignedBy string `json:"signedBy,omitempty"`
}

// Active returns the record of the active kit, or an error wrapping
// errdef.ErrNotFound when no kit was ever activated.
func (s *Store) Active(_ context.Context) (KitRecord, error) {
	value, err := s.get([]byte(keyActive))
	if err != nil {
		return KitRecord{}, fmt.Errorf("reading the active kit: %w", err)
	}
	var rec KitRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		// Only Activate writes the record, so a damaged one is the store's fault.
		return KitRecord{}, s.storeError(fmt.Errorf("decoding the active kit: %w", err))
	}
	return rec, nil
}

// Activate makes rec the active kit and appends it to the history in one
// synced batch, so readers see either the old or the new kit. The bundle
// index rec.Digest must be stored, or Activate returns an error wrapping
// errdef.ErrNotFound.
func (s *Store) Activate(_ context.Context, rec KitRecord) error {
	if err := rec.Digest.Validate(); err != nil {
		return fmt.Errorf("activating kit %q: invalid digest: %w", rec.Digest, err)
	}
	// A file that Pebble found damaged, even in the background, may hold
	// blobs or lookup keys of the kit, so the kit is not activated.
	if err := s.Damage(); err != nil {
		return fmt.Errorf("activating kit %s: %w", rec.Digest, err)
	}
	ok, err := s.has(rec.Digest)
	if err != nil {
		return fmt.Errorf("activating kit %s: %w", rec.Digest, err)
	}
	if !ok {
		return fmt.Errorf("activating kit %s: bundle index is not stored; import the kit first: %w",
			rec.Digest, errdef.ErrNotFound)
	}
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	value, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("activating kit %s: %w", rec.Digest, err)
	}

	s.historyMu.Lock()
	defer s.historyMu.Unlock()
	last, err := s.lastHistorySeq()
	if err != nil {
		return fmt.Errorf("activating kit %s: %w", rec.Digest, err)
	}
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	if err := batch.Set([]byte(keyActive), value, nil); err != nil {
		return err
	}
	if err := batch.Set(historyKey(last+1), value, nil); err != nil {
		return err
	}
	if err := s.write(func() error { return batch.Commit(pebble.Sync) }); err != nil {
		return fmt.Errorf("activating kit %s: %w", rec.Digest, err)
	}
	return nil
}

// lastHistorySeq returns the sequence of the newest history entry, or 0.
func (s *Store) lastHistorySeq() (uint64, error) {
	prefix := []byte(prefixHistory)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, s.storeError(err)
	}
	var seq uint64
	if it.Last() {
		seq, err = strconv.ParseUint(strings.TrimPrefix(string(it.Key()), prefixHistory), 10, 64)
		if err != nil {
			_ = it.Close()
			return 0, s.storeError(fmt.Errorf("decoding history key %q: %w", it.Key(), err))
		}
	}
	return seq, s.storeError(it.Close())
}

// History returns every activation, newest first; the first entry is the
// active kit. An empty store returns an empty list.
func (s *Store) History(_ context.Context) ([]KitRecord, error) {
	var out []KitRecord
	err := s.scan([]byte(prefixHistory), func(key, value []byte) error {
		var rec KitRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return s.storeError(fmt.Errorf("decoding history entry %q: %w", key, err))
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading kit history: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Pin takes a lease on d for holder, so GC keeps d and everything it
// reaches while the lease is live, even in another process. The lease is
// persisted with the current time and counts as stale after
// GCOptions.LeaseTTL, which covers holders that crashed. The returned
// release deletes the lease; calling it more than once is harmless.
// Pinning d again with the same holder renews the lease. PinProcess also
// records the calling process, so GC drops the lease as soon as that
// process exits.
func (s *Store) Pin(_ context.Context, d digest.Digest, holder string) (func(), error) {
	if err := checkPin(d, holder); err != nil {
		return nil, err
	}
	return s.writeLease(d, holder, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
}

// checkPin rejects an invalid digest or an empty holder.
func checkPin(d digest.Digest, holder string) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("pinning %q: invalid digest: %w", d, err)
	}
	if holder == "" {
		return fmt.Errorf("pinning %s: holder is empty; name the process or job that reads the kit", d)
	}
	return nil
}

// writeLease stores a lease value on d for holder, synced, and returns the
// function that deletes it; calling that more than once is harmless.
func (s *Store) writeLease(d digest.Digest, holder string, value []byte) (func(), error) {
	key := leaseKey(d, holder)
	if err := s.write(func() error { return s.db.Set(key, value, pebble.Sync) }); err != nil {
		return nil, fmt.Errorf("pinning %s for %s: %w", d, holder, err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if err := s.write(func() error { return s.db.Delete(key, pebble.Sync) }); err != nil {
				s.log.Error("releasing lease", "digest", d, "holder", holder, "error", err)
			}
		})
	}
	return release, nil
}
