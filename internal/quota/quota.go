package quota

import (
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

const (
	saltKey  = "salt"
	saltSize = 32
	// counterSize is the length of a counter value, a big-endian uint64.
	counterSize = 8
	dayPrefix   = "day/"
	dayFormat   = "2006-01-02"
	// keepDays is the number of days before today whose counters are kept.
	// The next Record deletes older days.
	keepDays = 7
)

// storeMu serializes every read-modify-write of quota keys in this process,
// even when several Quota values share one store. Other processes are kept
// out by the lock of the store that backs the kv.Store.
var storeMu sync.Mutex

// ErrReadOnly is returned by Record on a Quota whose store cannot be
// written (Options.ReadOnly). The scan is not counted.
var ErrReadOnly = errors.New("quota store is read-only")

// Options configure New. The zero value is usable.
type Options struct {
	// Policy sets limits, reminders and slowdown. The zero value means
	// DefaultPolicy(), and any other value must pass Policy.Validate.
	Policy Policy
	// Now returns the current time. Counters roll over at 00:00 UTC of its
	// result. Default time.Now.
	Now func() time.Time
	// Logger receives debug records for salt creation and pruned counters.
	// Default discards.
	Logger *slog.Logger
	// KeysDir is the folder that the caller reads token issuer keys from.
	// The warning for a token that no given key verifies names it.
	// Default "the store's keys/quota folder".
	KeysDir string
	// ReadOnly marks a store that cannot be written, such as one opened
	// read-only. New then writes no salt. When the store has none, New
	// hashes identities with a random salt of its own, so every count
	// reads 0. That is the true count, because Record stores counters only
	// after New has stored the salt. Record counts nothing and returns an
	// error wrapping ErrReadOnly.
	ReadOnly bool
}

// Quota counts scans per identity per UTC day in a kv.Store.
type Quota struct {
	store    kv.Store
	policy   Policy
	now      func() time.Time
	logger   *slog.Logger
	salt     []byte
	readOnly bool
	keysDir  string
	// damaged lists the damaged quota entries that New found, one line
	// each, for every State this Quota returns.
	damaged []string
}

// New returns a Quota over store, creating the store's random salt on first
// use in a synced batch. New replaces a stored salt of the wrong length,
// which shows damage, and deletes every counter, because the old salt
// named them. Each State then reports the replacement in Damaged. It
// returns an error wrapping ErrInvalidPolicy for an invalid Options.Policy,
// or the store's error when the salt cannot be read or written.
func New(store kv.Store, opts Options) (*Quota, error) {
	if store == nil {
		return nil, errors.New("creating quota: store is nil; pass the store's quota namespace")
	}
	if opts.Policy == (Policy{}) {
		opts.Policy = DefaultPolicy()
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("creating quota: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KeysDir == "" {
		opts.KeysDir = "the store's keys/quota folder"
	}

	q := &Quota{
		store:    store,
		policy:   opts.Policy,
		now:      opts.Now,
		logger:   opts.Logger,
		readOnly: opts.ReadOnly,
		keysDir:  opts.KeysDir,
	}
	salt, err := q.loadSalt()
	if err != nil {
		return nil, err
	}
	q.salt = salt
	return q, nil
}

// Policy returns the policy in force.
func (q *Quota) Policy() Policy { return q.policy }

// loadSalt returns the stored salt, creating it when absent and replacing
// it when its length shows that it is damaged. On a read-only store it
// returns a random salt that it does not store.
func (q *Quota) loadSalt() ([]byte, error) {
	storeMu.Lock()
	defer storeMu.Unlock()

	stored, err := q.store.Get([]byte(saltKey))
	if err == nil && len(stored) == saltSize {
		return stored, nil
	}
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("reading quota salt: %w", err)
	}
	damaged := err == nil

	salt := make([]byte, saltSize)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, fmt.Errorf("creating quota salt: %w", err)
	}
	if q.readOnly {
		if damaged {
			q.damaged = append(q.damaged, fmt.Sprintf("quota: the stored salt is %s long instead of %d, "+
				"and the store is read-only here, so every count reads as 0 until a scan on a writable store replaces the salt",
				byteCount(len(stored)), saltSize))
		}
		q.logger.Debug("the read-only quota store has no valid salt; every count is 0")
		return salt, nil
	}

	b := q.store.NewBatch()
	defer b.Close()
	if damaged {
		// Counters are named by hashes over the old salt, so no identity
		// can reach them once the salt changes.
		if err := q.deleteAllCounters(b); err != nil {
			return nil, fmt.Errorf("replacing damaged quota salt: %w", err)
		}
	}
	if err := b.Set([]byte(saltKey), salt); err != nil {
		return nil, fmt.Errorf("writing quota salt: %w", err)
	}
	if err := b.Commit(true); err != nil {
		return nil, fmt.Errorf("writing quota salt: %w", err)
	}
	if damaged {
		q.damaged = append(q.damaged, fmt.Sprintf("quota: the stored salt was %s long instead of %d, "+
			"so it was replaced with a new salt and the stored counters were deleted; today's counts start again from 0",
			byteCount(len(stored)), saltSize))
		q.logger.Debug("replaced damaged quota salt", "length", len(stored))
		return salt, nil
	}
	q.logger.Debug("created quota salt")
	return salt, nil
}

