package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"
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
	Bundle ocispec.Descriptor
	// SignatureLookup describes where OpenKit looked for signature
	// referrers and what it found, for the message that rejects a kit
	// without one, such as "the referrers API lists no referrer of the
	// kit, and tag sha256-… does not exist".
	SignatureLookup string
	// OtherReferrers counts the referrers of the bundle index that the
	// lookup found when it found no signature, such as the SBOM referrer
	// of stella ouk push. A copy made without referrers leaves these
	// behind as well, so a count above 0 means the kit was most likely
	// pushed without a signature.
	OtherReferrers int
	storage        *resumingStorage
	// view serves the bundle index that OpenKit read and checked from
	// memory, so the import does not fetch it again, and the rest from
	// storage.
	view content.ReadOnlyStorage
}

// Storage returns the storage to import from.
func (s *Source) Storage() content.ReadOnlyStorage { return s.view }

// BytesRead returns how many blob bytes were read from the registry so far.
func (s *Source) BytesRead() int64 { return s.storage.bytes.Load() }

// Limits on the referrers that OpenKit lists. A kit has a few signatures,
// so these stop a registry that pages without end or lists millions of
// referrers. maxReferrers matches importer.MaxUnsignedBlobs, the most
// blobs an import stores before it has checked a signature.
const (
	maxReferrerPages = 100
	maxReferrers     = 4096
)

