package importer

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// CheckKitSignature checks the signatures of the bundle index bundle in
// the kit file or layout folder at path against keys, as an import does,
// but stores nothing. From a kit file it keeps blobs of up to
// MaxManifestSize bytes until it has the bundle index and its signatures.
// It stops at a larger blob or past MaxUnsignedBlobs blobs or
// MaxUnsignedBytes bytes, where an import rejects an unverified kit too.
// It returns an error when the kit cannot be read or lacks index.json or
// the bundle index, and reports a missing signature in the result.
func CheckKitSignature(ctx context.Context, path string, bundle digest.Digest, keys []sign.TrustedKey) (SignatureCheck, error) {
	info, err := os.Stat(path)
	if err != nil {
		return SignatureCheck{}, fmt.Errorf("opening kit: %w", err)
	}
	var index ocispec.Index
	var fetch FetchFunc
	if info.IsDir() {
		idx, src, err := layout.OpenDir(path)
		if err != nil {
			return SignatureCheck{}, fmt.Errorf("opening layout folder %s: %w", path, err)
		}
		if c, ok := src.(io.Closer); ok {
			defer c.Close()
		}
		index = idx
		fetch = func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
			return content.FetchAll(ctx, src, d)
		}
	} else {
		r := &signatureReader{bundle: bundle, blobs: map[digest.Digest][]byte{}}
		if err := r.read(ctx, path); err != nil {
			return SignatureCheck{}, err
		}
		index, fetch = *r.index, r.fetch
	}

	desc, err := bundleDescriptor(index, bundle)
	if err != nil {
		return SignatureCheck{}, fmt.Errorf("kit %s: %w", path, err)
	}
	raw, err := fetch(ctx, desc)
	if err != nil {
		return SignatureCheck{}, fmt.Errorf("kit %s: reading bundle index %s: %w", path, bundle, err)
	}
	return CheckBundleSignature(ctx, fetch, index, desc, raw, keys), nil
}

// bundleDescriptor returns the entry of index.json for the bundle index
// bundle.
func bundleDescriptor(index ocispec.Index, bundle digest.Digest) (ocispec.Descriptor, error) {
	for _, d := range index.Manifests {
		if d.Digest != bundle || d.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		if err := checkDescriptor(d); err != nil {
			return ocispec.Descriptor{}, err
		}
		if d.Size > MaxManifestSize {
			return ocispec.Descriptor{}, fmt.Errorf("index.json lists bundle index %s of %d bytes, over the %d byte limit: %w",
				d.Digest, d.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
		}
		return d, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("index.json lists no image index %s: %w", bundle, errdef.ErrInvalidKit)
}

// signatureReader reads a kit file up to the signature of its bundle index.
type signatureReader struct {
	bundle digest.Digest
	// blobs contains the blobs read, each verified against its digest by
	// the tar reader, and blobBytes is the sum of their sizes.
	blobs     map[digest.Digest][]byte
	blobBytes int64
	index     *ocispec.Index
	// candidates are the signature manifests that index.json or a
	// referrers tag index of the bundle lists, tagIndexes those referrers
	// tag indexes, and missing the blobs of the signature check that have
	// not arrived yet.
	candidates map[digest.Digest]bool
	tagIndexes map[digest.Digest]bool
	missing    map[digest.Digest]bool
}

// read reads the kit file at path until it has index.json and every
// missing blob, or until it reaches a blob that an import would not
// store before the signature check.
func (r *signatureReader) read(ctx context.Context, path string) error {
	tr, closeFile, err := layout.OpenTarFile(path)
	if err != nil {
		return err
	}
	defer closeFile()

	for r.index == nil || len(r.missing) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading kit %s: %w", path, err)
		}
		if e.Kind == layout.IndexJSON {
			idx, err := readIndexJSON(e.Reader)
			if err != nil {
				return fmt.Errorf("kit %s: %w", path, err)
			}
			r.setIndex(idx)
			continue
		}
		if e.Kind != layout.Blob {
			continue
		}
		if e.Size > MaxManifestSize || len(r.blobs) >= MaxUnsignedBlobs || r.blobBytes+e.Size > MaxUnsignedBytes {
			// An import rejects a blob like this one while the signature
			// is unchecked, so the check ends with what has arrived.
			break
		}
		raw, err := io.ReadAll(e.Reader)
		if err != nil {
			return fmt.Errorf("reading kit %s: %w", path, err)
		}
		r.add(e.Digest, raw)
	}
	if r.index == nil {
		return fmt.Errorf("kit %s has no index.json before its end or its first blob over %d bytes; "+
			"a kit written by `stella ouk build` lists it first: %w", path, MaxManifestSize, errdef.ErrInvalidKit)
	}
	return nil
}

