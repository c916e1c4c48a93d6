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
		// GC removes what the interrupted push left.
		if _, err := s.GC(context.Background(), GCOptions{}); err != nil {
			t.Fatal(err)
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
