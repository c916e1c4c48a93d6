package cas

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A blob pushed while the host clock ran a year fast has a stored time in
// the future. Once the clock is set right, GC must still remove it when no
// kit uses it.
func TestGCRemovesGarbageStoredAheadOfClock(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	garbage := push(t, s, randomBytes(21, 1000), "")

	// Rewrite the stored time as a push a year ahead of the clock wrote it.
	m, err := s.meta(garbage.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m.Stored = time.Now().UTC().AddDate(1, 0, 0)
	raw, _ := json.Marshal(m)
	if err := s.db.Set(blobKey(garbage.Digest), raw, pebble.Sync); err != nil {
		t.Fatal(err)
	}

	rep, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, garbage); ok {
		t.Errorf("GC kept an unreferenced blob stored while the clock was ahead (report: removed %d, kept %d, kept kits %v)",
			rep.Removed, rep.Kept, rep.KeptKits)
	}
}

// A blob that a Push commits after GC started is not garbage yet, because
// the kit that uses it may not be active yet.
func TestGCKeepsBlobCommittedDuringGC(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	garbage := push(t, s, randomBytes(22, 1000), "")
	late := descOf(randomBytes(23, 1000), "")
	gcSnapshotTaken = func() {
		if err := s.Push(ctx, late, bytes.NewReader(randomBytes(23, 1000))); err != nil {
			t.Errorf("Push during GC: %v", err)
		}
	}
	t.Cleanup(func() { gcSnapshotTaken = nil })

	rep, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, late); !ok {
		t.Errorf("GC removed blob %s, which a Push committed while GC ran", late.Digest)
	}
	if ok, _ := s.Exists(ctx, garbage); ok {
		t.Errorf("GC kept unreferenced blob %s, stored before GC started", garbage.Digest)
	}
	if rep.Removed != 1 || rep.Kept != 1 {
		t.Errorf("report: removed %d, kept %d, want removed 1, kept 1", rep.Removed, rep.Kept)
	}
}

// A blob that GC found unreferenced, and that another goroutine deletes and
// pushes again before GC removes it, was committed while GC ran, so GC
// keeps it.
func TestGCKeepsBlobPushedAgainDuringGC(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	// More blobs than one removal batch, so the last one is removed in a
	// later batch than the first.
	data := map[digest.Digest][]byte{}
	var blobs []ocispec.Descriptor
	for i := range gcBatchBlobs + 1 {
		b := randomBytes(uint64(1000+i), 100)
		d := push(t, s, b, "")
		data[d.Digest] = b
		blobs = append(blobs, d)
	}
	// GC removes the blobs in the order of their keys.
	first, last := blobs[0], blobs[0]
	for _, d := range blobs {
		if d.Digest < first.Digest {
			first = d
		}
		if d.Digest > last.Digest {
			last = d
		}
	}

	pushedAgain := false
	opts := GCOptions{OnRemove: func(info BlobInfo) {
		if info.Digest != first.Digest {
			return
		}
		if err := s.Delete(ctx, last); err != nil {
			t.Errorf("Delete during GC: %v", err)
			return
		}
		if err := s.Push(ctx, last, bytes.NewReader(data[last.Digest])); err != nil {
			t.Errorf("Push during GC: %v", err)
			return
		}
		pushedAgain = true
	}}
	rep, err := s.GC(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !pushedAgain {
		t.Fatalf("setup: GC did not remove %s, so the blob was not pushed again", first.Digest)
	}
	if ok, _ := s.Exists(ctx, last); !ok {
		t.Errorf("GC removed blob %s, which was pushed again while GC ran", last.Digest)
	}
	if rep.Removed != len(blobs)-1 {
		t.Errorf("report: removed %d, want %d", rep.Removed, len(blobs)-1)
	}
}
