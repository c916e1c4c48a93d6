package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"bytes"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// maxKeptBlob is the largest blob OpenKit keeps from a kit file. Manifests
// and DB layers are far smaller; image layers above it are only listed.
const maxKeptBlob = 64 << 20

// maxKeptTotal bounds the bytes of all blobs that OpenKit keeps in memory
// from a kit file, so that a small compressed file cannot make it allocate
// gigabytes before the signature is checked. Tests lower it.
// NOTE: the bound is an estimate with room to spare: the DB layers of a kit
// of 300,000 records take 76 MiB, and the kept image layers are the
// smaller ones of two platforms.
var maxKeptTotal int64 = 1 << 30

// Kit is a kit opened for reading on the build side.
type Kit struct {
	Index  ocispec.Index
	Bundle ocispec.Descriptor
	Meta   oci.Meta
	Source content.ReadOnlyStorage
	// Sizes lists every blob the kit file holds, kept or not.
	Sizes map[string]int64
	// IndexAdvice is the next step for a damaged index.json, which
	// depends on whether the kit is a file or a folder.
	IndexAdvice string
}

// OpenKit reads a kit from a layout folder or a kit file. From a file it
// keeps blobs up to 64 MiB in memory and lists the others.
func OpenKit(ctx context.Context, path string) (*Kit, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening kit: %w", err)
	}
	k := &Kit{Sizes: make(map[string]int64), IndexAdvice: layout.DamagedIndexAdvice}
	if info.IsDir() {
		k.IndexAdvice = layout.DamagedFolderIndexAdvice
		idx, src, err := layout.OpenDir(path)
		// OpenDir names the folder in most errors, so that the
		// message names it once.
		if err != nil && strings.Contains(err.Error(), path) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("opening kit folder %s: %w", path, err)
		}
		k.Index, k.Source = idx, src
	} else if err := k.readFile(ctx, path); err != nil {
		return nil, err
	}
	dir := ""
	if info.IsDir() {
		dir = path
	}
	if err := k.findBundle(ctx, k.IndexAdvice, dir); err != nil {
		if errors.As(err, new(*layout.MissingFileError)) {
			// The error names the folder in the path of the file.
			return nil, err
		}
		return nil, fmt.Errorf("kit %s: %w", path, err)
	}
	return k, nil
}

func (k *Kit) readFile(ctx context.Context, path string) error {
	tr, closeFile, err := layout.OpenTarFile(path)
	if err != nil {
		return err
	}
	defer closeFile()
	mem := newBlobMap()
	var index *ocispec.Index
	var kept int64
	sawLayout := false
	for {
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading kit %s: %w", path, err)
		}
		switch e.Kind {
		case layout.LayoutFile:
			if err := layout.ReadKitLayoutFile(e.Reader); err != nil {
				return fmt.Errorf("reading kit %s: %w", path, err)
			}
			sawLayout = true
		case layout.IndexJSON:
			if index, err = readIndex(e.Reader); err != nil {
				return fmt.Errorf("reading kit %s: %w", path, err)
			}
		case layout.Blob:
			k.Sizes[e.Digest.String()] = e.Size
			if e.Size > maxKeptBlob {
				continue
			}
			if kept += e.Size; kept > maxKeptTotal {
				return fmt.Errorf("kit %s holds more than %d bytes of blobs of at most %d bytes each, which are read "+
					"into memory; a kit that stella ouk build writes holds far less, so the file is likely damaged "+
					"or not a kit. To check it anyway, extract it into a folder and give the folder: %w",
					path, maxKeptTotal, int64(maxKeptBlob), errdef.ErrSizeExceedsLimit)
			}
			d := ocispec.Descriptor{Digest: e.Digest, Size: e.Size}
			if err := mem.Push(ctx, d, e.Reader); err != nil {
				return fmt.Errorf("reading kit %s: blob %s: %w", path, e.Digest, err)
			}
		}
	}
	if !sawLayout {
		return fmt.Errorf("reading kit %s: %w", path, layout.ErrNoLayoutFile)
	}
	if index == nil {
		return layout.MissingIndexError(path)
	}
	k.Index, k.Source = *index, mem
	return nil
}

