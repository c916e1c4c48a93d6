package cas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// crashingReader passes data through and, once at least at bytes were read,
// takes a crash clone of fs: the state a power loss at that moment leaves.
type crashingReader struct {
	r     io.Reader
	read  int
	at    int
	fs    *vfs.MemFS
	rng   *rand.Rand
	clone *vfs.MemFS
}

func (c *crashingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.clone == nil && c.read >= c.at {
		c.clone = c.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: c.rng.IntN(101), RNG: c.rng})
	}
	return n, err
}

// checkAfterCrash opens the crash clone and checks that desc is either
// fully readable or absent, and reports whether it is present.
func checkAfterCrash(t *testing.T, fs *vfs.MemFS, desc ocispec.Descriptor, data []byte) bool {
	t.Helper()
	s, err := Open("/store", Options{fs: fs})
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer s.Close()
	ok, err := s.Exists(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		if _, err := s.Fetch(context.Background(), desc); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("Fetch of an absent blob after crash: %v", err)
		}
		// GC removes what the interrupted push left, and counts it.
		had, err := s.hasPrefix(chunkPrefix(desc.Digest))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.GC(context.Background(), GCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if had && (rep.LeftoverRemoved != 1 || rep.LeftoverBytes <= 0) {
			t.Errorf("GC after an interrupted push counted %d leftovers of %d bytes, want 1 with its bytes",
				rep.LeftoverRemoved, rep.LeftoverBytes)
		}
		if leftover, _ := s.hasPrefix(chunkPrefix(desc.Digest)); leftover {
			t.Error("GC kept chunks of the interrupted push")
		}
		return false
	}
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatalf("blob is visible after crash but its %d bytes differ", len(got))
	}
	return true
}

func TestCrashDuringPush(t *testing.T) {
	data := randomBytes(42, 3<<20)
	desc := descOf(data, "")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, at := range []int{1, 64 << 10, 1 << 20, 2 << 20, len(data)} {
		fs := vfs.NewCrashableMem()
		s, err := Open("/store", Options{fs: fs, ChunkSize: 32 << 10})
		if err != nil {
			t.Fatal(err)
		}
		r := &crashingReader{r: bytes.NewReader(data), at: at, fs: fs, rng: rng}
		if err := s.Push(context.Background(), desc, r); err != nil {
			t.Fatalf("Push: %v", err)
		}
		// A crash right after Push returns must keep the blob.
		after := fs.CrashClone(vfs.CrashCloneCfg{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		checkAfterCrash(t, r.clone, desc, data)
		if !checkAfterCrash(t, after, desc, data) {
			t.Errorf("crash after Push returned lost the blob (crash point %d)", at)
		}
	}
}

func TestGCAfterCrashBeforeCompaction(t *testing.T) {
	data := randomBytes(7, 2<<20)
	desc := descOf(data, "")
	fs := vfs.NewCrashableMem()
	s, err := Open("/store", Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// The blob is in no kit, so GC removes it. The crash comes after
	// the removal is committed and before its range is compacted.
	var clone *vfs.MemFS
	gcCommitted = func() { clone = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}) }
	t.Cleanup(func() { gcCommitted = nil })
	if _, err := s.GC(context.Background(), GCOptions{}); err != nil {
		t.Fatal(err)
	}
	gcCommitted = nil
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if clone == nil {
		t.Fatal("GC removed no blob")
	}

	s2, err := Open("/store", Options{fs: clone})
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer s2.Close()
	dry, err := s2.GC(context.Background(), GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.LeftoverRemoved != 1 || dry.LeftoverBytes != desc.Size {
		t.Errorf("dry run counted %d leftovers of %d bytes, want 1 of %d", dry.LeftoverRemoved, dry.LeftoverBytes, desc.Size)
	}
	rep, err := s2.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 0 {
		t.Errorf("second GC removed %d blobs, want 0 since the first removed them", rep.Removed)
	}
	if rep.LeftoverRemoved != 1 || rep.LeftoverBytes != desc.Size {
		t.Errorf("second GC counted %d leftovers of %d bytes, want 1 of %d", rep.LeftoverRemoved, rep.LeftoverBytes, desc.Size)
	}
	again, err := s2.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.LeftoverRemoved != 0 {
		t.Errorf("third GC counted %d leftovers, want 0", again.LeftoverRemoved)
	}
}
