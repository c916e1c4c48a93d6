package vulndb

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/kv"
)

// indexedPebbleStore opens a Pebble store in a temporary folder and indexes
// one layer of n records into its lookup index.
func indexedPebbleStore(t *testing.T, n int) (*cas.Store, kv.Store, *Layer) {
	t.Helper()
	s, err := cas.Open(t.TempDir(), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := s.KV("vulndb")
	recs := genRecords(n, 7)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "drop test")
	if err != nil {
		t.Fatal(err)
	}
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	return s, st, &l
}

func countKeys(t *testing.T, st kv.Store) int {
	t.Helper()
	n := 0
	if err := st.Scan(nil, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func diskUsage(t *testing.T, s *cas.Store) int64 {
	t.Helper()
	s.WaitForFileDeletions(context.Background())
	size, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	return size
}

func TestCompactDroppedLayersFreesSpace(t *testing.T) {
	s, st, l := indexedPebbleStore(t, 5000)
	indexed := diskUsage(t, s)
	layer := l.Descriptor.Digest

	if err := DropLayer(st, layer); err != nil {
		t.Fatal(err)
	}
	if got, _ := IndexedLayers(st); len(got) != 0 {
		t.Errorf("IndexedLayers = %v after DropLayer, want none", got)
	}
	// Only the mark that the ranges await compaction is left.
	if n := countKeys(t, st); n != 1 {
		t.Errorf("%d keys after DropLayer, want the dropped mark alone", n)
	}
	if _, err := st.Get(droppedKey(layer)); err != nil {
		t.Errorf("DropLayer left no dropped mark: %v", err)
	}

	n, err := CompactDroppedLayers(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("CompactDroppedLayers compacted %d layers, want 1", n)
	}
	if n := countKeys(t, st); n != 0 {
		t.Errorf("%d keys after CompactDroppedLayers, want none", n)
	}
	if after := diskUsage(t, s); after > indexed/4 {
		t.Errorf("store has %d bytes after dropping and compacting its only layer, %d with the layer indexed", after, indexed)
	}
	if n, err := CompactDroppedLayers(context.Background(), st); err != nil || n != 0 {
		t.Errorf("second CompactDroppedLayers = %d, %v; want 0, nil", n, err)
	}
}

// TestCompactDroppedLayersKeepsIndexedAgain checks that compacting the
// ranges of a layer that an import indexed again after DropLayer keeps the
// new keys.
func TestCompactDroppedLayersKeepsIndexedAgain(t *testing.T) {
	_, st, l := indexedPebbleStore(t, 200)
	want := countKeys(t, st)
	if err := DropLayer(st, l.Descriptor.Digest); err != nil {
		t.Fatal(err)
	}
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	// The dropped mark is the one key more.
	if got := countKeys(t, st); got != want+1 {
		t.Errorf("%d keys after indexing a dropped layer again, want %d", got, want+1)
	}
	if _, err := CompactDroppedLayers(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, st); got != want {
		t.Errorf("%d keys after compacting a layer indexed again, want %d", got, want)
	}
	if ok, err := IsIndexed(st, l.Descriptor.Digest); err != nil || !ok {
		t.Errorf("IsIndexed = %v, %v after compacting a layer indexed again; want true", ok, err)
	}
}

// TestCompactDroppedLayersStopsOnCancel checks that a compaction whose
// context ends, as on Ctrl-C, keeps the dropped mark, so that the next
// call compacts the layer.
func TestCompactDroppedLayersStopsOnCancel(t *testing.T) {
	_, st, l := indexedPebbleStore(t, 200)
	layer := l.Descriptor.Digest
	if err := DropLayer(st, layer); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := CompactDroppedLayers(ctx, st)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CompactDroppedLayers with an ended context = %v, want context.Canceled", err)
	}
	if n != 0 {
		t.Errorf("CompactDroppedLayers with an ended context compacted %d layers, want 0", n)
	}
	if _, err := st.Get(droppedKey(layer)); err != nil {
		t.Errorf("stopped compaction removed the dropped mark: %v", err)
	}

	n, err = CompactDroppedLayers(context.Background(), st)
	if err != nil || n != 1 {
		t.Errorf("CompactDroppedLayers after a stopped one = %d, %v; want 1, nil", n, err)
	}
	if got := countKeys(t, st); got != 0 {
		t.Errorf("%d keys after the compaction finished, want none", got)
	}
}