// findBundle sets the bundle index of the kit. A damaged index.json entry
// gives advice. dir is the kit's layout folder, or "" for a kit file: a
// folder that lacks the file of an image index that index.json lists, and
// holds no bundle index, gets an error that names the missing file.
func (k *Kit) findBundle(ctx context.Context, advice, dir string) error {
	var versions []string
	var missing []ocispec.Descriptor
	seen := make(map[digest.Digest]bool)
	for _, d := range k.Index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		var idx ocispec.Index
		raw, err := fetchJSON(ctx, k.Source, d, &idx)
		if dir != "" && layout.IsMissingFile(err) {
			missing = append(missing, d)
		}
		if err != nil {
			continue
		}
		_, meta, err := oci.ParseBundleIndex(raw)
		if err != nil {
			continue
		}
		if len(versions) == 0 {
			k.Bundle, k.Meta = d, meta
		}
		versions = append(versions, meta.Version)
	}
	switch {
	case len(versions) == 1:
		return nil
	case len(versions) > 1:
		k.Bundle, k.Meta = ocispec.Descriptor{}, oci.Meta{}
		return oci.MultipleKitsError(len(versions), versions)
	}
	if len(missing) > 0 {
		return layout.MissingFile(dir, missing[0].Digest, describeIndexEntry(missing[0]))
	}
	if err := layout.FindUnknownEntry(k.Index, advice); err != nil {
		return err
	}
	return fmt.Errorf("no bundle index found: %w", errdef.ErrInvalidKit)
}

// describeIndexEntry names the image index entry d of index.json in
// messages.
func describeIndexEntry(d ocispec.Descriptor) string {
	if d.ArtifactType == oci.ArtifactTypeBundle {
		return "the bundle index that index.json lists"
	}
	return "the image index that index.json lists"
}

// BundleIndex returns the decoded bundle index.
func (k *Kit) BundleIndex(ctx context.Context) (ocispec.Index, error) {
	var idx ocispec.Index
	_, err := fetchJSON(ctx, k.Source, k.Bundle, &idx)
	return idx, err
}

// PreviousDB returns the kit's DB as the base of a new build.
func (k *Kit) PreviousDB(ctx context.Context) (*vulndb.PreviousDB, error) {
	idx, err := k.BundleIndex(ctx)
	if err != nil {
		return nil, err
	}
	return previousDB(ctx, k.Source, idx)
}

// previousDB reads the DB manifest and config that the bundle index lists
// from src.
func previousDB(ctx context.Context, src content.ReadOnlyStorage, bundle ocispec.Index) (*vulndb.PreviousDB, error) {
	dbDesc, ok := oci.Child(bundle, oci.RoleDB)
	if !ok {
		return nil, errors.New("kit has no vulnerability DB")
	}
	var m ocispec.Manifest
	if _, err := fetchJSON(ctx, src, dbDesc, &m); err != nil {
		return nil, fmt.Errorf("reading DB manifest: %w", err)
	}
	config, err := content.FetchAll(ctx, src, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reading DB config: %w", err)
	}
	return &vulndb.PreviousDB{Config: config, Layers: m.Layers, Fetch: src.Fetch}, nil
}

func readIndex(r io.Reader) (*ocispec.Index, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, err
	}
	return layout.ParseKitIndex(raw)
}

// blobMap is an in-memory blob store keyed by digest alone, so that a blob
// read from a tar stream without its media type is found by any descriptor.
type blobMap struct {
	blobs map[digest.Digest][]byte
}

func newBlobMap() *blobMap { return &blobMap{blobs: map[digest.Digest][]byte{}} }

func (m *blobMap) Push(_ context.Context, d ocispec.Descriptor, r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, d.Size+1))
	if err != nil {
		return err
	}
	if int64(len(raw)) != d.Size || digest.FromBytes(raw) != d.Digest {
		return fmt.Errorf("blob %s: %w", d.Digest, errdef.ErrDigestMismatch)
	}
	m.blobs[d.Digest] = raw
	return nil
}

func (m *blobMap) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	raw, ok := m.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, orasErrdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(raw)), nil
}

func (m *blobMap) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	_, ok := m.blobs[d.Digest]
	return ok, nil
}
