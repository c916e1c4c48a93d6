package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// smallLayerSize is the size of the layers of the kits in these tests:
// about 3 MiB, as a DB layer is, and under MaxManifestSize, so no blob of
// the kit is large.
const smallLayerSize = 3 << 20

// checkSpaceRejection fails the test unless err is the space check's
// rejection and the store holds no blob of the kit.
func (f *fixture) checkSpaceRejection(err error) {
	f.t.Helper()
	if !errors.Is(err, errdef.ErrDiskFull) {
		f.t.Fatalf("import of a kit of about 6 MiB with 1 MiB free: err = %v, want errdef.ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "for the blobs the store lacks") {
		f.t.Errorf("error is not the space check's message:\n%s", err)
	}
	if n := f.blobCount(); n != 0 {
		f.t.Errorf("store holds %d blobs after the space check rejected the kit, want 0", n)
	}
}

func TestSpaceCheckSmallBlobStream(t *testing.T) {
	f := newFixture(t)
	f.checkSpaceRejection(f.importWithFree(f.imageKit(smallLayerSize), 1<<20))
}

func TestSpaceCheckSmallBlobFolder(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.imageKit(smallLayerSize), dir)

	var read int64
	opts := f.opts()
	opts.FreeSpace = func(string) (int64, error) { return 1 << 20, nil }
	opts.Progress = func(p Progress) { read = p.BytesRead }
	_, err := ImportDir(context.Background(), dir, opts)
	f.checkSpaceRejection(err)
	if read >= smallLayerSize {
		t.Errorf("the import read %d bytes, a layer included, before the space check", read)
	}
}

// fetchRecorder is a kit source, such as a registry, that records the
// blobs read from it.
type fetchRecorder struct {
	content.ReadOnlyStorage
	fetched []ocispec.Descriptor
}

func (r *fetchRecorder) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	r.fetched = append(r.fetched, d)
	return r.ReadOnlyStorage.Fetch(ctx, d)
}

// layersFetched counts the blobs of at least smallLayerSize read from r.
func (r *fetchRecorder) layersFetched() int {
	n := 0
	for _, d := range r.fetched {
		if d.Size >= smallLayerSize {
			n++
		}
	}
	return n
}

// An import from a source other than a layout folder, as from a registry,
// runs the space check before it reads any layer.
func TestSpaceCheckSmallBlobSource(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.imageKit(smallLayerSize), dir)
	index, folder, err := layout.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}

	src := &fetchRecorder{ReadOnlyStorage: folder}
	opts := f.opts()
	opts.FreeSpace = func(string) (int64, error) { return 1 << 20, nil }
	_, err = ImportFrom(context.Background(), src, index, opts)
	f.checkSpaceRejection(err)
	if n := src.layersFetched(); n != 0 {
		t.Errorf("the import read %d layers from the source before the space check", n)
	}

	src = &fetchRecorder{ReadOnlyStorage: folder}
	opts.FreeSpace = func(string) (int64, error) { return 64 << 20, nil }
	if _, err := ImportFrom(context.Background(), src, index, opts); err != nil {
		t.Fatalf("import with enough free space: %v", err)
	}
	if n := src.layersFetched(); n != 2 {
		t.Errorf("the import read %d layers from the source, want 2", n)
	}
}

// withFileSizeLimit runs fn while this process may write files of at most
// limit bytes, so that a longer write fails with EFBIG, as a write to a
// full volume fails with ENOSPC. The process survives the SIGXFSZ that
// such a write raises, because the Go runtime catches that signal.
func withFileSizeLimit(t *testing.T, limit uint64, fn func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur != unix.RLIM_INFINITY && old.Cur < limit {
		t.Skipf("the file size limit is %d bytes already, under the %d the test sets", old.Cur, limit)
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restoring the file size limit: %v", err)
		}
	}()
	fn()
}

// A write that finds no room after the space check passed removes the
// blobs the import stored, as the space check does, so that they do not
// take the room that opening the store needs.
func TestDiskFullRemovesStoredBlobs(t *testing.T) {
	f := newFixture(t)
	raw := f.imageKit(smallLayerSize)

	// The table of each layer is about 3 MiB, so its write fails, and the
	// manifests, configs and signatures stored before it fit.
	var err error
	withFileSizeLimit(t, 1<<20, func() {
		_, err = ImportStream(context.Background(), bytes.NewReader(raw), f.opts())
	})
	if !errors.Is(err, errdef.ErrDiskFull) {
		t.Fatalf("import under a 1 MiB file size limit: err = %v, want errdef.ErrDiskFull", err)
	}
	if strings.Contains(err.Error(), "for the blobs the store lacks") {
		t.Fatalf("the space check rejected the kit, so no write found the volume full:\n%s", err)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after the write found no room, want 0", n)
	}

	if _, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts()); err != nil {
		t.Fatalf("import without the limit: %v", err)
	}
}
