package importer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// imageKit builds a signed kit with an empty DB and one image whose two
// platforms carry layerSize bytes of random data each.
func (f *fixture) imageKit(layerSize int) []byte {
	f.t.Helper()
	return f.imageKitSizes(layerSize, layerSize)
}

// imageKitSizes builds a signed kit with an empty DB and one image whose
// linux/amd64 layer carries amd64Size bytes of random data and whose
// linux/arm64 layer carries arm64Size bytes.
func (f *fixture) imageKitSizes(amd64Size, arm64Size int) []byte {
	f.t.Helper()
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		p := filepath.Join(f.dir, "bin-"+platform[6:])
		data := make([]byte, []int{amd64Size, arm64Size}[i])
		rand.NewChaCha8([32]byte{byte(i + 7)}).Read(data)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			f.t.Fatal(err)
		}
		bins[platform] = p
	}

	imageDir := filepath.Join(f.dir, "space-image")
	ref := "registry.example.test/stella-ops/scanner:0.2.0"
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := layout.BuildDemoImage(context.Background(), bins, ref, created, imageDir); err != nil {
		f.t.Fatal(err)
	}

	out := filepath.Join(f.dir, "space-kit.tar")
	_, err := build.Build(context.Background(), build.Options{
		Output: out, Version: "2.0.0", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Signer: f.signer,
		Images: []build.Image{{Ref: ref, Path: imageDir}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// smallLayerFirst returns the kit raw with its layers under
// MaxManifestSize moved ahead of every other blob, so that the import
// stores them before the signed graph is known and the space check runs.
// A kit that `stella ouk build` writes has its layers last.
func smallLayerFirst(t *testing.T, raw []byte) []byte {
	t.Helper()
	isSmallLayer := func(e tarEntry) bool {
		return strings.HasPrefix(e.name, "blobs/") && len(e.data) >= 512<<10 && len(e.data) <= MaxManifestSize
	}
	entries := readTarEntries(t, raw)
	var layers, others []tarEntry
	for _, e := range entries {
		if isSmallLayer(e) {
			layers = append(layers, e)
		} else {
			others = append(others, e)
		}
	}
	if len(layers) == 0 {
		t.Fatal("the kit has no layer under MaxManifestSize")
	}
	at := slices.IndexFunc(others, func(e tarEntry) bool { return strings.HasPrefix(e.name, "blobs/") })
	ordered := slices.Concat(others[:at], layers, others[at:])
	return writeTarEntries(t, ordered)
}

// largeBlobCount counts the stored blobs larger than MaxManifestSize.
func (f *fixture) largeBlobCount() int {
	f.t.Helper()
	n := 0
	err := f.store.Blobs(context.Background(), func(b cas.BlobInfo) error {
		if b.Size > MaxManifestSize {
			n++
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// importWithFree imports raw as if the store's volume had free bytes.
func (f *fixture) importWithFree(raw []byte, free int64) error {
	opts := f.opts()
	opts.FreeSpace = func(string) (int64, error) { return free, nil }
	_, err := ImportStream(context.Background(), bytes.NewReader(raw), opts)
	return err
}

func TestSpaceCheckMessage(t *testing.T) {
	f := newFixture(t)
	err := f.importWithFree(f.imageKit(6<<20), 8<<20)
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Errorf("a full disk is reported as a kit over a size limit: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"8.0 MiB free",                  // the free space, in readable units
		"for the blobs the store lacks", // what the space is for
		"for the store's write-ahead log",
		f.store.Dir(),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not contain %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "8388608") {
		t.Errorf("message gives raw byte counts:\n%s", msg)
	}
}

func TestSpaceCheckGCAdviceOnEmptyStore(t *testing.T) {
	f := newFixture(t)
	err := f.importWithFree(f.imageKit(6<<20), 8<<20)
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "holds no blobs that `stella ouk gc` could remove") {
		t.Errorf("message on an empty store does not say that gc cannot help:\n%s", err)
	}
	if strings.Contains(err.Error(), "run `stella ouk gc`") {
		t.Errorf("message on an empty store tells the user to run gc:\n%s", err)
	}
}

// storeGarbage stores a blob of size bytes that no kit uses.
func (f *fixture) storeGarbage(size int) {
	f.t.Helper()
	stray := make([]byte, size)
	rand.NewChaCha8([32]byte{42}).Read(stray)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(stray), Size: int64(len(stray))}
	if err := f.store.Push(context.Background(), desc, bytes.NewReader(stray)); err != nil {
		f.t.Fatal(err)
	}
}

func TestSpaceCheckGCAdviceWithGarbage(t *testing.T) {
	f := newFixture(t)
	f.storeGarbage(32 << 20)
	err := f.importWithFree(f.imageKit(6<<20), 8<<20)
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "run `stella ouk gc`, which would remove 32.0 MiB") {
		t.Errorf("message does not offer gc for the 32 MiB it can remove:\n%s", err)
	}
}

func TestSpaceCheckGCAdviceTooLittleGarbage(t *testing.T) {
	f := newFixture(t)
	f.storeGarbage(3 << 20)
	err := f.importWithFree(f.imageKit(6<<20), 8<<20)
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "`stella ouk gc` would remove only 3.0 MiB") {
		t.Errorf("message does not say that gc frees too little:\n%s", err)
	}
	if strings.Contains(err.Error(), "run `stella ouk gc`") {
		t.Errorf("message offers gc as the fix although it frees too little:\n%s", err)
	}
}

func TestSpaceMarginScalesWithKit(t *testing.T) {
	// The two 6 MiB layers need 12 MiB and a margin of 8 MiB plus the same
	// 12 MiB, so 34 MiB free is enough. A fixed 64 MiB margin rejected such
	// a kit on a volume with three times its size free.
	f := newFixture(t)
	if err := f.importWithFree(f.imageKit(6<<20), 34<<20); err != nil {
		t.Fatalf("import of a 12 MiB kit with 34 MiB free: %v", err)
	}
}

func TestSpaceMargin(t *testing.T) {
	for _, tc := range []struct {
		newBytes, want int64
	}{
		{0, 8 << 20},
		{12 << 20, 20 << 20},
		{64 << 20, 72 << 20},
		{10 << 30, 72 << 20},
	} {
		if got := spaceMargin(tc.newBytes); got != tc.want {
			t.Errorf("spaceMargin(%d) = %d, want %d", tc.newBytes, got, tc.want)
		}
	}
}

func TestSpaceCheckRemovesStoredBlobs(t *testing.T) {
	f := newFixture(t)
	before, err := f.store.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	// The 1 MiB layer comes first, so the import stores it before the
	// check.
	raw := smallLayerFirst(t, f.imageKitSizes(6<<20, 1<<20))
	err = f.importWithFree(raw, 8<<20)
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("err = %v, want errdef.ErrDiskFull", err)
	}
	// 6 MiB and 1 MiB of layers, plus a few KiB of manifests and configs.
	if !strings.Contains(err.Error(), "7.0 MiB for the blobs the store lacks") {
		t.Errorf("message does not count the blobs the import stored before the check:\n%s", err)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after the rejected import, want 0", n)
	}

	// Reopening for writing replays the write-ahead log, so the size
	// counts what the import left in it too.
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	f.store, err = cas.Open(f.store.Dir(), cas.Options{})
	if err != nil {
		t.Fatalf("reopening the store after the rejected import: %v", err)
	}
	t.Cleanup(func() { f.store.Close() })
	after, err := f.store.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's new MANIFEST, log and tombstone tables take a few KiB.
	if grown := after - before; grown > 64<<10 {
		t.Errorf("store grew by %d bytes after the rejected import, want at most 64 KiB", grown)
	}

	if err := f.importWithFree(raw, 64<<20); err != nil {
		t.Fatalf("import with enough free space after the rejection: %v", err)
	}
	if n := f.largeBlobCount(); n != 1 {
		t.Errorf("store holds %d blobs over 4 MiB after the retry, want 1", n)
	}
}

func TestSpaceCheckCountsOnlyWhatRemains(t *testing.T) {
	f := newFixture(t)
	// As in TestSpaceCheckRemovesStoredBlobs, the 1 MiB layer is stored
	// before the check. What remains to write is 6 MiB of blobs and a
	// margin of 8 MiB plus those 6 MiB, about 20 MiB, which fits. Counting
	// the stored layer again, in the blobs and the margin, would ask for
	// about 22 MiB.
	raw := smallLayerFirst(t, f.imageKitSizes(6<<20, 1<<20))
	if err := f.importWithFree(raw, 20<<20+512<<10); err != nil {
		t.Fatalf("import with room for what remains to write: %v", err)
	}
}
