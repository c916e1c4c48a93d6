package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// maxManifestSize bounds the manifests and indexes a walk decodes.
const maxManifestSize = 4 << 20

// Kit is a kit opened for reading: its index.json, its bundle index and a
// storage of its blobs. A kit that is itself a delta lacks the blobs its
// base supplies.
type Kit struct {
	// Index is the kit's index.json.
	Index ocispec.Index
	// Bundle is the bundle index descriptor from index.json.
	Bundle ocispec.Descriptor
	// BundleBytes are the bytes of the bundle index.
	BundleBytes []byte
	// BundleIndex is the decoded bundle index.
	BundleIndex ocispec.Index
	// Meta is the kit metadata from the bundle index annotations.
	Meta oci.Meta
	// Storage serves the kit's blobs.
	Storage content.ReadOnlyStorage
	closer  io.Closer
	// dir is the layout folder of the kit, or "" for a kit file.
	dir string
}

// OpenKit opens a kit file (plain, gzip or zstd tar) or an OCI image layout
// folder. A compressed file is decompressed to an unlinked temporary file so
// that blobs can be served by offset; call Close to release it.
func OpenKit(ctx context.Context, path string) (*Kit, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	if info.IsDir() {
		index, src, err := layout.OpenDir(path)
		if err != nil {
			return nil, fmt.Errorf("opening kit folder %s: %w", path, err)
		}
		k, err := fromStorage(ctx, src, index, layout.DamagedFolderIndexAdvice, path)
		if err != nil {
			return nil, err
		}
		k.dir = path
		return k, nil
	}
	index, err := readIndexJSON(path)
	if err != nil {
		return nil, err
	}
	bundle, err := bundleEntry(index, layout.DamagedIndexAdvice)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", path, err)
	}
	// LoadImage serves every blob of the archive, not only the named image.
	_, src, err := layout.LoadImage(ctx, path, "kit@"+bundle.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("opening kit %s: %w", path, err)
	}
	k, err := fromStorage(ctx, src, index, layout.DamagedIndexAdvice, "")
	if err != nil {
		closeStorage(src)
		return nil, fmt.Errorf("kit %s: %w", path, err)
	}
	if c, ok := src.(io.Closer); ok {
		k.closer = c
	}
	return k, nil
}

func closeStorage(src content.ReadOnlyStorage) {
	if c, ok := src.(io.Closer); ok {
		c.Close()
	}
}

