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
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
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
	bundle    ocispec.Descriptor
	bundleIdx ocispec.Index
	meta      oci.Meta
	// referrers are the manifests in index.json whose subject is the bundle
	// index, such as its signatures, but not a delta manifest.
	referrers []kitReferrer
	// base is the base kit when the kit is a delta, else nil.
	base *deltaBase
	// damagedTag is the error of an index that index.json lists under the
	// referrers tag of the bundle and that could not be read or decoded,
	// or nil. Its signatures are then missing from referrers.
	damagedTag error
}

// kitReferrer is a referrer manifest of a kit and the manifest it is
// attached to.
type kitReferrer struct {
	desc         ocispec.Descriptor
	subject      ocispec.Descriptor
	artifactType string
}

// signatureCount returns how many signatures of the bundle index the kit
// carries.
func (r *kitRoots) signatureCount() int {
	n := 0
	for _, ref := range r.referrers {
		if ref.subject.Digest == r.bundle.Digest && ref.artifactType == oci.MediaTypeSigstoreBundle {
			n++
		}
	}
	return n
}

// findRoots picks the bundle index and its referrers out of a layout's
// index.json.
func findRoots(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (*kitRoots, error) {
	var roots *kitRoots
	// notBundle records the image indexes, by digest and size, that are
	// not a bundle index, so that one that index.json lists many times is
	// read once. A bundle index listed twice still counts twice.
	type sizedDigest struct {
		digest digest.Digest
		size   int64
	}
	notBundle := make(map[sizedDigest]bool)
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || notBundle[sizedDigest{d.Digest, d.Size}] {
			continue
		}
		b, err := fetchManifest(ctx, src, d)
		if err != nil && layout.IsReferrersTagEntry(d) {
			// A referrers tag index is not the bundle index, and
			// readReferrers reads only the one tagged for the bundle
			// index, so an unreadable one does not stop the push.
			continue
		}
		if err != nil {
			return nil, err
		}
		idx, meta, err := oci.ParseBundleIndex(b)
		if err != nil {
			notBundle[sizedDigest{d.Digest, d.Size}] = true
			continue
		}
		if roots != nil {
			return nil, oci.MultipleKitsError(2, []string{roots.meta.Version, meta.Version})
		}
		bundle := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: oci.ArtifactTypeBundle}
		roots = &kitRoots{bundle: bundle, bundleIdx: idx, meta: meta}
	}
	if roots == nil {
		return nil, fmt.Errorf("index.json lists no bundle index of artifact type %s: %w", oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	}
	base, ok, err := findDeltaBase(ctx, src, index, roots.meta)
	if err != nil {
		return nil, err
	}
	if ok {
		roots.base = &base
	}
	candidates, damagedTag, err := readReferrers(ctx, src, index, roots.bundle.Digest)
	if err != nil {
		return nil, err
	}
	roots.damagedTag = damagedTag
	// A delta manifest stays behind, and so do its signatures, whose
	// subject it is. The registry holds the complete kit once the push
	// is done, so a delta manifest there would only make every copy of
	// the kit, such as one by `oras cp -r`, look like a delta.
	for _, c := range candidates {
		if c.subject.Digest == roots.bundle.Digest && c.artifactType != delta.ArtifactType {
			c.subject = roots.bundle
			roots.referrers = append(roots.referrers, c)
		}
	}
	return roots, nil
}

// readReferrers returns the image manifests in index.json that have a
// subject, with their artifact type: the manifest's artifactType, else its
// config media type, as the referrers API reports it. It also returns the
// signature manifests that an image index in index.json lists under the
// referrers tag schema name of bundle (sha256-<hex>), as in a layout folder
// that `regctl image copy --referrers` wrote. A tag index that cannot be
// read or decoded is skipped, which leaves the kit without those
// signatures, and damagedTag is its error. The tags of other digests are not
// read.
func readReferrers(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index,
	bundle digest.Digest) (refs []kitReferrer, damagedTag, err error) {
	var out []kitReferrer
	seen := map[digest.Digest]bool{}
	add := func(d ocispec.Descriptor) error {
		if d.MediaType != ocispec.MediaTypeImageManifest || seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		ref, ok, err := readReferrer(ctx, src, d)
		if ok {
			out = append(out, ref)
		}
		return err
	}
	for _, d := range index.Manifests {
		if err := add(d); err != nil {
			return nil, nil, err
		}
	}
	for _, d := range layout.ReferrersTagEntries(index, bundle) {
		b, err := fetchManifest(ctx, src, d)
		if err != nil {
			if damagedTag == nil {
				damagedTag = fmt.Errorf("index %s, tagged %s: %w", d.Digest, layout.ReferrersTag(bundle), err)
			}
			continue
		}
		tagged, err := layout.ParseReferrersTagIndex(b)
		if err != nil {
			if damagedTag == nil {
				damagedTag = fmt.Errorf("index %s, tagged %s: %w", d.Digest, layout.ReferrersTag(bundle), err)
			}
			continue
		}
		for _, t := range tagged {
			if err := add(t); err != nil {
				return nil, nil, err
			}
		}
	}
	return out, damagedTag, nil
}

// readReferrer reads the image manifest d and returns it as a referrer,
// or ok false when it has no subject.
func readReferrer(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) (ref kitReferrer, ok bool, err error) {
	b, err := fetchManifest(ctx, src, d)
	if err != nil {
		return kitReferrer{}, false, err
	}
	var m ocispec.Manifest
	if json.Unmarshal(b, &m) != nil || m.Subject == nil {
		return kitReferrer{}, false, nil
	}
	artifactType := m.ArtifactType
	if artifactType == "" {
		artifactType = m.Config.MediaType
	}
	desc := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: artifactType}
	return kitReferrer{desc: desc, subject: *m.Subject, artifactType: artifactType}, true, nil
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
