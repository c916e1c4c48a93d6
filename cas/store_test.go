package cas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

func openTest(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func descOf(b []byte, mediaType string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func push(t *testing.T, s *Store, b []byte, mediaType string) ocispec.Descriptor {
	t.Helper()
	desc := descOf(b, mediaType)
	if err := s.Push(context.Background(), desc, bytes.NewReader(b)); err != nil {
		t.Fatalf("Push(%s): %v", desc.Digest, err)
	}
	return desc
}

func fetchAll(t *testing.T, s *Store, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := s.Fetch(context.Background(), desc)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", desc.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", desc.Digest, err)
	}
	return b
}

func TestPushFetchMultiChunk(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 64 << 10})
	data := randomBytes(1, 20<<20+12345)
	desc := push(t, s, data, "application/octet-stream")

	got := fetchAll(t, s, desc)
	if !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes differ from the %d pushed", len(got), len(data))
	}
	info, err := s.Stat(context.Background(), desc.Digest)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != desc.Size {
		t.Errorf("Stat size = %d, want %d", info.Size, desc.Size)
	}
	if info.MediaType != "" {
		t.Errorf("Stat media type = %q, want empty for a non-manifest", info.MediaType)
	}
}

func TestPushEmptyBlob(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	desc := push(t, s, nil, "")
	if got := fetchAll(t, s, desc); len(got) != 0 {
		t.Fatalf("fetched %d bytes, want 0", len(got))
	}
}

func TestPushSHA512(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 1000})
	data := randomBytes(2, 5000)
	desc := ocispec.Descriptor{Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatalf("Push sha512: %v", err)
	}
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatal("fetched sha512 blob differs")
	}
}

func assertAbsent(t *testing.T, s *Store, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	ok, err := s.Exists(ctx, ocispec.Descriptor{Digest: d})
	if err != nil {
		t.Fatalf("Exists: %v", err)
	}
	if ok {
		t.Errorf("blob %s is visible", d)
	}
	if _, err := s.Fetch(ctx, ocispec.Descriptor{Digest: d}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Fetch error = %v, want ErrNotFound", err)
	}
	if leftover, err := s.hasPrefix(chunkPrefix(d)); err != nil || leftover {
		t.Errorf("chunks of %s left behind (err %v)", d, err)
	}
}

func TestPushDigestMismatch(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 1024})
	data := randomBytes(3, 100_000)
	desc := descOf(data, "")
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 0xff

	err := s.Push(context.Background(), desc, bytes.NewReader(bad))
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("Push error = %v, want ErrDigestMismatch", err)
	}
	assertAbsent(t, s, desc.Digest)
}

func TestPushSizeMismatch(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 1024})
	data := randomBytes(4, 10_000)
	desc := descOf(data, "")

	err := s.Push(context.Background(), desc, bytes.NewReader(data[:5000]))
	if !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Errorf("short Push error = %v, want ErrSizeMismatch", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short Push error = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
	assertAbsent(t, s, desc.Digest)

	long := append(bytes.Clone(data), 'x')
	err = s.Push(context.Background(), desc, bytes.NewReader(long))
	if !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Errorf("long Push error = %v, want ErrSizeMismatch", err)
	}
	assertAbsent(t, s, desc.Digest)
}

func TestPushAlreadyExists(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	data := []byte("hello")
	desc := push(t, s, data, "")
	err := s.Push(context.Background(), desc, bytes.NewReader(data))
	if !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("second Push error = %v, want ErrAlreadyExists", err)
	}
	// A failed second push must not damage the stored blob.
	err = s.Push(context.Background(), desc, bytes.NewReader([]byte("jello")))
	if !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("Push of other bytes error = %v, want ErrAlreadyExists", err)
	}
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatalf("blob changed to %q", got)
	}
}

