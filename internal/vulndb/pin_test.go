package vulndb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// pinRecord is an OSV advisory for npm package pin-pkg below fixed.
func pinRecord(id, fixed string) string {
	return fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":"2026-01-01T00:00:00Z",
"published":"2026-01-01T00:00:00Z","summary":"Advisory %s",
"affected":[{"package":{"ecosystem":"npm","name":"pin-pkg"},
"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`, id, id, fixed)
}

// buildPinKit builds an unsigned kit whose DB holds one record.
func buildPinKit(t *testing.T, dir, name string, seq int64, record string) string {
	t.Helper()
	feed := filepath.Join(dir, name+"-feed")
	if err := os.MkdirAll(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(feed, "record.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".tar")
	_, err := build.Build(context.Background(), build.Options{Output: out, Version: name, Sequence: seq,
		Feeds:   []vulndb.Feed{{Kind: vulndb.FeedOSV, Path: feed}},
		Created: time.Date(2026, 1, int(seq), 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func importKit(ctx context.Context, store *cas.Store, path string) (*importer.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return importer.ImportStream(ctx, f, importer.Options{Store: store, InsecureSkipSignature: true})
}

func fetchBlob(ctx context.Context, t *testing.T, store *cas.Store, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := store.Fetch(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openKitDB opens the DB of the kit with bundle digest d, as a lookup does.
func openKitDB(ctx context.Context, t *testing.T, store *cas.Store, d digest.Digest) (*vulndb.DB, []ocispec.Descriptor) {
	t.Helper()
	info, err := store.Stat(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	raw := fetchBlob(ctx, t, store, ocispec.Descriptor{Digest: d, Size: info.Size})
	idx, _, err := oci.ParseBundleIndex(raw)
	if err != nil {
		t.Fatal(err)
	}
	dbDesc, ok := oci.Child(idx, oci.RoleDB)
	if !ok {
		t.Fatal("kit has no DB")
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(fetchBlob(ctx, t, store, dbDesc), &m); err != nil {
		t.Fatal(err)
	}
	config := fetchBlob(ctx, t, store, m.Config)
	db, err := vulndb.Open(store.KV(importer.VulnDBNamespace), config, m.Layers)
	if err != nil {
		t.Fatal(err)
	}
	return db, m.Layers
}

// checkKitA asserts that db returns kit A's lookup results.
func checkKitA(db *vulndb.DB) error {
	recs, err := db.LookupPURL("pkg:npm/pin-pkg@2.5.0")
	if err != nil {
		return err
	}
	if len(recs) != 0 {
		return fmt.Errorf("pin-pkg 2.5.0 is fixed in kit A, but lookup found %s", recs[0].ID)
	}
	recs, err = db.LookupPURL("pkg:npm/pin-pkg@1.0.0")
	if err != nil {
		return err
	}
	if len(recs) != 1 || recs[0].ID != "STELLA-PIN-A" {
		return fmt.Errorf("pin-pkg 1.0.0 in kit A: %d records, want STELLA-PIN-A", len(recs))
	}
	if _, err := db.Lookup("STELLA-PIN-B"); !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("kit A's DB finds kit B's record: %v", err)
	}
	return nil
}

// TestPinnedDBSurvivesImportAndGC opens kit A's DB under a pin, imports kit
// B and runs gc while lookups go on. A's DB must keep returning A's results,
// and A's own layers may go only after the pin is released. gc keeps no
// history (KeepHistory -1), so only the pin protects kit A.
func TestPinnedDBSurvivesImportAndGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kitA := buildPinKit(t, dir, "a", 1, pinRecord("STELLA-PIN-A", "2.0.0"))
	kitB := buildPinKit(t, dir, "b", 2, pinRecord("STELLA-PIN-B", "3.0.0"))

	store, err := cas.Open(filepath.Join(dir, "store"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	resA, err := importKit(ctx, store, kitA)
	if err != nil {
		t.Fatal(err)
	}
	digestA := digest.Digest(resA.Digest)
	release, err := store.Pin(ctx, digestA, "pin-test")
	if err != nil {
		t.Fatal(err)
	}
	dbA, layersA := openKitDB(ctx, t, store, digestA)
	if err := checkKitA(dbA); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		if _, err := importKit(ctx, store, kitB); err != nil {
			done <- fmt.Errorf("importing kit B: %w", err)
			return
		}
		_, err := store.GC(ctx, cas.GCOptions{KeepHistory: -1})
		done <- err
	}()
	lookups := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		if err := checkKitA(dbA); err != nil {
			t.Fatalf("after %d lookups during import and gc: %v", lookups, err)
		}
		lookups++
	}
	// Kit B is active now. A's DB still returns A's results, from a fresh
	// Open too.
	if active, err := store.Active(ctx); err != nil || active.Version != "b" {
		t.Fatalf("active kit = %+v, %v; want b", active, err)
	}
	if err := checkKitA(dbA); err != nil {
		t.Fatalf("after import and gc: %v", err)
	}
	dbA2, _ := openKitDB(ctx, t, store, digestA)
	if err := checkKitA(dbA2); err != nil {
		t.Fatalf("reopened after gc: %v", err)
	}
	t.Logf("%d lookups on kit A ran during the import of kit B and gc", lookups)

	_, layersB := openKitDB(ctx, t, store, digest.Digest(mustActive(ctx, t, store)))
	inB := map[digest.Digest]bool{}
	for _, l := range layersB {
		inB[l.Digest] = true
	}
	release()
	if _, err := store.GC(ctx, cas.GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}
	unique := 0
	for _, l := range layersA {
		if inB[l.Digest] {
			continue
		}
		unique++
		ok, err := store.Exists(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("layer %s of kit A survived gc after the pin was released", l.Digest)
		}
	}
	if unique == 0 {
		t.Fatal("kit A has no layer of its own; the test kits must differ")
	}
}

func mustActive(ctx context.Context, t *testing.T, store *cas.Store) string {
	t.Helper()
	a, err := store.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return a.Digest.String()
}
