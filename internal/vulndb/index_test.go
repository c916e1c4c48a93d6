package vulndb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

func TestIDFilterNoFalseNegatives(t *testing.T) {
	var in []string
	for i := range 20000 {
		in = append(in, fmt.Sprintf("GHSA-%04x-test-%d", i, i))
	}
	f, err := parseIDFilter(newIDFilter(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range in {
		if !f.mayContain(id) {
			t.Fatalf("filter lacks %s, which it was built from", id)
		}
	}
	falsePositives := 0
	for i := range 100000 {
		if f.mayContain(fmt.Sprintf("CVE-2099-%d", i)) {
			falsePositives++
		}
	}
	// 16 bits per key give about 0.05%; 0.5% leaves room for chance.
	if falsePositives > 500 {
		t.Errorf("%d false positives in 100000 absent IDs, want at most 500", falsePositives)
	}
}

func TestIDFilterHashStable(t *testing.T) {
	// Filters are stored in the index, so the hash must not change without
	// a new indexFormat.
	h1, h2 := filterHash("CVE-2021-23337")
	if h1 != 0x4c93c06b || h2 != 0x2cf075bf {
		t.Errorf("filterHash = %#x, %#x; changing it needs a new indexFormat", h1, h2)
	}
}

func TestParseIDFilterRejectsMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {filterProbes}, {0, 0xff}, {200, 0xff}} {
		if _, err := parseIDFilter(b); err == nil {
			t.Errorf("parseIDFilter(%x) accepted a malformed filter", b)
		}
	}
}

func TestOldIndexFormatNotIndexed(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedOSV, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers[0]
	store := kv.NewMemory()
	// An index written by the first layout: marker "1" and no ID filter.
	b := store.NewBatch()
	b.Set(layerKey(l.Descriptor.Digest), []byte("1"))
	b.Set(recKey(l.Descriptor.Digest, "A-1"), []byte(`{"id":"A-1","modified":"2024-01-01T00:00:00Z"}`))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsIndexed(store, l.Descriptor.Digest); ok || err != nil {
		t.Fatalf("IsIndexed on an old-format index = %v, %v; want false", ok, err)
	}
	if _, err := Open(store, res.Config, []ocispec.Descriptor{l.Descriptor}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open over an old-format index: err = %v, want ErrNotFound", err)
	}

	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := IsIndexed(store, l.Descriptor.Digest); !ok {
		t.Fatal("layer not indexed after IndexLayer")
	}
	db, err := Open(store, res.Config, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.LookupPURL("pkg:npm/a@1.0.0"); err != nil || ids(got) != "A-1" {
		t.Errorf("LookupPURL after re-indexing = %q, %v; want A-1", ids(got), err)
	}
}

// TestOverlayMovesRecordToOtherPackage runs on the in-memory store, which scans one prefix at a time,
// and on the Pebble store, which scans the layers on one iterator.
func TestOverlayMovesRecordToOtherPackage(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOverlayMovesRecordToOtherPackage(t, kv.NewMemory()) })
	t.Run("pebble", func(t *testing.T) { testOverlayMovesRecordToOtherPackage(t, pebbleKV(t)) })
}

func testOverlayMovesRecordToOtherPackage(t *testing.T, store kv.Store) {
	dir := t.TempDir()
	writeFile(t, dir, "B-1.json", `{"id":"B-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"b"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`)
	feeds := []Feed{{Kind: FeedOSV, Path: dir}}
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	old := openBuilt(t, store, base, blobs)

	writeFile(t, dir, "B-1.json", `{"id":"B-1","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"c"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`)
	next, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated.Add(time.Hour),
		Base: previous(base, blobs)})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, store, next, blobs)

	if got, err := db.LookupPURL("pkg:pypi/b@1.0"); err != nil || len(got) != 0 {
		t.Errorf("new stack: b@1.0 = %q, %v; want none", ids(got), err)
	}
	if got, err := db.LookupPURL("pkg:pypi/c@1.0"); err != nil || ids(got) != "B-1" {
		t.Errorf("new stack: c@1.0 = %q, %v; want B-1", ids(got), err)
	}
	if got, err := db.LookupPURL("pkg:pypi/c@2.0"); err != nil || len(got) != 0 {
		t.Errorf("new stack: c@2.0 = %q, %v; want none", ids(got), err)
	}
	if got, err := old.LookupPURL("pkg:pypi/b@1.0"); err != nil || ids(got) != "B-1" {
		t.Errorf("old stack: b@1.0 = %q, %v; want B-1", ids(got), err)
	}
}

func TestPkgValueRoundTrip(t *testing.T) {
	in := []pkgAffected{
		{Ecosystem: "Debian:12", Versions: []string{"1.0-1", "1.0-2"}},
		{Ecosystem: "PyPI", Ranges: []pkgRange{
			{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: "2.0"}}},
			{Type: "SEMVER", Events: []Event{{Introduced: "1.0.0"}, {LastAffected: "1.2.0"}, {Limit: "1.5.0"}}},
		}},
		{Ecosystem: "npm"},
	}
	got, err := decodePkgValue(encodePkgValue(in))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(in) {
		t.Errorf("decoded %v, want %v", got, in)
	}
	b := encodePkgValue(in)
	for n := range len(b) {
		if _, err := decodePkgValue(b[:n]); err == nil {
			t.Errorf("decodePkgValue accepted a value cut to %d of %d bytes", n, len(b))
		}
	}
}

