package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// MaxUnsignedBytes is the most a tar stream may store outside the graph of
// its signed bundle index. Such blobs are the bundle index, manifests,
// configs and signatures that arrive before the signature is checked, and
// the small manifests that index.json names besides the bundle.
const MaxUnsignedBytes = 64 << 20

// MaxUnsignedBlobs is the most blobs a tar stream may store outside the
// graph of its signed bundle index. A kit needs a handful, and the limit
// stops a stream of a million tiny blobs.
const MaxUnsignedBlobs = 4096

// streamGuard decides which blobs of a tar stream the import may store, so
// that a forged or padded kit cannot fill the disk. Until the signature of
// the bundle index verifies, only blobs of at most MaxManifestSize are
// stored, up to MaxUnsignedBytes in all. Once it verifies, every blob the
// signed bundle index reaches is stored, and other blobs still count
// against that budget.
type streamGuard struct {
	s        *session
	index    *ocispec.Index
	verified bool
	// graph holds the blobs the verified bundle index reaches, with the
	// descriptor that names them.
	graph    map[digest.Digest]ocispec.Descriptor
	expanded map[digest.Digest]bool
	// pending contains the manifests and indexes of graph that the store
	// lacks, so their children are not known yet. The signed graph is
	// known in full once the signature verified and pending is empty.
	pending  map[digest.Digest]ocispec.Descriptor
	unsigned int64
	// unsignedBlobs counts the blobs behind unsigned.
	unsignedBlobs int
	spaceChecked  bool
	// tarStream is set for a kit read from a tar stream, whose entry
	// order decides what arrives before the signature can be checked.
	tarStream bool
	inputs    *SignatureInputs
}

func newStreamGuard(s *session) *streamGuard {
	return &streamGuard{s: s, graph: map[digest.Digest]ocispec.Descriptor{}, expanded: map[digest.Digest]bool{},
		pending: map[digest.Digest]ocispec.Descriptor{}, inputs: NewSignatureInputs()}
}

// admit returns an error when the blob d may not be stored.
func (g *streamGuard) admit(ctx context.Context, d ocispec.Descriptor) error {
	if signed, ok := g.graph[d.Digest]; ok {
		// The store would read every byte that the tar header declares
		// before the digest check failed, so a header that inflates a
		// signed blob could fill the disk with zeros from a small file.
		if d.Size != signed.Size {
			return fmt.Errorf("blob %s is %d bytes in the kit, but its signed descriptor declares %d bytes; "+
				"the file is corrupt or was altered, so copy the kit again: %w", d.Digest, d.Size, signed.Size, errdef.ErrSizeMismatch)
		}
		// A tar stream in another order than `stella ouk build` writes can
		// carry a large blob before the last manifest of the signed graph.
		// NOTE: the check then counts only the part of the graph that has
		// arrived, and it does not run again for the rest.
		if d.Size > MaxManifestSize && g.tarStream {
			return g.checkSpace(ctx)
		}
		return nil
	}
	if d.Size > MaxManifestSize {
		if !g.verified {
			return g.unverifiedBlobError(ctx, d)
		}
		if pending, ok := g.firstPending(); ok && g.tarStream {
			return fmt.Errorf("blob %s (%d bytes) comes before manifest %s of the signed graph, which may "+
				"reference it, so import cannot tell whether the signature covers the blob. `stella ouk build` "+
				"writes index.json, manifests, configs and signatures before larger blobs. %s: %w",
				d.Digest, d.Size, pending.Digest, reorderAdvice, errdef.ErrInvalidKit)
		}
		return fmt.Errorf("blob %s (%d bytes) is not part of the signed bundle index, so the signature "+
			"does not cover it; get the kit again from its builder: %w", d.Digest, d.Size, errdef.ErrInvalidKit)
	}
	if g.unsignedBlobs >= MaxUnsignedBlobs || g.unsigned+d.Size > MaxUnsignedBytes {
		return g.unsignedBudgetError(d)
	}
	return nil
}