// deleteAllCounters adds to b the deletion of every key under day/.
func (q *Quota) deleteAllCounters(b kv.Batch) error {
	var keys [][]byte
	err := q.store.Scan([]byte(dayPrefix), func(key, _ []byte) error {
		keys = append(keys, append([]byte(nil), key...))
		return nil
	})
	if err != nil {
		return fmt.Errorf("scanning counters: %w", err)
	}
	for _, key := range keys {
		if err := b.Delete(key); err != nil {
			return fmt.Errorf("deleting counter %s: %w", key, err)
		}
	}
	return nil
}

// Identify verifies tok against keys and returns the identity to count scans
// for. Without a token it returns the anonymous identity of the store. A
// token that fails verification also yields the anonymous identity, with
// Warning set to one line giving the reason, so Identify has no error result.
func (q *Quota) Identify(tok Token, keys []crypto.PublicKey) Identity {
	anonymous := Identity{
		Mode: ModeAnonymous,
		hash: hashIdentity(q.salt, ModeAnonymous, anonymousValue),
	}
	if tok.Raw == "" {
		return anonymous
	}

	claims, err := VerifyToken(tok.Raw, keys, q.now())
	if err != nil {
		source := tok.Source
		if source == "" {
			source = "the token"
		}
		hint := ""
		if errors.Is(err, errdef.ErrSignature) || errors.Is(err, ErrNoTokenKey) {
			hint = fmt.Sprintf("; put the token issuer's public key in %s or pass --quota-key", q.keysDir)
		}
		// Only the reason, which can quote the token, is cut to
		// maxLineLength, so the hint and the outcome are always printed.
		anonymous.Warning = strings.Map(controlToSpace, fmt.Sprintf(
			"quota: ignoring the token from %s: %s%s; counting scans as anonymous, %d per UTC day",
			source, singleLine(err.Error()), hint, q.policy.AnonymousLimit))
		anonymous.TokenError = err
		return anonymous
	}
	return Identity{
		Mode:   ModeToken,
		Claims: &claims,
		hash:   hashIdentity(q.salt, ModeToken, claims.TokenID),
	}
}

// Record counts one scan for id today (UTC) and returns the decision for it.
// In the same synced batch it deletes counters of days more than 7 days
// before today. Record overwrites a counter value of the wrong length with
// a count of 1 and reports that in State.Damaged. On error
// nothing is counted, and the caller runs the scan anyway, reporting the
// error as a warning. On a read-only store the error wraps ErrReadOnly.
func (q *Quota) Record(id Identity) (Decision, error) {
	if id.hash == "" {
		return Decision{}, errors.New("recording scan: identity is empty; obtain it from Quota.Identify")
	}
	if q.readOnly {
		return Decision{}, fmt.Errorf("recording scan: %w", ErrReadOnly)
	}
	storeMu.Lock()
	defer storeMu.Unlock()

	now := q.now().UTC()
	key := counterKey(now, id.hash)
	count, damagedLength, err := q.readCount(key)
	if err != nil {
		return Decision{}, fmt.Errorf("recording scan: %w", err)
	}
	count++

	b := q.store.NewBatch()
	defer b.Close()
	if err := b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(count))); err != nil {
		return Decision{}, fmt.Errorf("recording scan: %w", err)
	}
	if err := q.pruneOldDays(b, now); err != nil {
		return Decision{}, fmt.Errorf("recording scan: %w", err)
	}
	if err := b.Commit(true); err != nil {
		return Decision{}, fmt.Errorf("recording scan: committing counter: %w", err)
	}
	st := q.state(id, now, count)
	if damagedLength >= 0 {
		q.logger.Debug("overwrote damaged quota counter", "key", string(key), "length", damagedLength)
		st.Damaged = append(st.Damaged, fmt.Sprintf("quota: today's counter of this %s identity was %s long "+
			"instead of %d, so this scan overwrote it and the count starts again from 1", id.Mode, byteCount(damagedLength), counterSize))
	}
	return q.decide(st), nil
}

