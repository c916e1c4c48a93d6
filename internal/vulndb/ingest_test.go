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
		for _, config := range recordConfigs(&r) {
			for _, n := range config.Nodes {
				for _, m := range n.CPEMatch {
					c, err := parseCPE(m.Criteria)
					if err != nil {
						t.Fatal(err)
					}
					q := "cpe:2.3:a:" + c.key() + ":1.0.0:*:*:*:*:*:*:*"
					queries = append(queries, func(db *DB) ([]Record, error) { return db.LookupCPE(q) })
				}
			}
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

// TestLayerKeysStayInTheirRanges indexes a base layer and an overlay that
// changes some of its records, and checks that every key of a layer lies
// under that layer's own prefixes, so that a layer's tables never overlap
// another layer's keys. Dropping the base then leaves the overlay whole.
func TestLayerKeysStayInTheirRanges(t *testing.T) {
	recs := genRecords(400, 11)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	base, err := newLayer(recs, LayerBase, "mixed", "base")
	if err != nil {
		t.Fatal(err)
	}
	changed := slices.Clone(recs[100:200])
	for i := range changed {
		changed[i].Summary = "changed overnight"
	}
	overlay, err := newLayer(changed, LayerOverlay, "mixed", "overlay")
	if err != nil {
		t.Fatal(err)
	}
	st := pebbleKV(t)
	for _, l := range []Layer{base, overlay} {
		if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
			t.Fatal(err)
		}
	}

	keysOf := func() map[string][]string {
		out := map[string][]string{}
		err := st.Scan(nil, func(k, _ []byte) error {
			owner := "none"
			for _, l := range []Layer{base, overlay} {
				if bytes.Equal(k, layerKey(l.Descriptor.Digest)) {
					owner = l.Descriptor.Digest.String()
				}
				for _, p := range layerPrefixes(l.Descriptor.Digest) {
					if bytes.HasPrefix(k, p) {
						owner = l.Descriptor.Digest.String()
					}
				}
			}
			out[owner] = append(out[owner], string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	keys := keysOf()
	if n := len(keys["none"]); n > 0 {
		t.Fatalf("%d keys lie outside both layers' prefixes, such as %q", n, keys["none"][0])
	}
	for _, l := range []Layer{base, overlay} {
		if len(keys[l.Descriptor.Digest.String()]) == 0 {
			t.Fatalf("layer %s has no keys", l.Descriptor.Digest)
		}
	}

	if err := DropLayer(st, base.Descriptor.Digest); err != nil {
		t.Fatal(err)
	}
	keys = keysOf()
	if n := len(keys[base.Descriptor.Digest.String()]); n > 0 {
		t.Errorf("%d keys of the dropped layer remain, such as %q", n, keys[base.Descriptor.Digest.String()][0])
	}
	db, err := Open(st, nil, []ocispec.Descriptor{overlay.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range changed {
		got, err := db.Lookup(r.ID)
		if err != nil || len(got) != 1 || got[0].Summary != "changed overnight" {
			t.Fatalf("Lookup(%s) after dropping the base = %s, %v; want the overlay's record", r.ID, ids(got), err)
		}
	}
}

func TestEarlierLayoutKeysKeepsCurrentKeys(t *testing.T) {
	recs := genRecords(200, 5)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "layout test")
	if err != nil {
		t.Fatal(err)
	}
	st := pebbleKV(t)
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, st)

	ls := l.Descriptor.Digest.String()
	b := st.NewBatch()
	// Keys as index format 3 wrote them: the layer after the name.
	for _, k := range [][]byte{
		key(prefixAlias, "CVE-2024-0001", ls, "GHSA-0000-0000-0000"),
		key(prefixPkg, "npm", "left-pad", ls, "GHSA-0000-0000-0000"),
		key(prefixCPE, "zlib:zlib", ls, "CVE-2024-0001"),
	} {
		if err := b.Set(k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}

	if n, err := EarlierLayoutKeys(st, false); err != nil || n != 3 {
		t.Fatalf("EarlierLayoutKeys without removing = %d, %v; want the 3 keys of format 3", n, err)
	}
	if n, err := EarlierLayoutKeys(st, true); err != nil || n != 3 {
		t.Fatalf("EarlierLayoutKeys = %d, %v; want the 3 keys of format 3 removed", n, err)
	}
	if got := dump(t, st); got != before {
		t.Fatal("EarlierLayoutKeys changed the keys of the current layout")
	}
	if n, err := EarlierLayoutKeys(st, true); err != nil || n != 0 {
		t.Fatalf("second EarlierLayoutKeys = %d, %v; want nothing left to remove", n, err)
	}
}