// unsignedBudgetError returns the error for the blob d, which would take
// the blobs stored outside the signed graph over MaxUnsignedBlobs or
// MaxUnsignedBytes. Before the signature is checked, and in a tar stream
// before every manifest of the signed graph has arrived, those blobs may
// well belong to the kit, so the error names the order.
func (g *streamGuard) unsignedBudgetError(d ocispec.Descriptor) error {
	limit := fmt.Sprintf("%d blobs", MaxUnsignedBlobs)
	if g.unsignedBlobs < MaxUnsignedBlobs {
		limit = fmt.Sprintf("%d bytes", MaxUnsignedBytes)
	}
	if !g.verified && g.tarStream {
		return fmt.Errorf("kit carries more than %s before its signature could be checked (at blob %s), because "+
			"the bundle index, its signature manifests or their bundles had not arrived. `stella ouk build` writes "+
			"index.json, manifests, configs and signatures before other blobs. %s: %w",
			limit, d.Digest, reorderAdvice, errdef.ErrSizeExceedsLimit)
	}
	if pending, ok := g.firstPending(); ok && g.tarStream {
		return fmt.Errorf("kit carries more than %s outside the part of its signed graph that has arrived (at "+
			"blob %s), because manifest %s of that graph had not arrived. `stella ouk build` writes index.json, "+
			"manifests, configs and signatures before other blobs. %s: %w",
			limit, d.Digest, pending.Digest, reorderAdvice, errdef.ErrSizeExceedsLimit)
	}
	return fmt.Errorf("kit carries more than %s outside its signed bundle index (at blob %s); "+
		"get the kit again from its builder: %w", limit, d.Digest, errdef.ErrSizeExceedsLimit)
}

// seen records a blob the import stored, or found stored already, and
// advances the signature check and the signed graph.
func (g *streamGuard) seen(ctx context.Context, d ocispec.Descriptor, stored bool) error {
	if desc, ok := g.graph[d.Digest]; ok {
		if err := g.expand(ctx, desc); err != nil {
			return err
		}
		return g.checkSpaceOnceKnown(ctx)
	}
	if stored {
		g.unsigned += d.Size
		g.unsignedBlobs++
	}
	if g.verified || g.index == nil {
		return nil
	}
	return g.tryVerify(ctx)
}

// setIndex records index.json once it has been read.
func (g *streamGuard) setIndex(ctx context.Context, index *ocispec.Index) error {
	g.index = index
	return g.tryVerify(ctx)
}

// tryVerify checks the signature of the bundle index once the bundle index,
// every signature manifest in index.json and their bundles are stored. A
// signature that fails rejects the kit there and then.
func (g *streamGuard) tryVerify(ctx context.Context) error {
	if !g.ready(ctx) {
		return nil
	}
	bm, err := g.s.findBundle(ctx, *g.index)
	if err != nil {
		return err
	}
	if err := g.s.checkSignature(ctx, *g.index, bm); err != nil {
		return err
	}
	g.verified = true
	g.s.verifiedEarly = true
	if err := g.expand(ctx, bm.desc); err != nil {
		return err
	}
	tables, ok, err := g.s.planTables(ctx, *g.index, bm)
	if err != nil {
		return err
	}
	if ok {
		if err := g.expand(ctx, tables); err != nil {
			return err
		}
	}
	return g.checkSpaceOnceKnown(ctx)
}

// ready reports whether every image index and signature manifest that
// index.json names, and every signature bundle, is in the store.
func (g *streamGuard) ready(ctx context.Context) bool {
	store := g.s.opts.Store
	return g.inputs.Ready(*g.index,
		func(d ocispec.Descriptor) bool {
			ok, err := store.Exists(ctx, d)
			return err == nil && ok
		},
		func(d ocispec.Descriptor) ([]byte, error) { return g.s.readManifest(ctx, d) })
}

