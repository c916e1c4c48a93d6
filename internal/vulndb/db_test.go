package vulndb

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// openBuilt indexes every layer of res into store and opens the stack.
func openBuilt(t testing.TB, store kv.Store, res *BuildResult, blobs map[string][]byte) *DB {
	t.Helper()
	var descs []ocispec.Descriptor
	for _, l := range res.Layers {
		data := l.Data
		if data == nil {
			data = blobs[l.Descriptor.Digest.String()]
		}
		if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, l.Descriptor)
	}
	db, err := Open(store, res.Config, descs)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func ids(recs []Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestLookupRealRecords(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)

	for _, id := range []string{"GHSA-35jh-r3h4-6jhm", "CVE-2021-23337", "ghsa-35jh-r3h4-6jhm"} {
		recs, err := db.Lookup(id)
		if err != nil {
			t.Errorf("Lookup(%s): %v", id, err)
			continue
		}
		if got := ids(recs); got != "CVE-2021-23337" {
			t.Errorf("Lookup(%s) = %s, want CVE-2021-23337", id, got)
		}
	}
	if _, err := db.Lookup("CVE-1999-0001"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Lookup of an absent ID: err = %v, want ErrNotFound", err)
	}

	cases := []struct{ purl, want string }{
		{"pkg:npm/lodash@4.17.20", "CVE-2021-23337"},
		{"pkg:npm/lodash@4.17.21", ""},
		{"pkg:npm/lodash-es@4.17.15", "CVE-2021-23337"},
		{"pkg:npm/lodash", "CVE-2021-23337"},
		{"pkg:golang/github.com/gin-gonic/gin@1.5.0", "CVE-2020-36567"},
		{"pkg:golang/github.com/gin-gonic/gin@1.6.0", ""},
		{"pkg:cargo/smallvec@1.6.0", "CVE-2021-25900"},
		{"pkg:maven/org.springframework.boot/spring-boot@1.5.9.RELEASE", "CVE-2018-1196"},
		{"pkg:maven/org.springframework.boot/spring-boot@1.5.10.RELEASE", ""},
		{"pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7", "CVE-2014-3616"},
		{"pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-12", ""},
		{"pkg:deb/debian/nginx@1.2.1-2.2+wheezy3?distro=debian-7", ""},
		{"pkg:apk/alpine/openssl@1.0.2o-r0?distro=alpine-3.8.1", "CVE-2018-5407"},
		{"pkg:apk/alpine/openssl@1.0.2q-r0?distro=alpine-3.8.1", ""},
	}
	for _, c := range cases {
		recs, err := db.LookupPURL(c.purl)
		if err != nil {
			t.Errorf("LookupPURL(%s): %v", c.purl, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupPURL(%s) = %q, want %q", c.purl, got, c.want)
		}
	}

	cpes := []struct{ cpe, want string }{
		{"cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*", "CVE-2023-4863"},
		{"cpe:2.3:a:webmproject:libwebp:1.3.2:*:*:*:*:*:*:*", ""},
		{"cpe:/a:webmproject:libwebp:1.3.1", "CVE-2023-4863"},
		{"cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:node.js:*:*", "CVE-2021-23337"},
		{"cpe:2.3:a:lodash:lodash:4.17.21:*:*:*:*:node.js:*:*", ""},
	}
	for _, c := range cpes {
		recs, err := db.LookupCPE(c.cpe)
		if err != nil {
			t.Errorf("LookupCPE(%s): %v", c.cpe, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupCPE(%s) = %q, want %q", c.cpe, got, c.want)
		}
	}
	if _, err := db.LookupCPE("libwebp"); err == nil {
		t.Error("LookupCPE of a non-CPE succeeded")
	}

	st := db.Status()
	if st.Records != res.Summary.Records || len(st.Layers) != len(res.Layers) || st.Created != testCreated {
		t.Errorf("status = %+v", st)
	}
	if db.Records() != res.Summary.Records {
		t.Errorf("Records() = %d, want %d", db.Records(), res.Summary.Records)
	}
}

// TestOverlayWinsInLookup runs on the in-memory store, which scans one prefix at a time,
// and on the Pebble store, which scans the layers on one iterator.
func TestOverlayWinsInLookup(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOverlayWinsInLookup(t, kv.NewMemory()) })
	t.Run("pebble", func(t *testing.T) { testOverlayWinsInLookup(t, pebbleKV(t)) })
}

