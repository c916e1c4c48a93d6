package delta

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// Summary is what Peek reads from a kit: enough to order kits and deltas
// without importing them. Nothing in it is verified.
type Summary struct {
	Digest      digest.Digest `json:"digest"`
	Version     string        `json:"version"`
	Sequence    int64         `json:"sequence"`
	Kind        string        `json:"kind"`
	BaseDigest  digest.Digest `json:"baseDigest,omitempty"`
	BaseVersion string        `json:"baseVersion,omitempty"`
	// Expires is the expiry time of the bundle index, or the zero time
	// when the kit does not expire.
	Expires time.Time `json:"expires,omitzero"`
}

// Peek reads the version, sequence, kind and base of a kit file or layout
// folder. From a file it reads only up to the bundle index, which a kit
// written by stella stores among its first entries. Nothing is verified:
// import checks everything again.
func Peek(ctx context.Context, path string) (*Summary, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	if info.IsDir() {
		k, err := OpenKit(ctx, path)
		if err != nil {
			return nil, err
		}
		defer k.Close()
		return summarize(ctx, k.Storage, k.Index, k.Bundle, k.Meta)
	}
	return peekFile(ctx, path)
}

func peekFile(ctx context.Context, path string) (*Summary, error) {
	f, err := layout.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	tr, err := layout.NewTarReader(f, layout.Limits{})
	if err != nil {
		return nil, fmt.Errorf("reading kit %s: %w", path, err)
	}
	defer tr.Close()
	var index *ocispec.Index
	var bundle ocispec.Descriptor
	// Small blobs before index.json are kept, so that a kit whose tar
	// puts index.json after its manifests, as other tools may, still
	// gives its bundle index.
	early := map[digest.Digest][]byte{}
	var earlyBytes int64
	summary := func(raw []byte) (*Summary, error) {
		_, meta, err := oci.ParseBundleIndex(raw)
		if err != nil {
			return nil, fmt.Errorf("kit %s: %w", path, err)
		}
		return summarize(ctx, nil, *index, bundle, meta)
	}
	for {
		e, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("kit %s ends before its bundle index: %w", path, errdef.ErrInvalidKit)
		}
		if err != nil {
			return nil, fmt.Errorf("reading kit %s: %w", path, err)
		}
		switch {
		case e.Kind == layout.IndexJSON:
			idx, err := readIndex(e.Reader)
			if err != nil {
				return nil, fmt.Errorf("kit %s: %w", path, err)
			}
			if bundle, err = bundleEntry(idx, layout.DamagedIndexAdvice); err != nil {
				return nil, fmt.Errorf("kit %s: %w", path, err)
			}
			index = &idx
			if raw, ok := early[bundle.Digest]; ok {
				return summary(raw)
			}
			early = nil
		case e.Kind == layout.Blob && index != nil && e.Digest == bundle.Digest:
			if e.Size > maxManifestSize {
				return nil, fmt.Errorf("bundle index of %s is %d bytes, over the %d byte limit: %w",
					path, e.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
			}
			raw, err := io.ReadAll(e.Reader)
			if err != nil {
				return nil, fmt.Errorf("reading kit %s: %w", path, err)
			}
			return summary(raw)
		case e.Kind == layout.Blob && index == nil && e.Size <= maxManifestSize && earlyBytes+e.Size <= maxEarlyBytes:
			raw, err := io.ReadAll(e.Reader)
			if err != nil {
				return nil, fmt.Errorf("reading kit %s: %w", path, err)
			}
			early[e.Digest] = raw
			earlyBytes += int64(len(raw))
		case e.Kind == layout.Blob:
			tr.SkipBlob()
		}
	}
}

// maxEarlyBytes bounds the small blobs Peek keeps while it has not read
// index.json yet.
const maxEarlyBytes = 16 << 20

// summarize returns the summary of a kit. The base of a delta comes from
// its delta manifest when src holds it, else from the annotations of the
// manifest's index.json entry. An entry without them, as oras writes it,
// still marks the kit as a delta. A layout folder that carries every blob
// its delta manifest omits is a full kit. src is nil for a kit file, whose
// blobs Peek does not read. Import checks at the end of such a file
// whether it carried the omitted blobs.
func summarize(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, bundle ocispec.Descriptor, meta oci.Meta) (*Summary, error) {
	s := &Summary{Digest: bundle.Digest, Version: meta.Version, Sequence: meta.Sequence, Kind: meta.Kind,
		Expires: meta.Expires}
	if meta.Kind == oci.KindDelta {
		s.BaseDigest, s.BaseVersion = digest.Digest(meta.BaseDigest), meta.BaseVersion
	}
	found, err := findBase(ctx, src, index)
	if err != nil {
		return nil, err
	}
	if found.carried || !slices.ContainsFunc(index.Manifests, IsDeltaEntry) {
		return s, nil
	}
	s.Kind = oci.KindDelta
	if found.named {
		s.BaseDigest, s.BaseVersion = found.base, found.version
	}
	return s, nil
}
