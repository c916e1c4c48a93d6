package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	internalerrdef "stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Image statuses in a mirror report.
const (
	StatusPushed  = "pushed"  // something was sent
	StatusPresent = "present" // the registry held everything already
	StatusPlanned = "planned" // dry run: would be pushed
)

// ImageResult reports one mirrored image.
type ImageResult struct {
	Source       string `json:"source"`
	Target       string `json:"target"`
	Digest       string `json:"digest"`
	Status       string `json:"status"`
	BlobsPushed  int64  `json:"blobsPushed"`
	BlobsSkipped int64  `json:"blobsSkipped"`
	BytesPushed  int64  `json:"bytesPushed"`
	// Tagged is true when this run set the target tag, which then named
	// no manifest or another one.
	Tagged    bool `json:"tagged"`
	Referrers int  `json:"referrers"`
}

// MirrorOptions configures MirrorImages.
type MirrorOptions struct {
	// DryRun lists the target references without contacting the registry.
	DryRun bool
	// Repository opens a target repository; required unless DryRun.
	Repository func(ref string) (*remote.Repository, error)
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// TargetRef maps an image reference to its place under target
// (REGISTRY[/PREFIX]): the image's repository path without its registry
// host, with the same tag, or the digest when the reference has no tag.
// example.test/stella-ops/scanner:0.1.0 under reg.local/mirror becomes
// reg.local/mirror/stella-ops/scanner:0.1.0, and so does
// stella-ops/scanner:0.1.0, while scanner:0.1.0 becomes
// reg.local/mirror/library/scanner:0.1.0 (see ParseImageReference).
func TargetRef(imageRef, target, digest string) (string, error) {
	repository, tag, err := ImageTarget(imageRef)
	if err != nil {
		return "", fmt.Errorf("%w in the kit", err)
	}
	target = strings.TrimSuffix(target, "/")
	if target == "" || strings.Contains(target, "://") {
		return "", fmt.Errorf("mirror target %q: write it as REGISTRY or REGISTRY/PREFIX without a scheme", target)
	}
	out := target + "/" + repository
	if tag != "" {
		return out + ":" + tag, nil
	}
	return out + "@" + digest, nil
}

// ImageTarget returns the repository path without the registry host, and
// the tag, under which mirror pushes the image imageRef. A reference with
// a tag and a digest keeps its tag, which the parser drops for the
// digest. tag is "" for a reference without a valid tag, which mirror
// pushes by digest.
func ImageTarget(imageRef string) (repository, tag string, err error) {
	ref, err := ParseImageReference(imageRef)
	if err != nil {
		return "", "", fmt.Errorf("image reference %q: %w", imageRef, err)
	}
	name, _, _ := strings.Cut(imageRef, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tagged := ref
		tagged.Reference = name[i+1:]
		if tagged.ValidateReferenceAsTag() == nil {
			return ref.Repository, tagged.Reference, nil
		}
	}
	return ref.Repository, "", nil
}

// Host names and the namespace that Docker's reference parser gives
// Docker Hub repositories.
const (
	dockerHubHost       = "docker.io"
	dockerHubLegacyHost = "index.docker.io"
	dockerHubNamespace  = "library/"
)

// ParseImageReference parses an image reference as Docker tools read it,
// without contacting any host. The first path component is a registry host
// only when it contains '.' or ':', is "localhost", or has upper-case
// letters. Otherwise the whole path is the repository on docker.io, so
// stella-ops/scanner:0.1.0 is the repository stella-ops/scanner, not the
// repository scanner on a host named stella-ops. A repository of one path
// component on docker.io gets the namespace library, so scanner:0.1.0,
// docker.io/scanner:0.1.0 and index.docker.io/scanner:0.1.0 all name
// docker.io/library/scanner:0.1.0. These are the rules of
// ParseNormalizedNamed in github.com/distribution/reference v0.6.0, and
// crane (go-containerregistry v0.22.1) reads the same repository paths.
func ParseImageReference(imageRef string) (registry.Reference, error) {
	first, rest, found := strings.Cut(imageRef, "/")
	switch {
	case !found:
		return registry.ParseReference(dockerHubHost + "/" + dockerHubNamespace + imageRef)
	case !isRegistryHost(first):
		return registry.ParseReference(dockerHubHost + "/" + imageRef)
	case first == dockerHubHost || first == dockerHubLegacyHost:
		// A tag or digest contains no '/', so a '/' in rest separates
		// path components.
		if !strings.Contains(rest, "/") {
			rest = dockerHubNamespace + rest
		}
		return registry.ParseReference(dockerHubHost + "/" + rest)
	}
	return registry.ParseReference(imageRef)
}

// isRegistryHost reports whether the first path component of an image
// reference names a registry host, by the rule of Docker's reference
// parser (splitDockerDomain in github.com/distribution/reference v0.6.0).
func isRegistryHost(component string) bool {
	return strings.ContainsAny(component, ".:") || component == "localhost" || strings.ToLower(component) != component
}

// MirrorImages copies every image child of the bundle index from src into
// its own repository under target, keeping every platform and digest, and
// copies the referrers of each image and of its platform manifests that src
// can find (when src is a content.PredecessorFinder, such as the store).
// An image whose tag already names its digest, with every referrer present,
// is counted as present and nothing is sent.
func MirrorImages(ctx context.Context, src content.ReadOnlyStorage, bundle ocispec.Index, target string, opts MirrorOptions) ([]ImageResult, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkImageReferences(bundle.Manifests); err != nil {
		return nil, err
	}
	if err := checkMirrorCollisions(bundle.Manifests, target, log); err != nil {
		return nil, err
	}
	out := []ImageResult{}
	for _, child := range bundle.Manifests {
		if child.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		srcRef := child.Annotations[oci.AnnotationImageRef]
		dst, err := TargetRef(srcRef, target, child.Digest.String())
		if err != nil {
			return out, err
		}
		if err := checkComplete(ctx, src, srcRef, child); err != nil {
			return out, err
		}
		res := ImageResult{Source: srcRef, Target: dst, Digest: child.Digest.String(), Status: StatusPlanned}
		if opts.DryRun {
			out = append(out, res)
			continue
		}
		if err := mirrorImage(ctx, src, child, dst, opts, log, &res); err != nil {
			return out, fmt.Errorf("mirroring %s to %s: %w", srcRef, dst, err)
		}
		log.Info("mirrored image", "target", dst, "digest", child.Digest, "status", res.Status)
		out = append(out, res)
	}
	return out, nil
}

// checkImageReferences rejects a kit with an image reference that mirror
// cannot map to a target, before anything is pushed. Build rejects such a
// reference, so the kit was edited by hand or written by another tool.
func checkImageReferences(children []ocispec.Descriptor) error {
	for _, child := range children {
		if child.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		ref := child.Annotations[oci.AnnotationImageRef]
		if _, _, err := ImageTarget(ref); err != nil {
			return fmt.Errorf("%v in the kit, so mirror cannot name its target and pushed nothing. Build the kit again with "+
				"`stella ouk build` and a valid reference, such as registry.example/stella-ops/scanner:0.1.0, "+
				"or copy image %s by hand: %w", err, child.Digest, internalerrdef.ErrInvalidKit)
		}
	}
	return nil
}

// checkMirrorCollisions rejects a kit with two images that would go to one
// tag under target, before anything is pushed. Kits built before two-part
// references were read as Docker reads them, and kits written by other
// tools, can carry such a pair, which build now rejects. A pair in which
// one reference has no tag or digest only gets a warning, because mirror
// pushes that image by digest and so overwrites nothing, and kits built
// before build rejected such a pair still mirror as they did.
func checkMirrorCollisions(children []ocispec.Descriptor, target string, log *slog.Logger) error {
	collisions, err := FindTargetCollisions(children)
	if err != nil {
		return err
	}
	for _, collision := range collisions {
		if collision.Untagged != "" {
			log.Warn(collision.Error() + ". Build the kit again with a tag on each reference")
			continue
		}
		dst := strings.TrimSuffix(target, "/") + "/" + collision.Target
		return fmt.Errorf("image references %q (%s) and %q (%s) of the kit both mirror to %s, so the second push "+
			"would move the tag away from the first image; nothing was pushed. Build the kit again with "+
			"`stella ouk build`, giving each image its own repository or tag, or copy the two images by hand "+
			"to targets of your choice: %w", collision.First, collision.FirstDigest, collision.Second,
			collision.SecondDigest, dst, internalerrdef.ErrInvalidKit)
	}
	return nil
}

// MissingBlobError reports a blob of an image that the kit source lacks,
// such as a folder unpacked from a delta, which leaves out the blobs of
// its base kit.
type MissingBlobError struct {
	// Image is the image reference in the kit.
	Image string
	// Blob is the descriptor of the missing blob or manifest.
	Blob ocispec.Descriptor
}

func (e *MissingBlobError) Error() string {
	return fmt.Sprintf("image %s lacks %s %s in the kit", e.Image, e.Blob.MediaType, e.Blob.Digest)
}

// Unwrap returns errdef.ErrNotFound.
func (e *MissingBlobError) Unwrap() error { return errdef.ErrNotFound }

// checkComplete checks that src holds every manifest and blob of the image
// img, so that a dry run finds what a real run would miss, and a real run
// fails before it sends anything. It reads the manifests and checks that
// the other blobs exist, without reading them.
func checkComplete(ctx context.Context, src content.ReadOnlyStorage, image string, img ocispec.Descriptor) error {
	found, err := src.Exists(ctx, img)
	if err != nil {
		return fmt.Errorf("checking %s of image %s: %w", img.Digest, image, err)
	}
	if !found {
		return &MissingBlobError{Image: image, Blob: img}
	}
	if !isManifest(img.MediaType) {
		return nil
	}
	children, err := content.Successors(ctx, src, img)
	if err != nil {
		return fmt.Errorf("reading manifest %s of image %s: %w", img.Digest, image, err)
	}
	for _, c := range children {
		if err := checkComplete(ctx, src, image, c); err != nil {
			return err
		}
	}
	return nil
}

// mirrorImage copies img and its referrers to dst and sets the tag of dst
// last, as publish does for a kit, so that a failure or interrupt never
// leaves the tag on an image whose signatures are missing.
func mirrorImage(ctx context.Context, src content.ReadOnlyStorage, img ocispec.Descriptor, dst string,
	opts MirrorOptions, log *slog.Logger, res *ImageResult) error {
	repo, err := opts.Repository(dst)
	if err != nil {
		return err
	}
	img = ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size, ArtifactType: img.ArtifactType}
	referrers, err := findReferrers(ctx, src, img)
	if err != nil {
		return err
	}
	res.Referrers = len(referrers)
	p := newPusher(repo, log)
	tag := repo.Reference.Reference
	tagged := !strings.HasPrefix(tag, "sha256:")
	var state tagState
	if tagged {
		if state, err = resolveTag(ctx, repo, log, tag); err != nil {
			return err
		}
	}
	// notMoved adds the state of the tag, when dst has one, to an error
	// that occurs before the tag step.
	notMoved := func(err error) error {
		if !tagged {
			return err
		}
		return state.notMoved(err, img.Digest)
	}
	if err := p.copyGraph(ctx, src, img); err != nil {
		return notMoved(err)
	}
	if len(referrers) > 0 {
		if err := detectReferrersAPI(ctx, repo, img, log); err != nil {
			return notMoved(err)
		}
	}
	for _, r := range referrers {
		if err := p.copyGraph(ctx, src, r); err != nil {
			return notMoved(fmt.Errorf("pushing referrer %s: %w", r.Digest, err))
		}
	}
	if tagged && !state.names(img.Digest) {
		if state.previous != "" {
			logTagMove(log, dst, state.previous, img.Digest)
		}
		if err := withRetry(ctx, log, "tag "+tag, func(int) error { return repo.Tag(ctx, img, tag) }); err != nil {
			return state.tagFailed(ctx, repo, fmt.Errorf("tagging %s: %w", tag, err), img.Digest)
		}
		res.Tagged = true
	}
	res.BlobsPushed, res.BlobsSkipped, res.BytesPushed = p.pushed.Load(), p.skipped.Load(), p.bytes.Load()
	res.Status = StatusPresent
	if res.BlobsPushed > 0 || res.Tagged {
		res.Status = StatusPushed
	}
	return nil
}