// OpenKit resolves reference (a tag or digest) in repo, checks that it
// names a kit's bundle index, and lists the signature referrers of that
// index, by the referrers API where the registry offers it and by the
// sha256-<hex> tag when the API lists no signature or is missing. A reference to anything other than a bundle
// index, such as a container image, returns an error wrapping
// errdef.ErrInvalidKit, and a bundle index whose bytes do not match its
// digest one wrapping errdef.ErrDigestMismatch.
func OpenKit(ctx context.Context, repo *remote.Repository, reference string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	storage := &resumingStorage{inner: repo, log: log}
	bundle, raw, err := fetchReference(ctx, repo, reference, storage)
	if err != nil {
		return nil, err
	}
	where := repo.Reference.Registry + "/" + repo.Reference.Repository
	if !isBundleIndex(bundle.MediaType, raw) {
		return nil, fmt.Errorf("%s in %s is not a Stella Ops kit: it is %s, and a kit is an OCI image index of artifact type %s. "+
			"Pass the tag or digest of a kit that `stella ouk push` published: %w",
			referenceName(reference), where, describeArtifact(bundle.MediaType, raw), oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	}
	bundle.ArtifactType = oci.ArtifactTypeBundle
	mem := &memoryStorage{}
	mem.put(bundle.Digest, raw)
	src := &Source{Bundle: bundle, storage: storage, view: &fallbackStorage{first: mem, second: storage}}
	src.Index = ocispec.Index{Manifests: []ocispec.Descriptor{bundle}}
	src.Index.SchemaVersion = 2
	src.Index.MediaType = ocispec.MediaTypeImageIndex
	sigs, lookup, others, err := findSignatures(ctx, repo, bundle, src.storage, log)
	if err != nil {
		return nil, err
	}
	src.Index.Manifests = append(src.Index.Manifests, sigs...)
	src.SignatureLookup = lookup
	src.OtherReferrers = others
	log.Info("resolved kit in registry", "reference", reference, "digest", bundle.Digest,
		"signatures", len(src.Index.Manifests)-1)
	return src, nil
}

// findSignatures returns the signature referrers of bundle in repo and a
// description of where it looked and what it found, which the message
// for a kit without signatures quotes. When it finds no signature, others
// counts the referrers it found, else others is 0. It lists the referrers through the
// API, and reads the sha256-<hex> tag as well when the API lists no
// signature or the registry has no API.
func findSignatures(ctx context.Context, repo *remote.Repository, bundle ocispec.Descriptor, storage *resumingStorage,
	log *slog.Logger) (sigs []ocispec.Descriptor, lookup string, others int, err error) {
	refs, err := listReferrers(ctx, repo, bundle, log)
	if err != nil {
		return nil, "", 0, err
	}
	// In oras-go v2.7.0, a successful Repository.Referrers leaves the
	// referrers capability set: true when it listed through the API, false
	// when it read the tag instead. So this call fails only when the
	// listing read the tag.
	viaAPI := repo.SetReferrersCapability(true) == nil
	sigs, err = signaturesAmong(ctx, storage, refs)
	if err != nil {
		return nil, "", 0, err
	}
	tag, _ := referrersTag(bundle)
	switch {
	case len(sigs) > 0 && viaAPI:
		lookup = "the referrers API lists " + countSignatures(len(sigs))
	case len(sigs) > 0:
		lookup = fmt.Sprintf("the registry has no referrers API, and tag %s lists %s", tag, countSignatures(len(sigs)))
	case !viaAPI:
		// The listing returns no referrers both for a missing tag and for
		// an empty one, so the tag is read again to tell them apart.
		tagRefs, found, err := referrersFromTag(ctx, repo, bundle, storage)
		if err != nil {
			return nil, "", 0, err
		}
		lookup = fmt.Sprintf("the registry has no referrers API, and tag %s %s", tag, describeTag(len(tagRefs), found))
		others = len(tagRefs)
	default:
		// A registry that gained the referrers API after the kit was
		// pushed lists through the API only referrers pushed since, so
		// the tag that older pushes wrote is read too, although oras-go
		// reads it only when the API is missing.
		tagRefs, found, err := referrersFromTag(ctx, repo, bundle, storage)
		if err != nil {
			return nil, "", 0, err
		}
		if sigs, err = signaturesAmong(ctx, storage, tagRefs); err != nil {
			return nil, "", 0, err
		}
		if len(sigs) == 0 {
			lookup = fmt.Sprintf("the referrers API lists %s, and tag %s %s", describeReferrers(len(refs)), tag,
				describeTag(len(tagRefs), found))
			others = len(refs) + len(tagRefs)
			break
		}
		lookup = fmt.Sprintf("the referrers API lists %s, and tag %s lists %s", describeReferrers(len(refs)), tag,
			countSignatures(len(sigs)))
		log.Info("found the kit's signatures through the sha256-<hex> tag, though the registry's referrers API "+
			"lists none; the kit was likely pushed before the registry offered the API", "tag", tag, "signatures", len(sigs))
	}
	return sigs, lookup, others, nil
}

// signaturesAmong returns the sigstore bundle manifests among refs.
func signaturesAmong(ctx context.Context, storage content.ReadOnlyStorage, refs []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	for _, r := range refs {
		ok, err := isSignature(ctx, storage, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// describeReferrers formats a count of referrers, none of which is a
// signature, for the lookup description.
func describeReferrers(n int) string {
	switch n {
	case 0:
		return "no referrer of the kit"
	case 1:
		return "1 referrer of the kit, which is no signature"
	}
	return fmt.Sprintf("%d referrers of the kit, none of them a signature", n)
}

// countSignatures formats a count of signatures of the kit.
func countSignatures(n int) string {
	if n == 1 {
		return "1 signature of the kit"
	}
	return fmt.Sprintf("%d signatures of the kit", n)
}

// describeTag formats what a sha256-<hex> tag lists, n referrers that are
// no signatures, or "does not exist" when the tag does not exist.
func describeTag(n int, exists bool) string {
	if !exists {
		return "does not exist"
	}
	return "lists " + describeReferrers(n)
}

// referrersTag returns the tag under which the referrers of d are listed
// on a registry without the referrers API: the digest's algorithm and hex
// joined by '-'.
func referrersTag(d ocispec.Descriptor) (string, error) {
	if err := d.Digest.Validate(); err != nil {
		return "", err
	}
	return d.Digest.Algorithm().String() + "-" + d.Digest.Encoded(), nil
}

// referrersFromTag reads the referrers index that the sha256-<hex> tag of
// bundle names. found is false when the tag does not exist, or names
// something other than an image index of referrers.
func referrersFromTag(ctx context.Context, repo *remote.Repository, bundle ocispec.Descriptor,
	storage *resumingStorage) (refs []ocispec.Descriptor, found bool, err error) {
	tag, err := referrersTag(bundle)
	if err != nil {
		return nil, false, err
	}
	desc, raw, err := fetchReference(ctx, repo, tag, storage)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the referrers tag of kit %s: %w", bundle.Digest, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex || desc.Digest == bundle.Digest {
		return nil, false, nil
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, false, nil
	}
	if len(index.Manifests) > maxReferrers {
		return nil, false, fmt.Errorf("tag %s lists more than %d referrers of kit %s, and a kit has a few signatures; "+
			"check the registry, or import the kit from a file: %w", tag, maxReferrers, bundle.Digest, errdef.ErrSizeExceedsLimit)
	}
	return index.Manifests, true, nil
}

// listReferrers lists the referrers of the bundle index in repo, at most
// maxReferrers of them on at most maxReferrerPages pages. It lowers the
// page limit of repo to maxReferrerPages.
func listReferrers(ctx context.Context, repo *remote.Repository, bundle ocispec.Descriptor, log *slog.Logger) ([]ocispec.Descriptor, error) {
	if repo.ReferrerListMaxPages <= 0 || repo.ReferrerListMaxPages > maxReferrerPages {
		repo.ReferrerListMaxPages = maxReferrerPages
	}
	where := repo.Reference.Registry + "/" + repo.Reference.Repository
	var refs []ocispec.Descriptor
	err := withRetry(ctx, log, "list referrers of "+bundle.Digest.String(), func(int) error {
		refs = refs[:0]
		// No artifactType filter: some registries report the config media
		// type as a referrer's artifactType, so the manifest itself decides.
		return repo.Referrers(ctx, bundle, "", func(page []ocispec.Descriptor) error {
			if len(refs)+len(page) > maxReferrers {
				return fmt.Errorf("%s lists more than %d referrers of kit %s, and a kit has a few signatures; "+
					"check the registry, or import the kit from a file: %w", where, maxReferrers, bundle.Digest, errdef.ErrSizeExceedsLimit)
			}
			refs = append(refs, page...)
			return nil
		})
	})
	if errors.Is(err, orasErrdef.ErrTooManyPages) {
		return nil, fmt.Errorf("%s lists the referrers of kit %s on more than %d pages, and a kit has a few "+
			"signatures; check the registry, or import the kit from a file: %w", where, bundle.Digest, maxReferrerPages, errdef.ErrSizeExceedsLimit)
	}
	if err != nil {
		return nil, fmt.Errorf("listing signatures of kit %s: %w", bundle.Digest, err)
	}
	return refs, nil
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

// fetchReference reads the manifest or index that reference names, checks
// its bytes against its digest, and counts them in storage's bytes read.
func fetchReference(ctx context.Context, repo *remote.Repository, reference string, storage *resumingStorage) (ocispec.Descriptor, []byte, error) {
	var (
		desc ocispec.Descriptor
		raw  []byte
	)
	err := withRetry(ctx, storage.log, "resolve "+reference, func(int) error {
		d, rc, err := repo.FetchReference(ctx, reference)
		if err != nil {
			return err
		}
		defer rc.Close()
		if d.Size > maxManifestSize || d.Size < 0 {
			return fmt.Errorf("%s declares %d bytes, over the %d byte limit of a manifest: %w",
				reference, d.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
		}
		b, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
		if err != nil {
			return err
		}
		desc, raw = d, b
		return nil
	})
	where := repo.Reference.Registry + "/" + repo.Reference.Repository
	if errors.Is(err, errdef.ErrNotFound) {
		return desc, nil, fmt.Errorf("resolving %s in %s: %s: %w", reference, where,
			notFoundAdvice(repo, reference), errdef.ErrNotFound)
	}
	if err != nil {
		return desc, nil, fmt.Errorf("resolving %s in %s: %w", reference, where, err)
	}
	storage.bytes.Add(int64(len(raw)))
	if err := desc.Digest.Validate(); err != nil {
		return desc, nil, fmt.Errorf("%s in %s has digest %q: %v: %w", reference, where, desc.Digest, err, errdef.ErrInvalidKit)
	}
	if got := desc.Digest.Algorithm().FromBytes(raw); int64(len(raw)) != desc.Size || got != desc.Digest {
		return desc, nil, fmt.Errorf("manifest %s (%s in %s) does not match its digest: its %d bytes hash to %s; "+
			"the registry holds a damaged or altered copy%s: %w",
			desc.Digest, reference, where, len(raw), got, damagedCopyAdvice, errdef.ErrDigestMismatch)
	}
	return desc, raw, nil
}

// referenceName words a tag or digest for a message: "digest sha256:…"
// or "tag 1.0.0", so that a short tag does not read as a count.
func referenceName(reference string) string {
	if strings.Contains(reference, ":") {
		return "digest " + reference
	}
	return "tag " + reference
}

// damagedCopyAdvice follows the message of content from a registry that
// does not match its digest. A push sends no blob or manifest that the
// registry reports present, so pushing the kit again does not replace
// a damaged copy.
const damagedCopyAdvice = "; pushing the kit again does not replace it, because a push skips what the registry " +
	"holds already. Import the kit file instead, or remove the damaged copy at the registry (delete it and run " +
	"the registry's garbage collection) and push the kit again"

// notFoundAdvice explains a registry's 404 for reference, a tag or a
// digest, and names the commands that list the repository's tags. A
// registry returns 404 for a missing repository too, so the advice covers
// both.
func notFoundAdvice(repo *remote.Repository, reference string) string {
	where := repo.Reference.Registry + "/" + repo.Reference.Repository
	oras, crane := "oras repo tags", "crane ls"
	if repo.PlainHTTP {
		oras, crane = "oras repo tags --plain-http", "crane ls --insecure"
	}
	missing := "tag " + reference
	if _, err := digest.Parse(reference); err == nil {
		missing = "manifest " + reference
	}
	return fmt.Sprintf("the registry has no %s in repository %s, or no such repository; check the tag or digest "+
		"and the repository, and list the repository's tags with `%s %s` or `%s %s`", missing, where, oras, where, crane, where)
}

// isBundleIndex reports whether raw, of the given media type, is an OCI
// image index with the kit's bundle artifact type. importer checks the rest.
func isBundleIndex(mediaType string, raw []byte) bool {
	if mediaType != ocispec.MediaTypeImageIndex {
		return false
	}
	var probe struct {
		ArtifactType string `json:"artifactType"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.ArtifactType == oci.ArtifactTypeBundle
}

// describeArtifact names what a manifest or index of the given media type
// is, for the message that rejects it as a kit.
func describeArtifact(mediaType string, raw []byte) string {
	var probe struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	_ = json.Unmarshal(raw, &probe)
	switch mediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		if probe.ArtifactType == "" {
			return fmt.Sprintf("an image index without an artifact type (%s), such as a multi-platform container image", mediaType)
		}
		return fmt.Sprintf("an image index of artifact type %s", probe.ArtifactType)
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		artifactType := probe.ArtifactType
		if artifactType == "" {
			artifactType = probe.Config.MediaType
		}
		switch artifactType {
		case ocispec.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
			return fmt.Sprintf("a container image manifest (%s)", mediaType)
		case oci.MediaTypeSigstoreBundle:
			return "a signature manifest (" + oci.MediaTypeSigstoreBundle + "), which signs a kit or another manifest"
		}
		return fmt.Sprintf("an image manifest of artifact type %s", artifactType)
	}
	return "content of media type " + mediaType
}