// FromStorage opens the kit that index lists in src, such as a kit held in
// a content store. It reads and parses the bundle index.
func FromStorage(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (*Kit, error) {
	return fromStorage(ctx, src, index, "", "")
}

// fromStorage is FromStorage for a source whose damaged index.json gets
// advice, such as layout.DamagedFolderIndexAdvice, or none when it is "".
// dir is the layout folder of src, or "" for another source. A folder that
// lacks the file of the bundle index gets an error that names the file.
func fromStorage(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, advice, dir string) (*Kit, error) {
	bundle, err := bundleEntryFrom(ctx, src, index, advice)
	if err != nil {
		return nil, err
	}
	raw, err := fetchSmall(ctx, src, bundle)
	if dir != "" && layout.IsMissingFile(err) {
		return nil, layout.MissingFile(dir, bundle.Digest, "the bundle index that index.json lists")
	}
	if err != nil {
		return nil, fmt.Errorf("reading bundle index %s: %w", bundle.Digest, err)
	}
	idx, meta, err := oci.ParseBundleIndex(raw)
	if err != nil {
		return nil, err
	}
	return &Kit{Index: index, Bundle: bundle, BundleBytes: raw, BundleIndex: idx, Meta: meta, Storage: src}, nil
}

// Close releases the file behind a kit opened from a tar file.
func (k *Kit) Close() error {
	if k.closer == nil {
		return nil
	}
	return k.closer.Close()
}

// bundleEntry returns the bundle index entry of index.json: the one image
// index with the bundle artifact type, or else the only image index, or
// else the only image index that carries a tag. Tools such as oras write
// index.json without the artifact type and list the kit's image indexes
// beside the bundle index, but tag only the bundle index. A referrers tag
// index is never the bundle index, so it is left out of every case.
// A damaged entry gives advice, unless advice is "".
func bundleEntry(index ocispec.Index, advice string) (ocispec.Descriptor, error) {
	var indexes, tagged, marked []ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || layout.IsReferrersTagEntry(d) {
			continue
		}
		if d.ArtifactType == oci.ArtifactTypeBundle {
			marked = append(marked, d)
		}
		indexes = append(indexes, d)
		if d.Annotations[oci.AnnotationRefName] != "" {
			tagged = append(tagged, d)
		}
	}
	switch {
	case len(marked) == 1:
		return marked[0], nil
	case len(marked) > 1:
		return ocispec.Descriptor{}, oci.MultipleKitsError(len(marked), nil)
	case len(indexes) == 1:
		return indexes[0], nil
	case len(tagged) == 1:
		return tagged[0], nil
	}
	if err := layout.FindUnknownEntry(index, advice); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{}, fmt.Errorf("index.json lists %d image indexes, %d of them tagged, and none has artifact type %s: %w",
		len(indexes), len(tagged), oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
}

// BundleEntry returns the bundle index entry of index.json, as bundleEntry
// does. When that finds none, it reads the image indexes from src and
// returns the only one that is a bundle index.
func BundleEntry(ctx context.Context, src content.Fetcher, index ocispec.Index) (ocispec.Descriptor, error) {
	return bundleEntryFrom(ctx, src, index, "")
}

// bundleEntryFrom is BundleEntry with the advice that bundleEntry gives.
func bundleEntryFrom(ctx context.Context, src content.Fetcher, index ocispec.Index, advice string) (ocispec.Descriptor, error) {
	bundle, err := bundleEntry(index, advice)
	if err == nil {
		return bundle, nil
	}
	var found []ocispec.Descriptor
	var versions []string
	seen := make(map[digest.Digest]bool)
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		raw, ferr := fetchSmall(ctx, src, d)
		if ferr != nil {
			continue
		}
		if _, meta, perr := oci.ParseBundleIndex(raw); perr == nil {
			found = append(found, d)
			versions = append(versions, meta.Version)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return ocispec.Descriptor{}, oci.MultipleKitsError(len(found), versions)
	}
	return ocispec.Descriptor{}, err
}

// readIndexJSON reads index.json from the start of a kit file. A kit that
// stella wrote has it as the second entry, so little is read.
func readIndexJSON(path string) (ocispec.Index, error) {
	f, err := layout.OpenRegular(path)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("opening kit: %w", err)
	}
	defer f.Close()
	tr, err := layout.NewTarReader(f, layout.Limits{})
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("reading kit %s: %w", path, err)
	}
	defer tr.Close()
	for {
		e, err := tr.Next()
		if err == io.EOF {
			return ocispec.Index{}, layout.MissingIndexError(path)
		}
		if err != nil {
			return ocispec.Index{}, fmt.Errorf("reading kit %s: %w", path, err)
		}
		if e.Kind == layout.Blob {
			tr.SkipBlob()
			continue
		}
		if e.Kind != layout.IndexJSON {
			continue
		}
		idx, err := readIndex(e.Reader)
		if err != nil {
			return idx, fmt.Errorf("kit %s: %w", path, err)
		}
		return idx, nil
	}
}

func readIndex(r io.Reader) (ocispec.Index, error) {
	b, err := io.ReadAll(io.LimitReader(r, layout.DefaultMaxIndexSize+1))
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("reading index.json: %w", err)
	}
	if len(b) > layout.DefaultMaxIndexSize {
		return ocispec.Index{}, fmt.Errorf("index.json is larger than %d bytes: %w", layout.DefaultMaxIndexSize, errdef.ErrSizeExceedsLimit)
	}
	idx, err := layout.ParseKitIndex(b)
	if err != nil {
		return ocispec.Index{}, err
	}
	return *idx, nil
}

