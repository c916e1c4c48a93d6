package cas

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

func TestActivateHistory(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	if _, err := s.Active(ctx); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("Active on an empty store error = %v, want ErrNotFound", err)
	}
	hist, err := s.History(ctx)
	if err != nil || len(hist) != 0 {
		t.Fatalf("History on an empty store = %v, %v; want empty", hist, err)
	}

	var kits []digest.Digest
	for i, version := range []string{"1.0", "1.1", "1.0"} {
		var d digest.Digest
		if i == 2 {
			d = kits[0] // rollback to the first kit
		} else {
			d = push(t, s, []byte("kit "+version), "").Digest
		}
		kits = append(kits, d)
		if err := s.Activate(ctx, KitRecord{Digest: d, Version: version, Sequence: int64(i)}); err != nil {
			t.Fatalf("Activate %s: %v", version, err)
		}
	}

	active, err := s.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if active.Digest != kits[2] || active.Sequence != 2 {
		t.Errorf("Active = %+v, want the third activation", active)
	}
	if active.At.IsZero() {
		t.Error("Activate left At zero")
	}
	hist, err = s.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 {
		t.Fatalf("History has %d entries, want 3", len(hist))
	}
	for i, want := range []int64{2, 1, 0} {
		if hist[i].Sequence != want {
			t.Errorf("History[%d].Sequence = %d, want %d (newest first)", i, hist[i].Sequence, want)
		}
	}

	missing := digest.FromString("not stored")
	if err := s.Activate(ctx, KitRecord{Digest: missing}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Activate(absent kit) error = %v, want ErrNotFound", err)
	}
}

// pushKit stores a graph and returns it; its index is the kit digest.
func pushKit(t *testing.T, s *Store, seed uint64) *testGraph {
	t.Helper()
	g := buildGraph(t, seed)
	g.pushAll(t, s)
	return g
}

