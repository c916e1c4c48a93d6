package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// copyFrom stores every blob reachable from index that the store lacks,
// reading it from src. A delta's base is checked before anything is written.
func (s *session) copyFrom(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) error {
	w := &copyWalk{src: src, seen: map[digest.Digest]bool{}, omitted: map[digest.Digest]bool{},
		bundleGraph: map[digest.Digest]bool{}}
	if err := s.checkDeltaEarly(ctx, index, src); err != nil {
		return err
	}
	if _, err := s.checkOmittedEarly(ctx, src, index); err != nil {
		return err
	}
	// read records the image indexes read, by digest and size, so that
	// one that index.json lists many times is read and decoded once.
	read := make(map[sizedDigest]bool)
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || d.Size > MaxManifestSize || read[sizedDigest{d.Digest, d.Size}] {
			continue
		}
		if err := checkDescriptor(d); err != nil {
			return err
		}
		read[sizedDigest{d.Digest, d.Size}] = true
		b, err := content.FetchAll(ctx, src, d)
		if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
			continue // copyHeads names the missing blob
		}
		if err != nil {
			return fmt.Errorf("reading %s from the source: %w", d.Digest, err)
		}
		if _, meta, err := oci.ParseBundleIndex(b); err == nil {
			if err := s.checkBase(ctx, d.Digest, meta); err != nil {
				return err
			}
			if meta.Kind == oci.KindDelta {
				w.mayOmitAll = true
			}
			w.bundleGraph[d.Digest] = true
		}
	}
	if err := s.copyHeads(ctx, src, index); err != nil {
		return err
	}
	if s.dir != "" {
		w.readOmitted(ctx, index)
	}
	// The bundle index goes first, so that the walk reaches each blob of
	// its graph from it and marks the blob as covered by the signature.
	// Other entries of index.json, such as a DB manifest that a folder
	// written by `oras cp -r` lists, may share blobs with that graph.
	var bundles, others []ocispec.Descriptor
	for _, d := range index.Manifests {
		if w.bundleGraph[d.Digest] {
			bundles = append(bundles, d)
		} else {
			others = append(others, d)
		}
	}
	for _, d := range bundles {
		if err := s.copyNode(ctx, w, "index.json", d, true); err != nil {
			return err
		}
	}
	for _, d := range others {
		if err := s.copyNode(ctx, w, "index.json", d, false); err != nil {
			return err
		}
	}
	for _, m := range w.missing {
		if err := s.missingFromSource(w, m); err != nil {
			return err
		}
	}
	// The walk stored every manifest and index, so the signed graph is
	// known, and no layer is stored yet. The check has run already when
	// the last manifest of the graph completed it.
	if err := s.guard.checkSpace(ctx); err != nil {
		return err
	}
	for _, l := range w.leaves {
		if err := s.copyLeaf(ctx, w, l); err != nil {
			return err
		}
	}
	return nil
}

// copyWalk is the state of one walk of copyNode over the graph of a kit.
type copyWalk struct {
	src  content.ReadOnlyStorage
	seen map[digest.Digest]bool
	// omitted lists the blobs that the kit's delta manifests declare as
	// left out, and mayOmitAll is set when the kit is a delta whose list
	// could not be read, so that any blob may be left out.
	omitted    map[digest.Digest]bool
	mayOmitAll bool
	// bundleGraph contains the bundle index and the blobs that the walk
	// reached from it, which the kit's signature covers.
	bundleGraph map[digest.Digest]bool
	// leaves lists the blobs other than manifests that the store lacks
	// and the source has, as far as a layout folder shows, and missing
	// those that both lack. copyFrom handles them after the walk, so that
	// the space check has the whole signed graph and a missing file of a
	// layout folder ends the import before any large blob is read.
	leaves  []sourceBlob
	missing []sourceBlob
}

// sourceBlob is a blob of the kit source, with the manifest that
// references it.
type sourceBlob struct {
	desc   ocispec.Descriptor
	parent string
}

// readOmitted records the blobs that the delta manifests of index declare
// as left out, as read from the source.
func (w *copyWalk) readOmitted(ctx context.Context, index ocispec.Index) {
	for _, d := range index.Manifests {
		if !delta.IsDeltaEntry(d) {
			continue
		}
		info, err := delta.ReadInfo(ctx, w.src, d)
		if err != nil {
			// finish reports the delta manifest, and checkGraph any blob
			// that neither the source nor the store has.
			w.mayOmitAll = true
			return
		}
		for _, o := range info.Config.Omitted {
			w.omitted[o.Digest] = true
		}
	}
}

