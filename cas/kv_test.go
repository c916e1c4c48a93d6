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

	stop := errors.New("stop")
	calls := 0
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
	testKVStore(t, s.KV("vulndb"))
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