// logTagMove logs that tag ref, which named the manifest from, is set to
// the manifest to. Registries let a push move a tag, so this is no error,
// but the operator learns which content the tag named before.
func logTagMove(log *slog.Logger, ref string, from, to digest.Digest) {
	log.Info("moving tag to another digest", "tag", ref, "from", from, "to", to)
}

func isNotFound(err error) bool {
	return errors.Is(err, errdef.ErrNotFound)
}

// findReferrers returns the manifests in src whose subject is img or one of
// its platform manifests.
func findReferrers(ctx context.Context, src content.ReadOnlyStorage, img ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	finder, ok := src.(content.PredecessorFinder)
	if !ok {
		return nil, nil
	}
	nodes := []ocispec.Descriptor{img}
	if img.MediaType == ocispec.MediaTypeImageIndex || img.MediaType == mediaTypeDockerManifestList {
		b, err := fetchManifest(ctx, src, img)
		if err != nil {
			return nil, err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("decoding image index %s: %w", img.Digest, err)
		}
		nodes = append(nodes, idx.Manifests...)
	}
	var out []ocispec.Descriptor
	for _, n := range nodes {
		preds, err := finder.Predecessors(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("finding referrers of %s: %w", n.Digest, err)
		}
		for _, p := range preds {
			if p.MediaType != ocispec.MediaTypeImageManifest {
				continue
			}
			b, err := fetchManifest(ctx, src, p)
			if err != nil {
				return nil, err
			}
			var m ocispec.Manifest
			if json.Unmarshal(b, &m) == nil && m.Subject != nil && m.Subject.Digest == n.Digest {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