func testOverlayWinsInLookup(t *testing.T, store kv.Store) {
	dir := t.TempDir()
	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-0001"],"affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	writeFile(t, dir, "A-2.json", `{"id":"A-2","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	feeds := []Feed{{Kind: FeedOSV, Path: dir}}
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	old := openBuilt(t, store, base, blobs)

	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.1"]}]}`)
	writeFile(t, dir, "A-2.json", `{"id":"A-2","modified":"2024-02-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}`)
	next, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated.Add(time.Hour),
		Base: previous(base, blobs)})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, store, next, blobs)

	if got, _ := db.LookupPURL("pkg:npm/a@1.0.0"); len(got) != 0 {
		t.Errorf("new stack: a@1.0.0 = %s, want none", ids(got))
	}
	if got, _ := db.LookupPURL("pkg:npm/a@1.0.1"); ids(got) != "CVE-2024-0001" && ids(got) != "A-1" {
		t.Errorf("new stack: a@1.0.1 = %s, want A-1", ids(got))
	}
	if _, err := db.Lookup("A-2"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("withdrawn A-2 still found: %v", err)
	}
	// The old stack still returns results from its own layers.
	if got, _ := old.LookupPURL("pkg:npm/a@1.0.0"); len(got) != 2 {
		t.Errorf("old stack: a@1.0.0 = %s, want both records", ids(got))
	}
}

func TestIndexLayerRejectsTamperedBytes(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers[0]
	bad := bytes.Clone(l.Data)
	bad[len(bad)-1] ^= 0xff
	store := kv.NewMemory()
	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(bad)); err == nil {
		t.Fatal("IndexLayer accepted tampered bytes")
	}
	if ok, _ := IsIndexed(store, l.Descriptor.Digest); ok {
		t.Error("tampered layer marked indexed")
	}
	if _, err := Open(store, res.Config, []ocispec.Descriptor{l.Descriptor}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open over an unindexed layer: err = %v, want ErrNotFound", err)
	}
}

func TestDropLayer(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	store := kv.NewMemory()
	openBuilt(t, store, res, nil)
	for _, l := range res.Layers {
		if err := DropLayer(store, l.Descriptor.Digest); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	store.Scan(nil, func(k, _ []byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d keys left after dropping every layer", n)
	}
}

func TestIndexLayerIdempotent(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	store := kv.NewMemory()
	count := func() int {
		n := 0
		store.Scan(nil, func(k, _ []byte) error { n++; return nil })
		return n
	}
	l := res.Layers[0]
	for i := 0; i < 2; i++ {
		if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
			t.Fatal(err)
		}
	}
	first := count()
	if err := IndexLayer(context.Background(), store, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != first {
		t.Errorf("keys after indexing again = %d, want %d", got, first)
	}
	if ok, _ := IsIndexed(store, l.Descriptor.Digest); !ok {
		t.Error("layer not marked indexed")
	}
}

func TestIndexedLayersFindsLayerWithoutMarker(t *testing.T) {
	feeds := []Feed{{Kind: FeedOSV, Path: filepath.Join("..", "..", "testdata", "feeds", "osv")}}
	res, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	store := kv.NewMemory()
	openBuilt(t, store, res, nil)
	var want []digest.Digest
	for _, l := range res.Layers {
		want = append(want, l.Descriptor.Digest)
	}
	got, err := IndexedLayers(store)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("IndexedLayers = %v, want %v", got, want)
	}

	// A DropLayer cut short after the marker leaves the other keys.
	l := want[0]
	b := store.NewBatch()
	if err := b.Delete(layerKey(l)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if got, _ := IndexedLayers(store); !slices.Contains(got, l) {
		t.Errorf("IndexedLayers = %v lacks %s, whose keys remain without a marker", got, l)
	}
	if err := DropLayer(store, l); err != nil {
		t.Fatal(err)
	}
	if got, _ := IndexedLayers(store); slices.Contains(got, l) {
		t.Errorf("IndexedLayers = %v lists %s after DropLayer", got, l)
	}
}
