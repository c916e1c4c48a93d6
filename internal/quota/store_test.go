package quota

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

func TestCountersPersistAcrossNew(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	q := newQuota(t, store, c)
	recordN(t, q, q.Identify(Token{}, nil), 5)

	q2 := newQuota(t, store, c)
	d := recordN(t, q2, q2.Identify(Token{}, nil), 1)
	if d.State.Count != 6 {
		t.Errorf("count after re-creating the quota = %d, want 6", d.State.Count)
	}
}

func TestSaltStable(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	first := newQuota(t, store, c)
	second := newQuota(t, store, c)
	if !bytes.Equal(first.salt, second.salt) || len(first.salt) != saltSize {
		t.Errorf("salts differ or have the wrong size: %x vs %x", first.salt, second.salt)
	}
	if first.Identify(Token{}, nil).Hash() != second.Identify(Token{}, nil).Hash() {
		t.Error("anonymous identity changed across New on one store")
	}

	other := newQuota(t, kv.NewMemory(), c)
	if bytes.Equal(first.salt, other.salt) {
		t.Error("two stores got the same salt")
	}
	if first.Identify(Token{}, nil).Hash() == other.Identify(Token{}, nil).Hash() {
		t.Error("the same host hashes alike in two stores, want unlinkable hashes")
	}
}

func TestResetAtMidnightUTC(t *testing.T) {
	c := newClock(time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC))
	q := newQuota(t, kv.NewMemory(), c)
	id := q.Identify(Token{}, nil)
	d := recordN(t, q, id, 34)
	if !d.State.OverLimit {
		t.Fatal("scan 34 is not over the limit")
	}
	if want := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC); !d.State.ResetAt.Equal(want) {
		t.Errorf("reset at = %v, want %v", d.State.ResetAt, want)
	}
	if d.State.ResetIn() != time.Minute {
		t.Errorf("reset in = %v, want 1m", d.State.ResetIn())
	}

	// A local time zone must not matter: this is 00:00:30 UTC.
	east := time.FixedZone("UTC+5", 5*3600)
	c.Set(time.Date(2026, 3, 15, 5, 0, 30, 0, east))
	st, err := q.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count != 0 || st.Day != "2026-03-15" {
		t.Errorf("status after midnight = %+v, want count 0 on 2026-03-15", st)
	}
	d = recordN(t, q, id, 1)
	if d.State.Count != 1 || d.State.OverLimit || d.Slowdown != 0 {
		t.Errorf("first scan after midnight = %+v, want count 1 without slowdown", d)
	}
}

func TestOldDaysPruned(t *testing.T) {
	store := kv.NewMemory()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := newClock(start)
	q := newQuota(t, store, c)
	id := q.Identify(Token{}, nil)
	for day := 0; day < 10; day++ {
		c.Set(start.AddDate(0, 0, day))
		recordN(t, q, id, 1)
	}

	// Today is 2026-03-10: days from 2026-03-03 on are kept.
	var days []string
	err := store.Scan([]byte(dayPrefix), func(key, _ []byte) error {
		days = append(days, strings.Split(string(key), "/")[1])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07",
		"2026-03-08", "2026-03-09", "2026-03-10"}
	if strings.Join(days, ",") != strings.Join(want, ",") {
		t.Errorf("stored days = %v, want %v", days, want)
	}
}

// yieldingStore widens the window between a counter's read and its write,
// so a missing lock loses increments reliably.
type yieldingStore struct{ *kv.Memory }

func (s yieldingStore) Get(key []byte) ([]byte, error) {
	value, err := s.Memory.Get(key)
	time.Sleep(50 * time.Microsecond)
	return value, err
}

func TestConcurrentRecordsExact(t *testing.T) {
	store := yieldingStore{kv.NewMemory()}
	c := newClock(testNoon)
	// Two Quota values over one store share the process-wide lock.
	quotas := []*Quota{newQuota(t, store, c), newQuota(t, store, c)}
	id := quotas[0].Identify(Token{}, nil)
	recordN(t, quotas[0], id, 7)

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := quotas[i%2].Record(id); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	st, err := quotas[1].Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count != 57 {
		t.Errorf("count = %d, want 57 (7 before, 50 concurrent)", st.Count)
	}
}

func TestRawTokenIDNotStored(t *testing.T) {
	key := newKey(t)
	store := kv.NewMemory()
	q := newQuota(t, store, newClock(testNoon))
	spec := validSpec()
	id := q.Identify(Token{Raw: signToken(t, key, spec)}, publicKeys(key))
	if id.Mode != ModeToken {
		t.Fatalf("mode = %s, want token", id.Mode)
	}
	recordN(t, q, id, 3)

	keys := 0
	err := store.Scan(nil, func(k, v []byte) error {
		keys++
		for _, secret := range []string{spec.tid, spec.sub} {
			if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
				t.Errorf("key %q or its value contains %q", k, secret)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys != 2 {
		t.Errorf("stored %d keys, want the salt and one counter", keys)
	}
}

func TestTokenAndAnonymousCountedApart(t *testing.T) {
	key := newKey(t)
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	token := q.Identify(Token{Raw: signToken(t, key, validSpec())}, publicKeys(key))
	anonymous := q.Identify(Token{}, nil)
	recordN(t, q, token, 4)
	d := recordN(t, q, anonymous, 1)
	if d.State.Count != 1 {
		t.Errorf("anonymous count = %d, want 1 apart from the token's 4", d.State.Count)
	}
}

func TestRecordRejectsZeroIdentity(t *testing.T) {
	q := newQuota(t, kv.NewMemory(), newClock(testNoon))
	if _, err := q.Record(Identity{}); err == nil {
		t.Error("Record(Identity{}) succeeded, want an error")
	}
	if _, err := q.Status(Identity{}); err == nil {
		t.Error("Status(Identity{}) succeeded, want an error")
	}
}

func TestCorruptSaltRejected(t *testing.T) {
	store := kv.NewMemory()
	b := store.NewBatch()
	if err := b.Set([]byte(saltKey), []byte("short")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if _, err := New(store, Options{}); err == nil || !strings.Contains(err.Error(), "salt") {
		t.Errorf("New over a 5-byte salt error = %v, want a salt error", err)
	}
}

func TestReadOnlyStoreCountsNothing(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	host := func() string { return "host-a\nmachine-1" }

	// A store that no scan has written has no salt, and New adds none.
	empty, err := New(store, Options{Now: c.Now, HostIdentity: host, ReadOnly: true})
	if err != nil {
		t.Fatalf("New on a read-only store without a salt: %v", err)
	}
	if _, err := store.Get([]byte(saltKey)); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("salt after New on a read-only store: err = %v, want it not written", err)
	}
	id := empty.Identify(Token{}, nil)
	if _, err := empty.Record(id); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Record on a read-only store: err = %v, want ErrReadOnly", err)
	}
	if st, err := empty.Status(id); err != nil || st.Count != 0 {
		t.Errorf("Status on a read-only store without a salt = count %d, error %v; want 0, nil", st.Count, err)
	}

	// Counts recorded while the store was writable stay readable.
	writable := newQuota(t, store, c)
	recordN(t, writable, writable.Identify(Token{}, nil), 3)
	ro, err := New(store, Options{Now: c.Now, HostIdentity: host, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	roID := ro.Identify(Token{}, nil)
	if _, err := ro.Record(roID); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Record on a read-only store with counters: err = %v, want ErrReadOnly", err)
	}
	if st, err := ro.Status(roID); err != nil || st.Count != 3 {
		t.Errorf("Status on a read-only store = count %d, error %v; want the 3 scans counted before", st.Count, err)
	}
}
