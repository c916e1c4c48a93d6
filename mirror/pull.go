package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Source is a kit in a registry, ready for importer.ImportFrom: a storage
// that resumes cut blob transfers and the index listing the bundle index and
// its signature referrers.
type Source struct {
	// Index lists the bundle index first, then its signature referrers.
	Index ocispec.Index
	// Bundle is the resolved bundle index.
	Bundle  ocispec.Descriptor
	storage *resumingStorage
}

// Storage returns the storage to import from.
func (s *Source) Storage() content.ReadOnlyStorage { return s.storage }

// BytesRead returns how many blob bytes were read from the registry so far.
func (s *Source) BytesRead() int64 { return s.storage.bytes.Load() }

// OpenKit resolves reference (a tag or digest) in repo and lists the
// signature referrers of the bundle index it names, by the referrers API
// where the registry offers it and by the sha256-<hex> tag otherwise. A
// reference that is not an OCI image index returns an error wrapping
// errdef.ErrInvalidKit.
func OpenKit(ctx context.Context, repo *remote.Repository, reference string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var bundle ocispec.Descriptor
	err := withRetry(ctx, log, "resolve "+reference, func(int) error {
		var err error
		bundle, err = repo.Resolve(ctx, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resolving %s in %s/%s: %w", reference, repo.Reference.Registry, repo.Reference.Repository, err)
	}
	if bundle.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("%s is a %s, but a kit is an OCI image index of artifact type %s; check the reference: %w",
			reference, bundle.MediaType, oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	}
	bundle.ArtifactType = oci.ArtifactTypeBundle
	src := &Source{Bundle: bundle, storage: &resumingStorage{inner: repo, log: log}}
	src.Index = ocispec.Index{Manifests: []ocispec.Descriptor{bundle}}
	src.Index.SchemaVersion = 2
	src.Index.MediaType = ocispec.MediaTypeImageIndex
	var refs []ocispec.Descriptor
	err = withRetry(ctx, log, "list referrers of "+bundle.Digest.String(), func(int) error {
		refs = refs[:0]
		// No artifactType filter: some registries report the config media
		// type as a referrer's artifactType, so the manifest itself decides.
		return repo.Referrers(ctx, bundle, "", func(page []ocispec.Descriptor) error {
			refs = append(refs, page...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing signatures of kit %s: %w", bundle.Digest, err)
	}
	for _, r := range refs {
		ok, err := isSignature(ctx, src.storage, r)
		if err != nil {
			return nil, err
		}
		if ok {
			src.Index.Manifests = append(src.Index.Manifests, r)
		}
	}
	log.Info("resolved kit in registry", "reference", reference, "digest", bundle.Digest,
		"signatures", len(src.Index.Manifests)-1)
	return src, nil
}

// isSignature reports whether the referrer r is a sigstore bundle manifest.
func isSignature(ctx context.Context, src content.ReadOnlyStorage, r ocispec.Descriptor) (bool, error) {
	if r.MediaType != ocispec.MediaTypeImageManifest {
		return false, nil
	}
	if r.ArtifactType == oci.MediaTypeSigstoreBundle {
		return true, nil
	}
	b, err := fetchManifest(ctx, src, r)
	if err != nil {
		return false, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return false, nil
	}
	return m.ArtifactType == oci.MediaTypeSigstoreBundle, nil
}
