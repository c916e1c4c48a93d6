package vulndb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// countingStore counts the reads that reach a store.
type countingStore struct {
	kv.Store
	gets, scans atomic.Int64
}

func (c *countingStore) Get(k []byte) ([]byte, error) {
	c.gets.Add(1)
	return c.Store.Get(k)
}

func (c *countingStore) Scan(p []byte, fn func(k, v []byte) error) error {
	c.scans.Add(1)
	return c.Store.Scan(p, fn)
}

// cacheTestDB indexes records of one npm package, each affecting a span
// of versions, and opens them twice on one store: with and without the
// lookup caches.
func cacheTestDB(t *testing.T) (cached, cold *DB, store *countingStore) {
	t.Helper()
	var recs []Record
	for i := range 60 {
		recs = append(recs, Record{
			ID:       fmt.Sprintf("GHSA-test-%04d", i),
			Modified: "2026-01-01T00:00:00Z",
			Affected: []Affected{{
				Package: Package{Ecosystem: "npm", Name: "left-pad"},
				Ranges: []Range{{Type: "SEMVER", Events: []Event{
					{Introduced: fmt.Sprintf("1.%d.0", i/2)}, {Fixed: fmt.Sprintf("1.%d.0", i/2+10)},
				}}},
			}},
		})
	}

	l, err := newLayer(recs, LayerBase, "npm", "cache test")
	if err != nil {
		t.Fatal(err)
	}
	mem := kv.NewMemory()
	if err := IndexLayer(context.Background(), mem, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}

	store = &countingStore{Store: mem}
	layers := []ocispec.Descriptor{l.Descriptor}
	if cached, err = Open(store, nil, layers); err != nil {
		t.Fatal(err)
	}
	if cold, err = Open(mem, nil, layers); err != nil {
		t.Fatal(err)
	}
	cold.DisableCaches()
	return cached, cold, store
}

func TestLookupCachesReadOnce(t *testing.T) {
	db, _, store := cacheTestDB(t)
	first, err := db.LookupPURL("pkg:npm/left-pad@1.12.0")
	if err != nil || len(first) == 0 {
		t.Fatalf("first lookup: %d records, %v", len(first), err)
	}
	gets, scans := store.gets.Load(), store.scans.Load()
	// A lookup of the same package at a nearby version returns largely
	// the same records: the package and those records come from the
	// caches, so only the records not returned before are read.
	second, err := db.LookupPURL("pkg:npm/left-pad@1.12.5")
	if err != nil {
		t.Fatal(err)
	}
	if n := store.scans.Load() - scans; n != 0 {
		t.Errorf("second lookup of the package scanned the index %d times, want 0", n)
	}
	seen := map[string]bool{}
	for _, r := range first {
		seen[r.ID] = true
	}
	want := int64(0)
	for _, r := range second {
		if !seen[r.ID] {
			want++
		}
	}
	if n := store.gets.Load() - gets; n != want {
		t.Errorf("second lookup read %d records, want %d (those the first did not return)", n, want)
	}
}

func TestLookupCachesGiveSameAnswers(t *testing.T) {
	db, cold, _ := cacheTestDB(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for minor := range 45 {
				purl := fmt.Sprintf("pkg:npm/left-pad@1.%d.%d", minor, w)
				got, err := db.LookupPURL(purl)
				if err != nil {
					t.Error(err)
					return
				}
				want, err := cold.LookupPURL(purl)
				if err != nil {
					t.Error(err)
					return
				}
				if ids(got) != ids(want) {
					t.Errorf("%s: cached lookup gives %s, uncached %s", purl, ids(got), ids(want))
				}
			}
		}()
	}
	wg.Wait()
}

func TestLookupRejectsUnmatchableQueries(t *testing.T) {
	db, _, _ := cacheTestDB(t)
	// No record names this package, and its version is not an npm
	// version, so no record could ever match it.
	if _, err := db.LookupPURL("pkg:npm/nosuch@notaversion"); !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Errorf("LookupPURL of an invalid version of an unknown package: error = %v, want ErrInvalidArgument", err)
	}
	if recs, err := db.LookupPURL("pkg:npm/nosuch@1.0.0"); err != nil || len(recs) != 0 {
		t.Errorf("LookupPURL of a valid version of an unknown package = %d records, %v; want none and no error", len(recs), err)
	}
	if _, err := db.Lookup("  "); !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Errorf("Lookup of an empty ID: error = %v, want ErrInvalidArgument", err)
	}
}