// missingHeadError returns the error for a kit source that lacks a blob
// that checking the kit's signature needs. It names the first such blob,
// and for a layout folder its file.
func (s *session) missingHeadError(ctx context.Context) error {
	g := s.guard
	store := s.opts.Store
	input, missing := NewSignatureInputs().missing(*g.index,
		func(d ocispec.Descriptor) bool {
			ok, err := store.Exists(ctx, d)
			return err == nil && ok
		},
		func(d ocispec.Descriptor) ([]byte, error) { return s.readManifest(ctx, d) })
	if !missing {
		return fmt.Errorf("the source lacks the bundle index, a signature manifest or a signature bundle that "+
			"index.json names, so the kit's signature cannot be checked: %w", errdef.ErrInvalidKit)
	}
	d := input.desc
	switch {
	case s.dir != "":
		return fmt.Errorf("the layout folder lacks %s, the file of %s, so the kit's signature cannot be checked. "+
			"The folder may be incomplete: copy it again: %w", blobPath(s.dir, d.Digest), input.description, errdef.ErrInvalidKit)
	case s.opts.Registry != "":
		return fmt.Errorf("%s does not serve %s (%s), so the kit's signature cannot be checked. Copy the kit "+
			"again with its referrers, such as with `oras cp -r`, or push it again with `stella ouk push`: %w",
			s.opts.Registry, input.description, d.Digest, errdef.ErrInvalidKit)
	}
	return fmt.Errorf("the kit source lacks %s (%s), so the kit's signature cannot be checked. Get the kit "+
		"again from its builder: %w", input.description, d.Digest, errdef.ErrInvalidKit)
}

