package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// maxManifestSize is the largest manifest or index read into memory.
const maxManifestSize = 4 << 20

// Docker media types that images in a kit may still use.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
		mediaTypeDockerManifest, mediaTypeDockerManifestList:
		return true
	}
	return false
}

// sniffManifest returns the media type of b when b is a JSON manifest or
// image index, and "" otherwise.
func sniffManifest(b []byte) string {
	if len(b) == 0 || b[0] != '{' {
		return ""
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &probe) != nil || !isManifest(probe.MediaType) {
		return ""
	}
	return probe.MediaType
}

// fetchManifest reads a manifest of at most maxManifestSize bytes.
func fetchManifest(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > maxManifestSize || d.Size < 0 {
		return nil, fmt.Errorf("manifest %s declares %d bytes, over the %d byte limit: %w",
			d.Digest, d.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	b, err := content.FetchAll(ctx, src, d)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	return b, nil
}

// kitRoots are the parts of a kit that a push publishes.
type kitRoots struct {
	bundle     ocispec.Descriptor
	bundleIdx  ocispec.Index
	meta       oci.Meta
	signatures []ocispec.Descriptor
}

// findRoots picks the bundle index and its signature referrers out of a
// layout's index.json.
func findRoots(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (*kitRoots, error) {
	var roots *kitRoots
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		b, err := fetchManifest(ctx, src, d)
		if err != nil {
			return nil, err
		}
		idx, meta, err := oci.ParseBundleIndex(b)
		if err != nil {
			continue
		}
		if roots != nil {
			return nil, fmt.Errorf("index.json lists more than one bundle index, but a kit contains exactly one: %w", errdef.ErrInvalidKit)
		}
		bundle := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: oci.ArtifactTypeBundle}
		roots = &kitRoots{bundle: bundle, bundleIdx: idx, meta: meta}
	}
	if roots == nil {
		return nil, fmt.Errorf("index.json lists no bundle index of artifact type %s: %w", oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	}
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		b, err := fetchManifest(ctx, src, d)
		if err != nil {
			return nil, err
		}
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) == nil && m.Subject != nil && m.Subject.Digest == roots.bundle.Digest {
			roots.signatures = append(roots.signatures, d)
		}
	}
	return roots, nil
}

// memoryStorage holds manifests read from a tar stream. Every other blob is
// already in the registry, so a Fetch miss is fine: the copy checks the
// destination first and skips what it holds.
type memoryStorage struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
}

func (m *memoryStorage) put(d digest.Digest, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs == nil {
		m.blobs = make(map[digest.Digest][]byte)
	}
	m.blobs[d] = b
}

func (m *memoryStorage) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memoryStorage) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[d.Digest]
	return ok, nil
}