// Damaged returns one line for each damaged quota entry that New found,
// such as a salt of the wrong length, and what was done about it.
func (q *Quota) Damaged() []string { return append([]string(nil), q.damaged...) }

// Status returns today's state for id without counting a scan. A damaged
// counter reads as 0, with a line in State.Damaged, until Record
// overwrites it.
func (q *Quota) Status(id Identity) (State, error) {
	if id.hash == "" {
		return State{}, errors.New("reading quota status: identity is empty; obtain it from Quota.Identify")
	}
	storeMu.Lock()
	defer storeMu.Unlock()

	now := q.now().UTC()
	count, damagedLength, err := q.readCount(counterKey(now, id.hash))
	if err != nil {
		return State{}, fmt.Errorf("reading quota status: %w", err)
	}
	st := q.state(id, now, count)
	if damagedLength >= 0 {
		st.Damaged = append(st.Damaged, fmt.Sprintf("quota: today's counter of this %s identity is %s long "+
			"instead of %d, so it reads as 0 until the next counted scan overwrites it", id.Mode, byteCount(damagedLength), counterSize))
	}
	return st, nil
}

// counterKey returns day/<YYYY-MM-DD>/<identity hash> for the UTC day of now.
func counterKey(now time.Time, hash string) []byte {
	return []byte(dayPrefix + now.UTC().Format(dayFormat) + "/" + hash)
}

// readCount returns the stored count of key, or 0 when absent. For a value
// of the wrong length, which no Record writes, it returns 0 and the
// length as damagedLength, which is -1 otherwise.
func (q *Quota) readCount(key []byte) (count int64, damagedLength int, err error) {
	value, err := q.store.Get(key)
	if errors.Is(err, errdef.ErrNotFound) {
		return 0, -1, nil
	}
	if err != nil {
		return 0, -1, fmt.Errorf("reading counter: %w", err)
	}
	if len(value) != counterSize {
		return 0, len(value), nil
	}
	return int64(binary.BigEndian.Uint64(value)), -1, nil
}

// pruneOldDays adds to b the deletion of every counter of a day before
// today minus keepDays, and of every key under day/ whose day does not
// parse, which no Record writes. The scan reads every key under day/,
// kept counters included, because an invalid day such as 2099-13-45 or
// zzzz sorts after the valid days.
func (q *Quota) pruneOldDays(b kv.Batch, now time.Time) error {
	cutoff := now.AddDate(0, 0, -keepDays).Format(dayFormat)
	var stale [][]byte
	err := q.store.Scan([]byte(dayPrefix), func(key, _ []byte) error {
		if day, ok := counterDay(key); ok && day >= cutoff {
			return nil
		}
		stale = append(stale, append([]byte(nil), key...))
		return nil
	})
	if err != nil {
		return fmt.Errorf("scanning counters: %w", err)
	}
	for _, key := range stale {
		if err := b.Delete(key); err != nil {
			return fmt.Errorf("deleting counter %s: %w", key, err)
		}
	}
	if len(stale) > 0 {
		q.logger.Debug("pruned quota counters", "count", len(stale), "before", cutoff)
	}
	return nil
}

// counterDay returns the YYYY-MM-DD day of a key under day/, and false
// when the key does not start with a valid day followed by "/".
func counterDay(key []byte) (string, bool) {
	rest := string(key[len(dayPrefix):])
	if len(rest) <= len(dayFormat) || rest[len(dayFormat)] != '/' {
		return "", false
	}
	day := rest[:len(dayFormat)]
	if _, err := time.Parse(dayFormat, day); err != nil {
		return "", false
	}
	return day, true
}

// byteCount formats n as "1 byte" or "n bytes".
func byteCount(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}