func exists(t *testing.T, s *Store, desc ocispec.Descriptor) bool {
	t.Helper()
	ok, err := s.Exists(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestGCKeepsReachable(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 512})
	ctx := context.Background()
	var kits []*testGraph
	for i := range 4 {
		g := pushKit(t, s, uint64(1000*(i+1)))
		kits = append(kits, g)
		if err := s.Activate(ctx, KitRecord{Digest: g.index.Digest, Sequence: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	stray := push(t, s, randomBytes(99, 4000), "")
	// Chunks without metadata, as a crash during Push leaves them.
	orphan := digest.FromString("orphan")
	if err := s.db.Set(chunkKey(orphan, 0), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}

	var removed []digest.Digest
	rep, err := s.GC(ctx, GCOptions{KeepHistory: 1, OnRemove: func(b BlobInfo) { removed = append(removed, b.Digest) }})
	if err != nil {
		t.Fatalf("GC: %v", err)
	}

	// Active (kits[3]) and one more history kit (kits[2]) stay, with their
	// layers, config and signature referrer.
	for _, g := range kits[2:] {
		for _, blob := range g.blobs {
			if !exists(t, s, blob.desc) {
				t.Errorf("GC removed %s of a kept kit", blob.desc.Digest)
			}
		}
	}
	for _, g := range kits[:2] {
		for _, d := range []ocispec.Descriptor{g.index, g.manifest, g.layer1, g.referrer, g.sigLayer} {
			if exists(t, s, d) {
				t.Errorf("GC kept %s of an old kit", d.Digest)
			}
		}
	}
	if exists(t, s, stray) {
		t.Error("GC kept an unreachable blob")
	}
	if leftover, _ := s.hasPrefix(chunkPrefix(orphan)); leftover {
		t.Error("GC kept orphan chunks")
	}
	if rep.Removed != len(removed) || rep.Removed != 2*7+1 {
		t.Errorf("GC removed %d blobs (OnRemove saw %d), want 15: 7 per old kit and the stray blob", rep.Removed, len(removed))
	}
	if len(rep.KeptKits) != 2 || rep.KeptKits[0] != kits[3].index.Digest {
		t.Errorf("KeptKits = %v, want active then one history kit", rep.KeptKits)
	}
}

func TestGCDryRun(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	stray := push(t, s, []byte("stray"), "")
	rep, err := s.GC(context.Background(), GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || rep.BytesRemoved != stray.Size {
		t.Errorf("dry run report = %+v, want one blob of %d bytes", rep, stray.Size)
	}
	if !exists(t, s, stray) {
		t.Error("dry run removed a blob")
	}
}

func TestLeaseKeepsKitThroughGC(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	old := pushKit(t, s, 1)
	if err := s.Activate(ctx, KitRecord{Digest: old.index.Digest}); err != nil {
		t.Fatal(err)
	}
	release, err := s.Pin(ctx, old.index.Digest, "scan-1")
	if err != nil {
		t.Fatal(err)
	}
	newer := pushKit(t, s, 2)
	if err := s.Activate(ctx, KitRecord{Digest: newer.index.Digest}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.GC(ctx, GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}
	for _, blob := range old.blobs {
		if !exists(t, s, blob.desc) {
			t.Fatalf("GC removed %s of the leased kit", blob.desc.Digest)
		}
	}

	release()
	release() // harmless twice
	if _, err := s.GC(ctx, GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}
	if exists(t, s, old.layer1) {
		t.Error("GC kept the old kit after its lease was released")
	}
	if !exists(t, s, newer.layer1) {
		t.Error("GC removed the active kit")
	}
}

func TestStaleLeaseIgnored(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	kit := pushKit(t, s, 3)
	if _, err := s.Pin(ctx, kit.index.Digest, "crashed"); err != nil {
		t.Fatal(err)
	}
	// Age the lease as if its holder crashed long ago.
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano)
	if err := s.db.Set(leaseKey(kit.index.Digest, "crashed"), []byte(old), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if exists(t, s, kit.index) {
		t.Error("GC honoured a stale lease")
	}
	if found, _ := s.hasPrefix(leasePrefix(kit.index.Digest)); found {
		t.Error("GC left the stale lease")
	}
}

func TestGCKeepsTagged(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	kit := pushKit(t, s, 4)
	if err := s.Tag(ctx, kit.index, "mirror"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, blob := range kit.blobs {
		if !exists(t, s, blob.desc) {
			t.Errorf("GC removed %s of a tagged kit", blob.desc.Digest)
		}
	}
}

// TestGCSkipsRemovedHistory checks that kits an earlier gc removed take no
// place among the history kits a later gc keeps.
func TestGCSkipsRemovedHistory(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 512})
	ctx := context.Background()
	var kits []*testGraph
	activate := func(i int) { kits = append(kits, pushAndActivate(t, s, i)) }
	activate(0)
	activate(1)
	activate(2)
	if _, err := s.GC(ctx, GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}
	activate(3)
	// History, newest first: 3 (active), 2, then 1 and 0, both removed.
	// With --keep 2, kit 2 is kept and the removed kits fill no place.
	rep, err := s.GC(ctx, GCOptions{KeepHistory: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := rep.KeptKits
	if len(kept) != 2 || kept[0] != kits[3].index.Digest || kept[1] != kits[2].index.Digest {
		t.Errorf("kept kits %v, want the active kit and kit 2 only", kept)
	}
}

// TestGCSkipsPartlyStoredHistory checks that a removed kit whose blobs an
// interrupted import stored again in part takes no place among the kept
// history kits.
func TestGCSkipsPartlyStoredHistory(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 512})
	ctx := context.Background()
	var kits []*testGraph
	activate := func(i int) { kits = append(kits, pushAndActivate(t, s, i)) }
	activate(0)
	activate(1)
	if _, err := s.GC(ctx, GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}
	// An interrupted import of kit 0 stores its manifests again, but not
	// its first layer.
	for _, b := range kits[0].blobs {
		if b.desc.Digest == kits[0].layer1.Digest {
			continue
		}
		desc := b.desc
		desc.MediaType = ""
		if err := s.Push(ctx, desc, bytesReader(b.data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Fatal(err)
		}
	}
	activate(2)

	for i, want := range []bool{false, true, true} {
		complete, err := s.KitComplete(ctx, kits[i].index.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if complete != want {
			t.Errorf("KitComplete(kit %d) = %v, want %v", i, complete, want)
		}
	}
	// History, newest first: 2 (active), 1, then 0, stored in part.
	rep, err := s.GC(ctx, GCOptions{KeepHistory: 3, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	keptKits := rep.KeptKits
	if len(keptKits) != 2 || keptKits[0] != kits[2].index.Digest || keptKits[1] != kits[1].index.Digest {
		t.Errorf("kept kits %v, want the active kit and kit 1 only", keptKits)
	}
}

// pushAndActivate stores kit i of a test history and activates it with
// sequence i.
func pushAndActivate(t *testing.T, s *Store, i int) *testGraph {
	t.Helper()
	g := pushKit(t, s, uint64(1000*(i+1)))
	if err := s.Activate(context.Background(), KitRecord{Digest: g.index.Digest, Sequence: int64(i)}); err != nil {
		t.Fatal(err)
	}
	return g
}