// copyHeads stores the entries of index.json, the signature manifests that
// the referrers tag indexes of the bundle index list, and the signature
// bundles that these signature manifests name. It then checks the
// signature of the bundle index before anything larger is read from src.
func (s *session) copyHeads(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) error {
	s.guard = newStreamGuard(s)
	s.early = make(map[digest.Digest]bool)
	type entryKey struct {
		mediaType string
		digest    digest.Digest
	}
	seen := make(map[entryKey]bool)
	var bundles []digest.Digest
	read := func(d ocispec.Descriptor) ([]byte, error) { return s.readManifest(ctx, d) }
	for _, d := range index.Manifests {
		if d.Size > MaxManifestSize || checkDescriptor(d) != nil {
			continue // findBundle and copyNode report it
		}
		if seen[entryKey{d.MediaType, d.Digest}] {
			continue
		}
		seen[entryKey{d.MediaType, d.Digest}] = true
		if err := s.copyBlob(ctx, src, d); err != nil {
			return err
		}
		if d.MediaType == ocispec.MediaTypeImageIndex && s.guard.inputs.isBundle(d, read) {
			bundles = append(bundles, d.Digest)
		}
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		if err := s.copySignatureBundle(ctx, src, d); err != nil {
			return err
		}
	}
	// Only the referrers tag of the bundle index counts, as in the
	// signature check, so nothing that the tag of another digest lists
	// is copied before the signature is checked.
	for _, b := range bundles {
		for _, d := range layout.ReferrersTagEntries(index, b) {
			if err := s.copyReferrersTagHeads(ctx, src, d); err != nil {
				return err
			}
		}
	}
	if err := s.guard.setIndex(ctx, &index); err != nil {
		return err
	}
	if !s.guard.verified {
		return s.missingHeadError(ctx)
	}
	return nil
}

// copySignatureBundle stores the signature bundle that the stored manifest
// d names, if d is a signature manifest.
func (s *session) copySignatureBundle(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) error {
	b, err := s.readManifest(ctx, d)
	if err != nil {
		return nil // the signature check reports it
	}
	bundle, _, err := sign.ParseReferrerManifest(b)
	if err != nil || bundle.Size > MaxManifestSize {
		return nil
	}
	return s.copyBlob(ctx, src, bundle)
}

// copyReferrersTagHeads stores the signature manifests that the stored
// referrers tag index d lists, and their signature bundles.
func (s *session) copyReferrersTagHeads(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) error {
	raw, err := s.readManifest(ctx, d)
	if err != nil {
		return nil // the signature check reports it
	}
	refs, err := layout.ParseReferrersTagIndex(raw)
	if err != nil {
		return nil
	}
	for _, r := range refs {
		if r.Size > MaxManifestSize || checkDescriptor(r) != nil {
			continue // the signature check reports it
		}
		if err := s.copyBlob(ctx, src, r); err != nil {
			return err
		}
		if err := s.copySignatureBundle(ctx, src, r); err != nil {
			return err
		}
	}
	return nil
}

// copyBlob stores one blob from src unless the store has it. No signature
// covers these blobs yet, so each counts against the budget of the stream
// guard, as the blobs of a tar stream that arrive before its signature do.
func (s *session) copyBlob(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) error {
	if ok, err := s.opts.Store.Exists(ctx, d); err != nil || ok {
		return err
	}
	if err := s.guard.admit(ctx, d); err != nil {
		return err
	}
	rc, err := src.Fetch(ctx, d)
	if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading blob %s from the source: %w", d.Digest, err)
	}
	defer rc.Close()
	stored, err := s.store(ctx, d, rc)
	if stored {
		s.early[d.Digest] = true
		s.guard.unsigned += d.Size
		s.guard.unsignedBlobs++
	}
	return err
}

