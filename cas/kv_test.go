package cas

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// testKVStore checks the kv.Store contract; it runs against the in-memory
// store too, so both implementations behave alike.
func testKVStore(t *testing.T, st kv.Store) {
	if _, err := st.Get([]byte("a")); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}

	b := st.NewBatch()
	for _, k := range []string{"b/2", "a", "b/1", "c", "b/3"} {
		if err := b.Set([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	// Unflushed writes stay invisible.
	if _, err := st.Get([]byte("a")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Get before Commit error = %v, want ErrNotFound", err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := st.Get([]byte("a"))
	if err != nil || string(got) != "va" {
		t.Errorf("Get(a) = %q, %v; want va", got, err)
	}
	got[0] = 'X' // the caller owns the copy
	if again, _ := st.Get([]byte("a")); string(again) != "va" {
		t.Errorf("Get returned a shared slice: %q", again)
	}

	var keys []string
	err = st.Scan([]byte("b/"), func(k, v []byte) error {
		if !bytes.Equal(v, append([]byte("v"), k...)) {
			t.Errorf("Scan value of %q = %q", k, v)
		}
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[b/1 b/2 b/3]" {
		t.Errorf("Scan(b/) keys = %v, want [b/1 b/2 b/3]", keys)
	}

	// ScanPrefixes visits the prefixes in the order given, each key with
	// its prefix's index. A prefix without keys adds nothing.
	keys = nil
	err = kv.ScanPrefixes(st, [][]byte{[]byte("c"), []byte("none/"), []byte("b/")}, func(i int, k, v []byte) error {
		if !bytes.Equal(v, append([]byte("v"), k...)) {
			t.Errorf("ScanPrefixes value of %q = %q", k, v)
		}
		keys = append(keys, fmt.Sprintf("%d:%s", i, k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[0:c 2:b/1 2:b/2 2:b/3]" {
		t.Errorf("ScanPrefixes keys = %v, want [0:c 2:b/1 2:b/2 2:b/3]", keys)
	}

	stop := errors.New("stop")
	calls := 0
	err = kv.ScanPrefixes(st, [][]byte{[]byte("a"), []byte("b/")}, func(int, []byte, []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ScanPrefixes did not stop at the first error: %v after %d calls", err, calls)
	}

	// ScanRange covers lower up to, not including, upper.
	keys = nil
	err = kv.ScanRange(st, []byte("a"), []byte("b/3"), func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a b/1 b/2]" {
		t.Errorf("ScanRange(a, b/3) keys = %v, want [a b/1 b/2]", keys)
	}
	calls = 0
	err = st.Scan(nil, func(k, v []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Scan did not stop at the first error: %v after %d calls", err, calls)
	}

	b = st.NewBatch()
	if err := b.Delete([]byte("b/2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if _, err := st.Get([]byte("b/2")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Get after Delete error = %v, want ErrNotFound", err)
	}

	// A closed batch without Commit writes nothing.
	b = st.NewBatch()
	_ = b.Set([]byte("z"), []byte("z"))
	_ = b.Close()
	if _, err := st.Get([]byte("z")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Get after an uncommitted batch error = %v, want ErrNotFound", err)
	}
}

func TestKVMemoryConformance(t *testing.T) {
	testKVStore(t, kv.NewMemory())
}

func TestKVPebbleConformance(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	st := s.KV("vulndb")
	if _, ok := st.(kv.PrefixScanner); !ok {
		t.Fatal("the Pebble namespace store is not a kv.PrefixScanner")
	}
	if _, ok := st.(kv.RangeScanner); !ok {
		t.Fatal("the Pebble namespace store is not a kv.RangeScanner")
	}
	// A key of another namespace stays out of every scan.
	b := s.KV("vulndb-other").NewBatch()
	_ = b.Set([]byte("b/0"), []byte("x"))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	testKVStore(t, st)
}

func TestKVNamespacesIsolated(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a, ab := s.KV("a"), s.KV("a/b")
	b := ab.NewBatch()
	_ = b.Set([]byte("k"), []byte("1"))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	n := 0
	if err := a.Scan(nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("namespace a sees %d keys of namespace a/b", n)
	}
	// Blobs pushed into the store are invisible to every namespace.
	push(t, s, []byte("blob"), "")
	if err := s.KV("").Scan(nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the empty namespace sees %d keys outside it", n)
	}
}

func TestKVIngestSorted(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	st := s.KV("vulndb")
	ing, ok := st.(kv.Ingester)
	if !ok {
		t.Fatal("the Pebble namespace store is not a kv.Ingester")
	}
	b := st.NewBatch()
	_ = b.Set([]byte("k2"), []byte("old"))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()

	err := ing.IngestSorted(func(add func(k, v []byte) error) error {
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := add([]byte(k), []byte("new "+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		v, err := st.Get([]byte(k))
		if err != nil || string(v) != "new "+k {
			t.Errorf("Get(%s) = %q, %v; want the ingested value", k, v, err)
		}
	}
	// The keys stay in their namespace.
	n := 0
	_ = s.KV("other").Scan(nil, func(k, v []byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("another namespace sees %d ingested keys", n)
	}
}

func TestKVIngestSortedRejectsDisorder(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	st := s.KV("vulndb")
	err := st.(kv.Ingester).IngestSorted(func(add func(k, v []byte) error) error {
		if err := add([]byte("b"), nil); err != nil {
			return err
		}
		return add([]byte("a"), nil)
	})
	if err == nil {
		t.Fatal("keys added out of order were accepted")
	}
	if _, err := st.Get([]byte("b")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a failed ingestion stored key b: Get error = %v", err)
	}
}

func TestKVIngestSortedFillFailure(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	st := s.KV("vulndb")
	boom := errors.New("boom")
	err := st.(kv.Ingester).IngestSorted(func(add func(k, v []byte) error) error {
		_ = add([]byte("a"), []byte("1"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("IngestSorted error = %v, want the fill error", err)
	}
	if _, err := st.Get([]byte("a")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a failed fill stored key a: Get error = %v", err)
	}
	// A fill that adds nothing succeeds and stores nothing.
	if err := st.(kv.Ingester).IngestSorted(func(func(k, v []byte) error) error { return nil }); err != nil {
		t.Errorf("empty IngestSorted error = %v", err)
	}
}
