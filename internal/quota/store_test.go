package quota

import (
	"bytes"
	"errors"
	"slices"
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
		t.Error("anonymous identities of two stores hash alike, want unlinkable hashes")
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

// setKey writes value to key of store in a synced batch.
func setKey(t *testing.T, store kv.Store, key string, value []byte) {
	t.Helper()
	b := store.NewBatch()
	defer b.Close()
	if err := b.Set([]byte(key), value); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedSaltReplaced(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	before := newQuota(t, store, c)
	recordN(t, before, before.Identify(Token{}, nil), 5)
	setKey(t, store, saltKey, []byte("short"))

	q, err := New(store, Options{Now: c.Now})
	if err != nil {
		t.Fatalf("New over a 5-byte salt: %v, want the salt replaced", err)
	}
	salt, err := store.Get([]byte(saltKey))
	if err != nil || len(salt) != saltSize {
		t.Errorf("salt after New = %x (error %v), want %d new bytes", salt, err, saltSize)
	}
	if len(q.Damaged()) != 1 || !strings.Contains(q.Damaged()[0], "5 bytes long instead of 32") {
		t.Errorf("Damaged() = %q, want one line naming the 5-byte salt", q.Damaged())
	}
	counters := 0
	if err := store.Scan([]byte(dayPrefix), func(_, _ []byte) error { counters++; return nil }); err != nil {
		t.Fatal(err)
	}
	if counters != 0 {
		t.Errorf("%d counters under the old salt were kept, want them deleted", counters)
	}

	d, err := q.Record(q.Identify(Token{}, nil))
	if err != nil {
		t.Fatalf("Record after replacing the salt: %v", err)
	}
	if d.State.Count != 1 {
		t.Errorf("count after replacing the salt = %d, want 1", d.State.Count)
	}
	if len(d.State.Damaged) != 1 || !strings.Contains(d.State.Damaged[0], "replaced") {
		t.Errorf("state after replacing the salt has Damaged %q, want the replacement named", d.State.Damaged)
	}

	// The next process finds the new salt and reports nothing.
	again := newQuota(t, store, c)
	if len(again.Damaged()) != 0 {
		t.Errorf("Damaged() after the salt was replaced = %q, want none", again.Damaged())
	}
	if st, err := again.Status(again.Identify(Token{}, nil)); err != nil || st.Count != 1 {
		t.Errorf("status after the salt was replaced = count %d, error %v; want 1, nil", st.Count, err)
	}
}

func TestDamagedSaltOnReadOnlyStore(t *testing.T) {
	store := kv.NewMemory()
	setKey(t, store, saltKey, []byte("short"))
	q, err := New(store, Options{Now: newClock(testNoon).Now, ReadOnly: true})
	if err != nil {
		t.Fatalf("New over a 5-byte salt on a read-only store: %v", err)
	}
	if salt, _ := store.Get([]byte(saltKey)); string(salt) != "short" {
		t.Errorf("salt of a read-only store = %q, want it left as it was", salt)
	}
	st, err := q.Status(q.Identify(Token{}, nil))
	if err != nil || st.Count != 0 {
		t.Errorf("status = count %d, error %v; want 0, nil", st.Count, err)
	}
	if len(st.Damaged) != 1 || !strings.Contains(st.Damaged[0], "read-only") {
		t.Errorf("status Damaged = %q, want a line saying the read-only store keeps the salt", st.Damaged)
	}
}

func TestDamagedCounterOverwritten(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	q := newQuota(t, store, c)
	id := q.Identify(Token{}, nil)
	recordN(t, q, id, 4)
	setKey(t, store, string(counterKey(testNoon, id.Hash())), []byte{0, 0, 9})

	st, err := q.Status(id)
	if err != nil {
		t.Fatalf("Status over a 3-byte counter: %v", err)
	}
	if st.Count != 0 {
		t.Errorf("status count over a 3-byte counter = %d, want 0", st.Count)
	}
	if len(st.Damaged) != 1 || !strings.Contains(st.Damaged[0], "3 bytes long instead of 8") {
		t.Errorf("status Damaged = %q, want the 3-byte counter named", st.Damaged)
	}

	d, err := q.Record(id)
	if err != nil {
		t.Fatalf("Record over a 3-byte counter: %v, want the counter overwritten", err)
	}
	if d.State.Count != 1 {
		t.Errorf("count after overwriting the counter = %d, want 1", d.State.Count)
	}
	if len(d.State.Damaged) != 1 || !strings.Contains(d.State.Damaged[0], "overwrote") {
		t.Errorf("Record Damaged = %q, want one line saying the counter was overwritten", d.State.Damaged)
	}

	d = recordN(t, q, id, 1)
	if d.State.Count != 2 {
		t.Errorf("count of the next scan = %d, want 2", d.State.Count)
	}
	if len(d.State.Damaged) != 0 {
		t.Errorf("next scan Damaged = %q, want none once the counter was overwritten", d.State.Damaged)
	}
}

func TestMalformedDayKeyPruned(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon.AddDate(0, 0, -10))
	q := newQuota(t, store, c)
	id := q.Identify(Token{}, nil)
	recordN(t, q, id, 1)
	// "day/1" sorts before every valid day, and "day/2026-02-30/x" names
	// no date. Neither may stop the pruning of the old day after them.
	setKey(t, store, dayPrefix+"1", []byte("junk"))
	setKey(t, store, dayPrefix+"2026-02-30/x", []byte("junk"))

	c.Set(testNoon)
	recordN(t, q, id, 1)
	var keys []string
	if err := store.Scan([]byte(dayPrefix), func(key, _ []byte) error {
		keys = append(keys, string(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := string(counterKey(testNoon, id.Hash())); len(keys) != 1 || keys[0] != want {
		t.Errorf("keys under day/ = %q, want only today's counter %q", keys, want)
	}
}

// TestMalformedDayKeyAfterKeptDayPruned checks that keys whose day does
// not parse are deleted when they sort after the days that are kept.
func TestMalformedDayKeyAfterKeptDayPruned(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	q := newQuota(t, store, c)
	id := q.Identify(Token{}, nil)
	recordN(t, q, id, 1)
	malformed := []string{dayPrefix + "2099-13-45/x", dayPrefix + "zzzz/x"}
	for _, key := range malformed {
		setKey(t, store, key, []byte("junk"))
	}

	recordN(t, q, id, 1)
	for _, key := range malformed {
		if _, err := store.Get([]byte(key)); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("key %s after the next scan: err = %v, want it deleted", key, err)
		}
	}
	if _, err := store.Get(counterKey(testNoon, id.Hash())); err != nil {
		t.Errorf("today's counter after the next scan: %v, want it kept", err)
	}
}

func TestReadOnlyStoreCountsNothing(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)

	// A store that no scan has written has no salt, and New adds none.
	empty, err := New(store, Options{Now: c.Now, ReadOnly: true})
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
	ro, err := New(store, Options{Now: c.Now, ReadOnly: true})
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

func TestDamagedLengthSingular(t *testing.T) {
	store := kv.NewMemory()
	c := newClock(testNoon)
	setKey(t, store, saltKey, []byte("x"))
	q, err := New(store, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Damaged()) != 1 || !strings.Contains(q.Damaged()[0], "salt was 1 byte long instead of 32") {
		t.Errorf("Damaged() = %q, want the 1-byte salt named in the singular", q.Damaged())
	}

	id := q.Identify(Token{}, nil)
	setKey(t, store, string(counterKey(testNoon, id.Hash())), []byte{7})
	st, err := q.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Damaged, func(line string) bool { return strings.Contains(line, "is 1 byte long instead of 8") }) {
		t.Errorf("status Damaged = %q, want the 1-byte counter named in the singular", st.Damaged)
	}
	d, err := q.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.State.Damaged, func(line string) bool { return strings.Contains(line, "was 1 byte long instead of 8") }) {
		t.Errorf("record Damaged = %q, want the 1-byte counter named in the singular", d.State.Damaged)
	}
}