func fetchSmall(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxManifestSize {
		return nil, fmt.Errorf("%s declares %d bytes, over the %d byte limit: %w",
			d.Digest, d.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	return content.FetchAll(ctx, src, d)
}

// Graph is every blob a bundle index reaches, split into manifests,
// indexes and configs (Meta) and all other blobs (Data).
type Graph struct {
	Meta map[digest.Digest]ocispec.Descriptor
	Data map[digest.Digest]ocispec.Descriptor
}

// Has reports whether the graph reaches d.
func (g *Graph) Has(d digest.Digest) bool {
	_, m := g.Meta[d]
	_, b := g.Data[d]
	return m || b
}

// Walk returns the graph of the kit's bundle index. It reads manifests and
// indexes from the kit, so it works on a delta too: a delta holds every
// manifest of its kit. A manifest the storage lacks is an error, which is
// a *layout.MissingFileError for a kit in a layout folder.
func (k *Kit) Walk(ctx context.Context) (*Graph, error) {
	return walkGraph(ctx, k.Storage, k.Bundle, k.dir)
}

// WalkGraph returns every blob that root reaches in src: children of image
// indexes, configs and layers of image manifests. Subjects are not followed.
func WalkGraph(ctx context.Context, src content.Fetcher, root ocispec.Descriptor) (*Graph, error) {
	return walkGraph(ctx, src, root, "")
}

// walkGraph is WalkGraph for src, which is the layout folder dir unless dir
// is "".
func walkGraph(ctx context.Context, src content.Fetcher, root ocispec.Descriptor, dir string) (*Graph, error) {
	g := &Graph{Meta: map[digest.Digest]ocispec.Descriptor{}, Data: map[digest.Digest]ocispec.Descriptor{}}
	var visit func(d ocispec.Descriptor, meta bool) error
	visit = func(d ocispec.Descriptor, meta bool) error {
		if g.Has(d.Digest) {
			return nil
		}
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("descriptor digest %q: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
		}
		if !oci.IsManifest(d.MediaType) {
			if meta {
				g.Meta[d.Digest] = d
			} else {
				g.Data[d.Digest] = d
			}
			return nil
		}
		g.Meta[d.Digest] = d
		raw, err := fetchSmall(ctx, src, d)
		if dir != "" && layout.IsMissingFile(err) {
			return layout.MissingFile(dir, d.Digest, "a manifest that the bundle index reaches")
		}
		if err != nil {
			return fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		m, err := oci.ParseLinks(d, raw)
		if err != nil {
			return err
		}
		if m.Config != nil {
			if err := visit(*m.Config, true); err != nil {
				return err
			}
		}
		for _, c := range m.Manifests {
			if err := visit(c, true); err != nil {
				return err
			}
		}
		for _, l := range m.Layers {
			if err := visit(l, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(root, true); err != nil {
		return nil, err
	}
	return g, nil
}

// signatures returns the signature referrers of subject that index.json
// lists: image manifests whose subject is subject. It also returns those
// that an image index in index.json lists under the referrers tag schema
// name of subject, as in a layout folder that `regctl image copy
// --referrers` wrote. A tag index that cannot be decoded adds none. Each
// tag index and each manifest is read once, however often it is listed.
func signatures(ctx context.Context, src content.Fetcher, index ocispec.Index, subject digest.Digest) []ocispec.Descriptor {
	var candidates []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	addCandidates := func(list []ocispec.Descriptor) {
		for _, d := range list {
			if d.MediaType != ocispec.MediaTypeImageManifest || IsDeltaEntry(d) || seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			candidates = append(candidates, d)
		}
	}
	addCandidates(index.Manifests)
	for _, t := range layout.ReferrersTagEntries(index, subject) {
		raw, err := fetchSmall(ctx, src, t)
		if err != nil {
			continue
		}
		tagged, err := layout.ParseReferrersTagIndex(raw)
		if err != nil {
			continue
		}
		addCandidates(tagged)
	}
	var out []ocispec.Descriptor
	for _, d := range candidates {
		raw, err := fetchSmall(ctx, src, d)
		if err != nil {
			continue
		}
		var m ocispec.Manifest
		if json.Unmarshal(raw, &m) != nil || m.Subject == nil || m.Subject.Digest != subject {
			continue
		}
		if m.ArtifactType != oci.MediaTypeSigstoreBundle {
			continue
		}
		out = append(out, d)
	}
	return out
}

var errNoDelta = errors.New("no delta manifest")

// FindInfo returns the delta manifest that index.json lists for the kit's
// bundle index, read from src, or an error wrapping errdef.ErrNotFound when
// the kit is not a delta. It does not look at the omitted blobs. FindDelta
// also checks them, which separates a delta from a complete kit that lists
// a delta manifest.
func FindInfo(ctx context.Context, src content.Fetcher, index ocispec.Index, bundle digest.Digest) (*Info, error) {
	for _, d := range index.Manifests {
		if !IsDeltaEntry(d) {
			continue
		}
		info, err := ReadInfo(ctx, src, d)
		if err != nil {
			return nil, err
		}
		if info.Target != bundle {
			return nil, fmt.Errorf("delta manifest %s is for %s, not bundle index %s: %w",
				d.Digest, info.Target, bundle, errdef.ErrInvalidKit)
		}
		return info, nil
	}
	return nil, fmt.Errorf("%w: %w", errNoDelta, errdef.ErrNotFound)
}

// ReadInfo reads the delta manifest that index.json entry d names, and its
// config, from src. It rejects an entry whose annotations disagree with
// the manifest (see CheckEntry) and a manifest whose annotations name
// another base than its config. Nothing is verified: the caller checks
// the signature of the manifest before it trusts the base.
func ReadInfo(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (*Info, error) {
	raw, err := fetchSmall(ctx, src, d)
	if err != nil {
		return nil, fmt.Errorf("reading delta manifest %s: %w", d.Digest, err)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	if err := CheckEntry(d, m); err != nil {
		return nil, err
	}
	craw, err := fetchSmall(ctx, src, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reading delta config %s: %w", m.Config.Digest, err)
	}
	c, err := ParseConfig(craw)
	if err != nil {
		return nil, err
	}
	// The config and the annotations are both signed, and readers
	// take the base from either, so they must agree.
	if base, version := ManifestBase(m); base != c.Base.Digest || (version != "" && version != c.Base.Version) {
		return nil, fmt.Errorf("delta manifest %s names base %s (%s) in its annotations, but its config names %s (%s): %w",
			d.Digest, version, base, c.Base.Version, c.Base.Digest, errdef.ErrInvalidKit)
	}
	return &Info{Manifest: d, Target: m.Subject.Digest, Config: c}, nil
}

// ErrNoSignature reports a delta manifest that no signature referrer in
// the kit names.
var ErrNoSignature = errors.New("carries no signature")

// VerifySignature returns the trusted key of the first signature referrer
// in index that verifies the delta manifest of info. fetch reads the
// referrer manifests and signature bundles; it should bound what it reads.
// With no referrer of the delta manifest in index, the error wraps
// ErrNoSignature; otherwise it gives why each one failed.
func VerifySignature(ctx context.Context, fetch func(context.Context, ocispec.Descriptor) ([]byte, error),
	index ocispec.Index, bundle digest.Digest, info *Info, keys []sign.TrustedKey) (sign.TrustedKey, error) {
	raw, err := fetch(ctx, info.Manifest)
	if err != nil {
		return sign.TrustedKey{}, err
	}
	subject := info.Manifest
	subject.Annotations = nil
	var reasons []error
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest || IsDeltaEntry(d) || d.Digest == bundle {
			continue
		}
		b, err := fetch(ctx, d)
		if err != nil {
			continue
		}
		bundleDesc, sub, err := sign.ParseReferrerManifest(b)
		if err != nil || sub.Digest != info.Manifest.Digest {
			continue
		}
		sig, err := fetch(ctx, bundleDesc)
		if err != nil {
			reasons = append(reasons, err)
			continue
		}
		key, err := sign.VerifyManifest(keys, subject, raw, sig)
		if err == nil {
			return key, nil
		}
		reasons = append(reasons, err)
	}
	if len(reasons) == 0 {
		return sign.TrustedKey{}, fmt.Errorf("the delta manifest %s: %w", info.Manifest.Digest, ErrNoSignature)
	}
	return sign.TrustedKey{}, errors.Join(reasons...)
}
