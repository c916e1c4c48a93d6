package vulndb

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// pebbleKV opens a Pebble-backed store, whose namespaces ingest sorted
// tables, in a temporary folder.
func pebbleKV(t *testing.T) kv.Store {
	t.Helper()
	s, err := cas.Open(t.TempDir(), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := s.KV("vulndb")
	if _, ok := st.(kv.Ingester); !ok {
		t.Fatal("the Pebble store does not ingest sorted tables")
	}
	return st
}

func TestIndexIngestedMatchesBatches(t *testing.T) {
	recs := genRecords(500, 7)
	// Build writes layers in ID order, which the ingested index needs.
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "ingest test")
	if err != nil {
		t.Fatal(err)
	}
	layers := []ocispec.Descriptor{l.Descriptor}
	open := func(st kv.Store) *DB {
		if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
			t.Fatal(err)
		}
		db, err := Open(st, nil, layers)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	ingested, batched := open(pebbleKV(t)), open(kv.NewMemory())

	for _, r := range recs {
		a, errA := ingested.Lookup(r.ID)
		b, errB := batched.Lookup(r.ID)
		if (errA == nil) != (errB == nil) || ids(a) != ids(b) {
			t.Fatalf("Lookup(%s): ingested index gives %s (%v), batches give %s (%v)", r.ID, ids(a), errA, ids(b), errB)
		}
		var queries []func(*DB) ([]Record, error)
		for _, af := range r.Affected {
			typ := map[string]string{"npm": "npm", "PyPI": "pypi", "crates.io": "cargo"}[af.Package.Ecosystem]
			if typ == "" {
				continue
			}
			for _, v := range []string{"", "@1.5.3", "@3.12.0"} {
				p := "pkg:" + typ + "/" + af.Package.Name + v
				queries = append(queries, func(db *DB) ([]Record, error) { return db.LookupPURL(p) })
			}
		}
		for _, m := range recordCPEs(&r) {
			c, err := parseCPE(m.Criteria)
			if err != nil {
				t.Fatal(err)
			}
			q := "cpe:2.3:a:" + c.key() + ":1.0.0:*:*:*:*:*:*:*"
			queries = append(queries, func(db *DB) ([]Record, error) { return db.LookupCPE(q) })
		}
		for i, q := range queries {
			a, errA := q(ingested)
			b, errB := q(batched)
			if (errA == nil) != (errB == nil) || ids(a) != ids(b) {
				t.Fatalf("query %d of record %s: ingested index gives %s (%v), batches give %s (%v)", i, r.ID, ids(a), errA, ids(b), errB)
			}
		}
	}
}

func TestIndexIngestRejectsUnsortedLayer(t *testing.T) {
	recs := []Record{
		{ID: "GHSA-bbbb-bbbb-bbbb", Modified: "2026-01-01T00:00:00Z"},
		{ID: "GHSA-aaaa-aaaa-aaaa", Modified: "2026-01-01T00:00:00Z"},
	}
	l, err := newLayer(recs, LayerBase, "npm", "unsorted")
	if err != nil {
		t.Fatal(err)
	}
	st := pebbleKV(t)
	err = IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data))
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("IndexLayer of an unsorted layer: error = %v, want ErrInvalidKit", err)
	}
	if ok, _ := IsIndexed(st, l.Descriptor.Digest); ok {
		t.Error("an unsorted layer counts as indexed")
	}
	if _, err := st.Get(recKey(l.Descriptor.Digest, "GHSA-bbbb-bbbb-bbbb")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("the record of a rejected layer was stored: Get error = %v", err)
	}
}

// recordingIngester is a memory store that ingests sorted tables and
// records the keys of each table and of each batch.
type recordingIngester struct {
	*kv.Memory
	tables  [][]string
	batched []string
}

func (r *recordingIngester) IngestSorted(fill func(add func(k, v []byte) error) error) error {
	var keys []string
	b := r.Memory.NewBatch()
	defer b.Close()
	err := fill(func(k, v []byte) error {
		if n := len(keys); n > 0 && string(k) <= keys[n-1] {
			return errors.New("keys added out of ascending order")
		}
		keys = append(keys, string(k))
		return b.Set(k, v)
	})
	if err != nil {
		return err
	}
	r.tables = append(r.tables, keys)
	return b.Commit(true)
}

func (r *recordingIngester) NewBatch() kv.Batch {
	return &recordingBatch{Batch: r.Memory.NewBatch(), keys: &r.batched}
}

type recordingBatch struct {
	kv.Batch
	keys *[]string
}

func (b *recordingBatch) Set(k, v []byte) error {
	*b.keys = append(*b.keys, string(k))
	return b.Batch.Set(k, v)
}

func TestIndexIngestsKeysByPrefix(t *testing.T) {
	recs := genRecords(300, 3)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "ingest test")
	if err != nil {
		t.Fatal(err)
	}
	st := &recordingIngester{Memory: kv.NewMemory()}
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}

	prefixOf := func(k string) string { p, _, _ := strings.Cut(k, "\x00"); return p }
	for _, k := range st.batched {
		if p := prefixOf(k); p != prefixLayer && p != prefixFilter {
			t.Errorf("key %q went through a batch; only layer and filter keys should", k)
		}
	}
	seen := map[string]bool{}
	for _, table := range st.tables {
		p := prefixOf(table[0])
		if seen[p] {
			t.Errorf("two tables contain %s keys", p)
		}
		seen[p] = true
		for _, k := range table {
			if prefixOf(k) != p {
				t.Errorf("table of %s keys also contains %q", p, k)
			}
		}
	}
	for _, p := range []string{prefixRec, prefixAlias, prefixPkg, prefixCPE} {
		if !seen[p] {
			t.Errorf("no table contains %s keys", p)
		}
	}
}
