package layout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// largeLayerStore returns an index of one image whose single layer is
// about 1 MiB, far more than one read of io.Copy, and a store of its blobs. The
// layer sorts last in the tar, as data blobs do.
func largeLayerStore(t *testing.T) (ocispec.Index, mapStore, ocispec.Descriptor) {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := bytes.Repeat([]byte("large layer "), 1<<20/12)
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer,
		Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	manifest := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig,
			Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers: []ocispec.Descriptor{layerDesc},
	}
	manifest.SchemaVersion = 2
	mb := mustJSON(t, manifest)
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)),
	}}}
	index.SchemaVersion = 2
	store := mapStore{
		digest.FromBytes(mb):     mb,
		digest.FromBytes(config): config,
		layerDesc.Digest:         layer,
	}
	return index, store, layerDesc
}

// cancelOnBlobRead is a store that cancels a context on the first read
// of one blob, as a SIGINT that arrives while that blob is copied, and
// counts the bytes read from it.
type cancelOnBlobRead struct {
	mapStore
	target digest.Digest
	cancel context.CancelFunc
	read   *int64
}

func (s cancelOnBlobRead) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.mapStore.Fetch(ctx, d)
	if err != nil || d.Digest != s.target {
		return rc, err
	}
	return io.NopCloser(&cancellingReader{r: rc, cancel: s.cancel, read: s.read}), nil
}

type cancellingReader struct {
	r      io.Reader
	cancel context.CancelFunc
	read   *int64
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	c.cancel()
	n, err := c.r.Read(p)
	*c.read += int64(n)
	return n, err
}

func TestWriteTarCancelDuringLastBlob(t *testing.T) {
	index, store, layer := largeLayerStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var read int64
	src := cancelOnBlobRead{mapStore: store, target: layer.Digest, cancel: cancel, read: &read}

	err := WriteTar(ctx, io.Discard, index, src, TarOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteTar after a cancellation during the last blob: err = %v, want context.Canceled", err)
	}
	if read >= layer.Size {
		t.Errorf("WriteTar read all %d bytes of the layer after the cancellation", read)
	}
}

func TestWritePendingTarFileCancelLeavesNothing(t *testing.T) {
	index, store, layer := largeLayerStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var read int64
	src := cancelOnBlobRead{mapStore: store, target: layer.Digest, cancel: cancel, read: &read}
	dir := t.TempDir()

	pending, err := WritePendingTarFile(ctx, filepath.Join(dir, "kit.tar"), index, src, TarOptions{})
	if err == nil {
		pending.Discard()
		t.Fatal("WritePendingTarFile succeeded after a cancellation during the last blob")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 0 {
		t.Errorf("an interrupted write left %d files in the folder", len(names))
	}
}
