package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/sign"
)

// copyFrom stores every blob reachable from index that the store lacks,
// reading it from src. A delta's base is checked before anything is written.
func (s *session) copyFrom(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) error {
	if err := s.checkDeltaEarly(ctx, index, src); err != nil {
		return err
	}
	if _, err := s.checkOmittedEarly(ctx, src, index); err != nil {
		return err
	}
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || d.Size > MaxManifestSize {
			continue
		}
		if err := checkDescriptor(d); err != nil {
			return err
		}
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
		}
	}
	if err := s.copyHeads(ctx, src, index); err != nil {
		return err
	}
	seen := make(map[digest.Digest]bool)
	for _, d := range index.Manifests {
		if err := s.copyNode(ctx, src, d, seen); err != nil {
			return err
		}
	}
	return nil
}

// copyHeads stores the entries of index.json and the signature bundles
// their signature manifests name, then checks the signature of the bundle
// index before anything larger is read from src.
func (s *session) copyHeads(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) error {
	s.guard = newStreamGuard(s)
	s.early = make(map[digest.Digest]bool)
	for _, d := range index.Manifests {
		if d.Size > MaxManifestSize || checkDescriptor(d) != nil {
			continue // findBundle and copyNode report it
		}
		if err := s.copyBlob(ctx, src, d); err != nil {
			return err
		}
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		b, err := s.readManifest(ctx, d)
		if err != nil {
			continue
		}
		bundle, _, err := sign.ParseReferrerManifest(b)
		if err != nil || bundle.Size > MaxManifestSize {
			continue
		}
		if err := s.copyBlob(ctx, src, bundle); err != nil {
			return err
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

func (s *session) copyNode(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor, seen map[digest.Digest]bool) error {
	if seen[d.Digest] {
		return nil
	}
	seen[d.Digest] = true
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
		rc, err := src.Fetch(ctx, d)
		if errors.Is(err, errdef.ErrNotFound) || isNotFound(err) {
			// A delta omits blobs its base supplies; checkGraph decides.
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
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := s.copyNode(ctx, src, k, seen); err != nil {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, orasErrdef.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// missingFolderBlob returns the message for blob d, referenced by parent,
// whose file the layout folder of the import lacks.
func (s *session) missingFolderBlob(d digest.Digest, parent string) string {
	return fmt.Sprintf("blob %s, referenced by %s, is missing: the layout folder lacks %s. "+
		"The folder may be incomplete: copy it again", d, parent, blobPath(s.dir, d))
}