// expand adds the children of a stored manifest or index in the signed
// graph, and theirs, to the graph.
func (g *streamGuard) expand(ctx context.Context, d ocispec.Descriptor) error {
	g.graph[d.Digest] = d
	if g.expanded[d.Digest] || !isManifest(d.MediaType) {
		return nil
	}
	ok, err := g.s.opts.Store.Exists(ctx, d)
	if err != nil {
		return err
	}
	if !ok {
		g.pending[d.Digest] = d
		return nil
	}
	g.expanded[d.Digest] = true
	delete(g.pending, d.Digest)
	kids, err := g.s.childrenOf(ctx, d)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if _, ok := g.graph[k.Digest]; ok {
			continue
		}
		if err := g.expand(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// firstPending returns the manifest of the signed graph with the lowest
// digest among those that have not arrived, and false when all have.
func (g *streamGuard) firstPending() (ocispec.Descriptor, bool) {
	if len(g.pending) == 0 {
		return ocispec.Descriptor{}, false
	}
	digests := slices.Sorted(maps.Keys(g.pending))
	return g.pending[digests[0]], true
}

// checkReferenced rejects the kit when it stored a blob that nothing in
// index.json reaches.
func (s *session) checkReferenced(ctx context.Context, index ocispec.Index) error {
	reached := map[digest.Digest]bool{}
	// A blob is walked once per media type, because an entry with a
	// damaged media type reaches nothing, but the same blob may be listed
	// intact elsewhere, such as a signature manifest in the referrers tag
	// index.
	type typedDigest struct {
		digest    digest.Digest
		mediaType string
	}
	walked := map[typedDigest]bool{}
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		if walked[typedDigest{d.Digest, d.MediaType}] {
			return
		}
		walked[typedDigest{d.Digest, d.MediaType}] = true
		reached[d.Digest] = true
		if d.Size > MaxManifestSize {
			return
		}
		// A manifest that cannot be read reaches nothing; finish reports it.
		kids, _ := s.childrenOf(ctx, d)
		for _, k := range kids {
			walk(k)
		}
	}
	for _, d := range index.Manifests {
		walk(d)
	}
	var stray []digest.Digest
	for _, d := range s.added {
		if !reached[d.Digest] {
			stray = append(stray, d.Digest)
		}
	}
	switch len(stray) {
	case 0:
	case 1:
		return fmt.Errorf("kit carries blob %s, which nothing in index.json references; "+
			"get the kit again from its builder: %w", stray[0], errdef.ErrInvalidKit)
	default:
		return fmt.Errorf("kit carries %d blobs that nothing in index.json references, such as %s; "+
			"get the kit again from its builder: %w", len(stray), stray[0], errdef.ErrInvalidKit)
	}
	return nil
}

// reorderAdvice is the next step for a kit whose tar has another entry
// order than `stella ouk build` writes, such as a plain tar of a folder.
const reorderAdvice = "A kit in another order, such as a plain tar of a folder that oras wrote, imports as a " +
	"layout folder once extracted, or as a tar with oci-layout, index.json and the small blobs first"

// unverifiedBlobError returns the error for the large blob d, which the
// stream carries before the signature of the bundle index could be checked.
// The stream is a kit in another order or no kit at all, and the error
// names which one, as far as index.json and the blobs so far show.
func (g *streamGuard) unverifiedBlobError(ctx context.Context, d ocispec.Descriptor) error {
	if g.index == nil {
		return fmt.Errorf("blob %s (%d bytes) comes before index.json, which a kit written by `stella ouk build` "+
			"lists first. An image archive (oci-archive) looks like this and is not a kit: give images to "+
			"`stella ouk build --image`. %s: %w", d.Digest, d.Size, reorderAdvice, errdef.ErrInvalidKit)
	}
	listing, pending := g.bundleListing(ctx)
	switch {
	case listing == bundleAbsent:
		return fmt.Errorf("this is not a Stella Ops kit: its index.json lists no kit bundle index (artifact type %s), "+
			"as an image archive's does; import a kit written by `stella ouk build`, and give images to "+
			"`stella ouk build --image`: %w", oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	case listing == bundlePending && !g.kitEntries():
		return fmt.Errorf("blob %s (%d bytes) comes before the image index %s that index.json lists, so import "+
			"cannot tell whether this is a Stella Ops kit in another order or an image archive. %s. An image "+
			"archive is not a kit: give images to `stella ouk build --image`: %w",
			d.Digest, d.Size, pending.Digest, reorderAdvice, errdef.ErrInvalidKit)
	}
	return fmt.Errorf("blob %s (%d bytes) comes before the kit's signature could be checked, because "+
		"the bundle index, its signature manifests or their bundles had not arrived. `stella ouk build` writes "+
		"index.json, manifests, configs and signatures before larger blobs. %s: %w",
		d.Digest, d.Size, reorderAdvice, errdef.ErrInvalidKit)
}

// bundleListing is the state of the kit's bundle index as index.json and
// the blobs so far show it.
type bundleListing int

const (
	// bundleListed means that an entry of index.json has the bundle's
	// artifact type or is an image index that arrived and has it.
	bundleListed bundleListing = iota
	// bundlePending means that an image index that index.json lists has
	// not arrived, so it may be the bundle index.
	bundlePending
	// bundleAbsent means that no entry of index.json is or may be a
	// bundle index, as in an image archive.
	bundleAbsent
)

// bundleListing checks the entries of index.json for the bundle index. With
// bundlePending it also returns the first image index that has not arrived.
func (g *streamGuard) bundleListing(ctx context.Context) (bundleListing, ocispec.Descriptor) {
	listing, pending := bundleAbsent, ocispec.Descriptor{}
	for _, d := range g.index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		if d.ArtifactType == oci.ArtifactTypeBundle || d.Size > MaxManifestSize {
			return bundleListed, ocispec.Descriptor{}
		}
		if ok, err := g.s.opts.Store.Exists(ctx, d); err != nil || !ok {
			if listing == bundleAbsent {
				listing, pending = bundlePending, d
			}
			continue
		}
		raw, err := g.s.readManifest(ctx, d)
		if err != nil {
			return bundleListed, ocispec.Descriptor{}
		}
		var probe struct {
			ArtifactType string `json:"artifactType"`
		}
		if json.Unmarshal(raw, &probe) != nil || probe.ArtifactType == oci.ArtifactTypeBundle {
			return bundleListed, ocispec.Descriptor{}
		}
	}
	return listing, pending
}

// kitEntries reports whether index.json lists an entry that only a kit
// has: one with a Stella Ops artifact type or annotation, such as the DB
// manifest that a folder written by `oras cp -r` lists.
func (g *streamGuard) kitEntries() bool {
	for _, d := range g.index.Manifests {
		if strings.HasPrefix(d.ArtifactType, oci.ArtifactTypePrefix) {
			return true
		}
		for key := range d.Annotations {
			if strings.HasPrefix(key, oci.AnnotationPrefix) {
				return true
			}
		}
	}
	return false
}