func TestNewPkgAffectedDropsGitRanges(t *testing.T) {
	a := Affected{Package: Package{Ecosystem: "Go", Name: "x"}, Ranges: []Range{
		{Type: "GIT", Repo: "https://example.com/x", Events: []Event{{Introduced: "abc"}}},
		{Type: "SEMVER", Events: []Event{{Introduced: "0"}}},
	}}
	p := newPkgAffected(&a)
	if len(p.Ranges) != 1 || p.Ranges[0].Type != "SEMVER" {
		t.Errorf("ranges = %+v, want the SEMVER range only", p.Ranges)
	}
}

// TestFilterHashIsFNV1a pins the filter hash to FNV-1a: filters are stored
// in the index, so a change of hash would make every stored filter report
// "no" for IDs it contains.
func TestFilterHashIsFNV1a(t *testing.T) {
	for _, id := range []string{"", "GHSA-35jh-r3h4-6jhm", "CVE-2023-4863", "é"} {
		h := fnv.New64a()
		h.Write([]byte(id))
		x := h.Sum64()
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		x *= 0xc4ceb9fe1a85ec53
		x ^= x >> 33
		h1, h2 := filterHash(id)
		if h1 != uint32(x) || h2 != uint32(x>>32)|1 {
			t.Errorf("filterHash(%q) = %d, %d; FNV-1a gives %d, %d", id, h1, h2, uint32(x), uint32(x>>32)|1)
		}
	}
}

// TestFormatThreeIndexedAgain checks that a layer indexed by format 3,
// which put the layer after the alias, package or CPE, counts as not
// indexed, and that lookups find it once it is indexed again.
func TestFormatThreeIndexedAgain(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-0001"],"affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedOSV, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers[0]
	ls := l.Descriptor.Digest.String()
	store := pebbleKV(t)
	b := store.NewBatch()
	for _, k := range [][]byte{
		layerKey(l.Descriptor.Digest),
		key(prefixAlias, "A-1", ls, "CVE-2024-0001"),
		key(prefixPkg, "npm", "a", ls, "CVE-2024-0001"),
	} {
		if err := b.Set(k, []byte("3")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsIndexed(store, l.Descriptor.Digest); ok || err != nil {
		t.Fatalf("IsIndexed on a format-3 index = %v, %v; want false", ok, err)
	}
	if n, err := EarlierLayoutKeys(store, true); err != nil || n != 0 {
		t.Fatalf("EarlierLayoutKeys with a layer still in format 3 = %d, %v; want the keys kept", n, err)
	}

	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(store, res.Config, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	// The build names the merged record by its CVE alias.
	if got, err := db.Lookup("a-1"); err != nil || ids(got) != "CVE-2024-0001" {
		t.Errorf("Lookup(a-1) = %s, %v; want CVE-2024-0001", ids(got), err)
	}
	if got, err := db.LookupPURL("pkg:npm/a@1.0.0"); err != nil || ids(got) != "CVE-2024-0001" {
		t.Errorf("LookupPURL(pkg:npm/a@1.0.0) = %s, %v; want CVE-2024-0001", ids(got), err)
	}
	if n, err := EarlierLayoutKeys(store, true); err != nil || n != 2 {
		t.Errorf("EarlierLayoutKeys = %d, %v; want the 2 keys of format 3", n, err)
	}
}

func TestEarlierLayoutKeysRemovesManyInBatches(t *testing.T) {
	store := kv.NewMemory()
	b := store.NewBatch()
	want := indexBatchKeys + 50
	for i := range want {
		if err := b.Set(key(prefixPkg, "npm", fmt.Sprintf("p%05d", i), "sha256:"+strings.Repeat("0", 64), "A-1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if n, err := EarlierLayoutKeys(store, true); err != nil || n != want {
		t.Fatalf("EarlierLayoutKeys = %d, %v; want %d", n, err, want)
	}
	left := 0
	if err := store.Scan(nil, func(_, _ []byte) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d keys of an earlier layout remain", left)
	}
}

// TestReadLayerReusesDecoder checks that reading layers one after the
// other reuses the zstd decoder, whose window buffers a fresh one
// allocates for every layer.
func TestReadLayerReusesDecoder(t *testing.T) {
	l, err := newLayer([]Record{{ID: "A-1"}, {ID: "A-2"}}, LayerBase, "npm", "t")
	if err != nil {
		t.Fatal(err)
	}
	read := func() {
		if err := readLayer(bytes.NewReader(l.Data), func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if allocs := testing.AllocsPerRun(50, read); allocs > 8 {
		t.Errorf("reading a small layer allocated %v times per read, want at most 8", allocs)
	}
}