// copyNode stores the blob d, referenced by parent, and every blob that it
// reaches, unless the store has them. It defers the blobs other than
// manifests to w.leaves. inBundle is set when the bundle index reaches d.
func (s *session) copyNode(ctx context.Context, w *copyWalk, parent string, d ocispec.Descriptor, inBundle bool) error {
	if inBundle {
		w.bundleGraph[d.Digest] = true
	}
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true
	if err := checkDescriptor(d); err != nil {
		return err
	}
	if isManifest(d.MediaType) && d.Size > MaxManifestSize {
		return fmt.Errorf("manifest %s declares %d bytes, over the %d byte limit: %w",
			d.Digest, d.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	present, err := s.opts.Store.Exists(ctx, d)
	if err != nil {
		return err
	}
	if !present {
		if err := s.guard.admit(ctx, d); err != nil {
			return err
		}
		if !isManifest(d.MediaType) {
			return s.deferLeaf(ctx, w, parent, d)
		}
		rc, err := w.src.Fetch(ctx, d)
		if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
			// A delta omits blobs its base supplies, so missingFromSource
			// decides after the walk.
			w.missing = append(w.missing, sourceBlob{desc: d, parent: parent})
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading blob %s from the source: %w", d.Digest, err)
		}
		stored, err := s.store(ctx, d, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := s.guard.seen(ctx, d, stored); err != nil {
			return err
		}
	} else {
		if !s.early[d.Digest] {
			s.result.BlobsSkipped++
		}
		if err := s.guard.seen(ctx, d, false); err != nil {
			return err
		}
	}
	kids, err := s.childrenOf(ctx, d)
	if err != nil && !inBundle && layout.IsReferrersTagEntry(d) {
		// The signature check counts a tag index that does not decode as
		// a signature that did not verify, as a file import does, so the
		// kit is rejected only when no other signature verifies.
		return nil
	}
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := s.copyNode(ctx, w, d.Digest.String(), k, inBundle); err != nil {
			return err
		}
	}
	return nil
}

// deferLeaf adds the blob d to w.leaves, unless the source is a layout
// folder that lacks its file: then it adds d to w.missing. Other sources
// are not asked, because copyLeaf finds a missing blob when it reads it.
func (s *session) deferLeaf(ctx context.Context, w *copyWalk, parent string, d ocispec.Descriptor) error {
	if s.dir == "" {
		w.leaves = append(w.leaves, sourceBlob{desc: d, parent: parent})
		return nil
	}
	ok, err := w.src.Exists(ctx, d)
	if err != nil {
		return fmt.Errorf("checking blob %s in the source: %w", d.Digest, err)
	}
	if ok {
		w.leaves = append(w.leaves, sourceBlob{desc: d, parent: parent})
	} else {
		w.missing = append(w.missing, sourceBlob{desc: d, parent: parent})
	}
	return nil
}

// copyLeaf stores a blob that deferLeaf deferred.
func (s *session) copyLeaf(ctx context.Context, w *copyWalk, l sourceBlob) error {
	d := l.desc
	// admit runs again, because the blobs stored since deferLeaf ran count
	// against the guard's budget.
	if err := s.guard.admit(ctx, d); err != nil {
		return err
	}
	rc, err := w.src.Fetch(ctx, d)
	if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
		return s.missingFromSource(w, l)
	}
	if err != nil {
		return fmt.Errorf("reading blob %s from the source: %w", d.Digest, err)
	}
	stored, err := s.store(ctx, d, rc)
	rc.Close()
	if err != nil {
		return err
	}
	return s.guard.seen(ctx, d, stored)
}

// missingFromSource handles the blob m, which both the source and the
// store lack. A layout folder without a blob of the bundle index's graph
// that no delta leaves out is incomplete, perhaps still being copied. Its
// error matches io.ErrUnexpectedEOF, as a truncated kit file's does, so the
// import keeps its verified blobs for the next attempt. Any other missing
// blob, such as an optional index table, is left to checkGraph and finish.
func (s *session) missingFromSource(w *copyWalk, m sourceBlob) error {
	d := m.desc.Digest
	if s.dir == "" || w.mayOmitAll || w.omitted[d] || !w.bundleGraph[d] {
		return nil
	}
	return &incompleteFolderError{msg: s.missingFolderBlob(d, m.parent)}
}

// incompleteFolderError is the error of a layout folder that lacks the file
// of a blob of the signed kit. It matches io.ErrUnexpectedEOF, so the
// import keeps its verified blobs and the watch retries the folder as a
// copy in progress, but its message leaves out the EOF text, which would
// suggest a truncated file.
type incompleteFolderError struct {
	msg string
}

func (e *incompleteFolderError) Error() string { return e.msg }

func (e *incompleteFolderError) Unwrap() error { return io.ErrUnexpectedEOF }

func isNotFound(err error) bool {
	return errors.Is(err, orasErrdef.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// missingFolderBlob returns the message for blob d, referenced by parent,
// whose file the layout folder of the import lacks.
func (s *session) missingFolderBlob(d digest.Digest, parent string) string {
	return fmt.Sprintf("blob %s, referenced by %s, is missing: the layout folder lacks %s. "+
		"The folder may be incomplete: copy it again", d, parent, blobPath(s.dir, d))
}