func TestPushConcurrent(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 4096})
	var blobs [][]byte
	for i := range 16 {
		// Blobs 8..15 repeat blobs 0..7, so the same digest races too.
		blobs = append(blobs, randomBytes(uint64(100+i%8), 50_000+i%8))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(blobs))
	for i, b := range blobs {
		wg.Go(func() {
			errs[i] = s.Push(context.Background(), descOf(b, ""), bytes.NewReader(b))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Errorf("Push %d: %v", i, err)
		}
	}
	for _, b := range blobs {
		if got := fetchAll(t, s, descOf(b, "")); !bytes.Equal(got, b) {
			t.Errorf("blob %s differs after concurrent pushes", digest.FromBytes(b))
		}
	}
}

func TestDelete(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{ChunkSize: 100})
	desc := push(t, s, randomBytes(5, 1000), "")
	if err := s.Delete(context.Background(), desc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertAbsent(t, s, desc.Digest)
	if err := s.Delete(context.Background(), desc); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("second Delete error = %v, want ErrNotFound", err)
	}
}

func TestDeleteLargeBlobFreesSpace(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	before, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	// A blob over ingestThreshold goes into an sstable of its own.
	desc := push(t, s, randomBytes(14, 2<<20), "")
	if err := s.Delete(context.Background(), desc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Pebble's new MANIFEST, log and tombstone tables take a few KiB.
	// Pebble removes the compacted table in the background, so the
	// check waits for that, up to a bound far above its usual few
	// milliseconds.
	var grown int64
	for range 200 {
		after, err := s.DiskUsage()
		if err != nil {
			t.Fatal(err)
		}
		if grown = after - before; grown <= 64<<10 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if grown > 64<<10 {
		t.Errorf("store grew by %d bytes after a 2 MiB blob was pushed and deleted, want at most 64 KiB", grown)
	}
	report, err := s.GC(context.Background(), GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if report.LeftoverRemoved != 0 {
		t.Errorf("GC finds %d removed blobs left to compact, want 0", report.LeftoverRemoved)
	}
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ChunkSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(6, 12_345)
	desc := push(t, s, data, "")
	if err := s.Activate(context.Background(), KitRecord{Digest: desc.Digest, Version: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Reopen with another chunk size: the blob keeps its own.
	s = openTest(t, dir, Options{ChunkSize: 4096})
	if got := fetchAll(t, s, desc); !bytes.Equal(got, data) {
		t.Fatal("blob differs after reopen")
	}
	active, err := s.Active(context.Background())
	if err != nil {
		t.Fatalf("Active after reopen: %v", err)
	}
	if active.Digest != desc.Digest {
		t.Errorf("active digest = %s, want %s", active.Digest, desc.Digest)
	}
}

func TestBlobsAndDiskUsage(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	want := map[digest.Digest]bool{}
	for i := range 3 {
		want[push(t, s, randomBytes(uint64(10+i), 100), "").Digest] = true
	}
	got := map[digest.Digest]bool{}
	err := s.Blobs(context.Background(), func(info BlobInfo) error {
		got[info.Digest] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("Blobs listed %d blobs, want %d", len(got), len(want))
	}
	for d := range want {
		if !got[d] {
			t.Errorf("Blobs missed %s", d)
		}
	}
	usage, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if usage <= 0 {
		t.Errorf("DiskUsage = %d, want > 0", usage)
	}
	if s.Metrics() == "" {
		t.Error("Metrics is empty")
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{ChunkSize: -1}); err == nil {
		t.Error("Open accepted a negative chunk size")
	}
	if _, err := Open(t.TempDir(), Options{ChunkSize: MaxChunkSize + 1}); err == nil {
		t.Error("Open accepted a chunk size above the maximum")
	}
}

func TestOpenCacheSize(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{CacheSize: 16 << 20})
	if got := s.opts.CacheSize; got != 16<<20 {
		t.Fatalf("block cache of a store opened with CacheSize 16 MiB is %d bytes", got)
	}
	d := openTest(t, t.TempDir(), Options{})
	if got := d.opts.CacheSize; got != blockCacheSize {
		t.Fatalf("default block cache is %d bytes, want %d", got, blockCacheSize)
	}
	if err := (Options{CacheSize: -1}).Validate(); err == nil {
		t.Fatal("Validate accepts a negative block cache size")
	}
}