// setIndex records index.json and lists the blobs that the signature
// check needs and that have not arrived yet.
func (r *signatureReader) setIndex(index *ocispec.Index) {
	r.index = index
	r.candidates = map[digest.Digest]bool{}
	r.tagIndexes = map[digest.Digest]bool{}
	r.missing = map[digest.Digest]bool{}
	r.need(r.bundle)
	for _, d := range signatureCandidates(*index, ocispec.Descriptor{Digest: r.bundle}) {
		r.addCandidate(d)
	}
	for _, d := range layout.ReferrersTagEntries(*index, r.bundle) {
		r.tagIndexes[d.Digest] = true
		if raw, ok := r.blobs[d.Digest]; ok {
			r.addTagged(raw)
		} else {
			r.need(d.Digest)
		}
	}
}

// addCandidate records the signature manifest d and needs it, or its
// signature bundle once it has arrived.
func (r *signatureReader) addCandidate(d ocispec.Descriptor) {
	if r.candidates[d.Digest] {
		return
	}
	r.candidates[d.Digest] = true
	if raw, ok := r.blobs[d.Digest]; ok {
		r.needBundleOf(raw)
	} else {
		r.need(d.Digest)
	}
}

// addTagged adds the signature manifests that the referrers tag index raw
// lists to the candidates. An index that cannot be decoded adds nothing,
// and the signature check reports it.
func (r *signatureReader) addTagged(raw []byte) {
	refs, err := layout.ParseReferrersTagIndex(raw)
	if err != nil {
		return
	}
	for _, d := range refs {
		if d.Size <= MaxManifestSize && d.Digest != r.bundle {
			r.addCandidate(d)
		}
	}
}

// add keeps the blob d and, once index.json has been read, removes it from
// the missing blobs. A signature manifest adds its signature bundle to them.
func (r *signatureReader) add(d digest.Digest, raw []byte) {
	r.blobs[d] = raw
	r.blobBytes += int64(len(raw))
	if r.index == nil {
		return
	}
	delete(r.missing, d)
	if r.candidates[d] {
		r.needBundleOf(raw)
	}
	if r.tagIndexes[d] {
		r.addTagged(raw)
	}
}

// needBundleOf adds the signature bundle that the referrer manifest raw
// names to the missing blobs, unless it has arrived. A manifest that is no signature referrer
// adds nothing, and the signature check reports it.
func (r *signatureReader) needBundleOf(raw []byte) {
	sig, _, err := sign.ParseReferrerManifest(raw)
	if err == nil && sig.Size <= MaxManifestSize {
		r.need(sig.Digest)
	}
}

func (r *signatureReader) need(d digest.Digest) {
	if _, ok := r.blobs[d]; !ok {
		r.missing[d] = true
	}
}

// fetch returns a blob that read kept, for CheckBundleSignature.
func (r *signatureReader) fetch(_ context.Context, d ocispec.Descriptor) ([]byte, error) {
	raw, ok := r.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is missing from the kit file, or comes after a blob that an import "+
			"does not store before the signature check: %w", d.Digest, errdef.ErrNotFound)
	}
	if int64(len(raw)) != d.Size {
		return nil, fmt.Errorf("blob %s has %d bytes, but its descriptor declares %d: %w",
			d.Digest, len(raw), d.Size, errdef.ErrSizeMismatch)
	}
	return raw, nil
}
