package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// PushOptions configures a kit push.
type PushOptions struct {
	// Logger receives progress and retries; nil discards.
	Logger *slog.Logger
	// SkipSBOMReferrer leaves out the SBOM referrer manifest that a push
	// otherwise attaches to the bundle index.
	SkipSBOMReferrer bool
	// AllowUnsigned permits the push of a kit that carries no signature.
	// Without it such a push fails before it resolves or sets the tag, since
	// importers that check signatures would reject whatever the tag then
	// names.
	AllowUnsigned bool
	// KitPath is the path of the kit file that PushKitStream reads. Its
	// errors about the file's content name that path, and "" names none.
	KitPath string
}

// PushResult summarises a kit push.
type PushResult struct {
	Reference    string     `json:"reference"`
	Digest       string     `json:"digest"`
	Version      string     `json:"version"`
	BlobsPushed  int64      `json:"blobsPushed"`
	BlobsSkipped int64      `json:"blobsSkipped"`
	BytesPushed  int64      `json:"bytesPushed"`
	Referrers    []Referrer `json:"referrers"`
}

// Referrer is a manifest attached to the bundle index, such as a
// signature.
type Referrer struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
	// Subject is the digest of the manifest the referrer is attached to.
	Subject string `json:"subject"`
}

type pusher struct {
	repo    *remote.Repository
	log     *slog.Logger
	pushed  atomic.Int64
	skipped atomic.Int64
	bytes   atomic.Int64
	// present records the digests that this push has sent or found in the
	// registry, so that each blob is checked and counted once.
	present sync.Map
	// tables lists the pre-built index tables of a kit tar stream, which
	// only an import of the file uses, so they are not pushed.
	tables map[digest.Digest]bool
	// kitPath is PushOptions.KitPath.
	kitPath string
}

func newPusher(repo *remote.Repository, log *slog.Logger) *pusher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &pusher{repo: repo, log: log}
}

// notePresent records that the registry holds d, because this push sent it
// (sent is true) or found it there, and counts it the first time only.
func (p *pusher) notePresent(d ocispec.Descriptor, sent bool) {
	if _, seen := p.present.LoadOrStore(d.Digest, struct{}{}); seen {
		return
	}
	if sent {
		p.pushed.Add(1)
		p.bytes.Add(d.Size)
		return
	}
	p.skipped.Add(1)
}

func (p *pusher) isPresent(d digest.Digest) bool {
	_, ok := p.present.Load(d)
	return ok
}

func (p *pusher) copyOptions(src content.ReadOnlyStorage) oras.CopyGraphOptions {
	return oras.CopyGraphOptions{
		PostCopy: func(_ context.Context, d ocispec.Descriptor) error {
			p.notePresent(d, true)
			return nil
		},
		OnCopySkipped: func(ctx context.Context, d ocispec.Descriptor) error {
			p.notePresent(d, false)
			return p.notePresentBelow(ctx, src, d)
		},
	}
}

// copyGraph copies root and everything below it that the registry lacks,
// running the copy again after a transient failure.
func (p *pusher) copyGraph(ctx context.Context, src content.ReadOnlyStorage, root ocispec.Descriptor) error {
	return withRetry(ctx, p.log, "push "+root.Digest.String(), func(int) error {
		return unwrapCopyError(oras.CopyGraph(ctx, src, knownStorage{p}, root, p.copyOptions(src)))
	})
}

// unwrapCopyError returns the error inside an *oras.CopyError, whose text
// names only the library's operation ("failed to perform \"Exists\" on
// destination"). knownStorage names the operation, the blob and the
// target repository in the error instead.
func unwrapCopyError(err error) error {
	var copyErr *oras.CopyError
	if errors.As(err, &copyErr) && copyErr.Err != nil {
		return copyErr.Err
	}
	return err
}

// notePresentBelow records the blobs below a manifest that the registry
// already contains, which the copy skips without descending. The walk reads
// the manifests from src and sends no request, so it assumes that a
// registry containing a manifest contains what the manifest names, as
// registries that validate manifests on push ensure. A manifest that src
// lacks ends the walk there, and the blobs below it go uncounted.
func (p *pusher) notePresentBelow(ctx context.Context, src content.ReadOnlyStorage, d ocispec.Descriptor) error {
	if !isManifest(d.MediaType) {
		return nil
	}
	if ok, err := src.Exists(ctx, d); err != nil || !ok {
		return nil
	}
	children, err := content.Successors(ctx, src, d)
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	for _, c := range children {
		if p.isPresent(c.Digest) {
			continue
		}
		p.notePresent(c, false)
		if err := p.notePresentBelow(ctx, src, c); err != nil {
			return err
		}
	}
	return nil
}

// knownStorage is the registry as a copy destination whose Exists returns
// true for blobs the pusher has already sent or found, so that each blob
// costs the registry one existence check at most.
type knownStorage struct{ p *pusher }

func (k knownStorage) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if k.p.isPresent(d.Digest) {
		return true, nil
	}
	found, err := k.p.repo.Exists(ctx, d)
	if err != nil {
		return false, fmt.Errorf("checking whether %s has %s %s: %w", k.target(), d.MediaType, d.Digest, err)
	}
	return found, nil
}

func (k knownStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := k.p.repo.Fetch(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s from %s: %w", d.MediaType, d.Digest, k.target(), err)
	}
	return rc, nil
}

func (k knownStorage) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := k.p.upload(ctx, d, r); err != nil {
		return fmt.Errorf("pushing %s %s to %s: %w", d.MediaType, d.Digest, k.target(), err)
	}
	return nil
}

// target returns the registry and repository that the pusher sends to.
func (k knownStorage) target() string {
	ref := k.p.repo.Reference
	return ref.Registry + "/" + ref.Repository
}

// upload sends d, read from r, to the registry. When r is a stream, the
// round tripper cannot send it again after a 408, 429 or 5xx response, so
// the error is then a *retrySkippedError, which withRetry retries.
func (p *pusher) upload(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	note := &retrySkippedNote{}
	err := tidyUploadError(p.repo.Push(context.WithValue(ctx, retrySkippedKey{}, note), d, r))
	if err != nil && note.skipped.Load() {
		return &retrySkippedError{err}
	}
	return err
}

// tidyUploadError shortens the error of a blob upload for people to read.
// The HTTP client quotes the registry's upload address, whose query
// contains the registry's session state: a few hundred characters that do
// not describe the cause, so the query is cut. When the blob read from
// the kit did not match its digest or could not be read, the kit is at
// fault, not the registry, so that error is returned alone.
func tidyUploadError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if errors.Is(ue.Err, errdef.ErrDigestMismatch) {
		return ue.Err
	}
	var kitErr *kitReadError
	if errors.As(ue.Err, &kitErr) {
		return kitErr
	}
	i := strings.IndexByte(ue.URL, '?')
	if i < 0 {
		return err
	}
	// Errors that wrap ue hold its text already, so the text is rewritten.
	return rewordedError{err, strings.ReplaceAll(err.Error(), ue.URL, ue.URL[:i])}
}

// rewordedError is an error with another text that still wraps the
// original, so errors.Is and errors.As see its causes.
type rewordedError struct {
	err  error
	text string
}

func (e rewordedError) Error() string { return e.text }
func (e rewordedError) Unwrap() error { return e.err }

// PushKit publishes a kit read from src, whose index.json is index, to repo
// and tags its bundle index with tag. The referrers of the bundle index
// listed in index go up before the tag, such as its signatures, but no
// delta manifest (see findRoots), and an SBOM referrer unless
// opts.SkipSBOMReferrer is set. Blobs that the registry has already are
// not sent again. A delta whose base kit repo lacks returns an error wrapping
// errdef.ErrBaseMissing. An error after the push resolved the tag is a
// *TagStateError, whose message states whether the tag moved.
func PushKit(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index, repo *remote.Repository, tag string, opts PushOptions) (*PushResult, error) {
	p := newPusher(repo, opts.Logger)
	if err := p.checkDeltaBase(ctx, index, src); err != nil {
		return nil, err
	}
	roots, err := findRoots(ctx, src, index)
	if err != nil {
		return nil, err
	}
	return p.publish(ctx, src, roots, tag, opts)
}

// publish pushes the bundle graph, then the signature and SBOM referrers,
// and sets the tag last. A failure or interrupt before the end thus leaves
// the tag on the kit it named before, which importers can still verify,
// and never on a kit whose signatures are missing. A referrer needs only
// its subject manifest in the registry, not a tag. On a registry without
// the referrers API, pushing a referrer sets the sha256-<hex> tag, which
// lists the referrers and names no kit.
func (p *pusher) publish(ctx context.Context, src content.ReadOnlyStorage, roots *kitRoots, tag string, opts PushOptions) (*PushResult, error) {
	if roots.signatureCount() == 0 && roots.damagedTag != nil && !opts.AllowUnsigned {
		// The kit's signatures may be in the damaged index, so the kit is
		// reported as damaged rather than as unsigned.
		return nil, fmt.Errorf("kit %s (%s) lists its signatures in an index that cannot be read (%v), so the layout "+
			"is damaged; copy it again from its source, and tag %s:%s was not set or moved: %w", roots.meta.Version,
			roots.bundle.Digest, roots.damagedTag, p.repo.Reference.Registry+"/"+p.repo.Reference.Repository, tag,
			errdef.ErrInvalidKit)
	}
	if roots.signatureCount() == 0 {
		if !opts.AllowUnsigned {
			return nil, fmt.Errorf("kit %s (%s) carries no signature, so importers that check signatures would reject it; "+
				"tag %s:%s was not set or moved. Build the kit with --key to sign it, or pass --allow-unsigned to push it "+
				"anyway for importers that skip the check: %w", roots.meta.Version, roots.bundle.Digest,
				p.repo.Reference.Registry+"/"+p.repo.Reference.Repository, tag, errdef.ErrSignature)
		}
		p.log.Warn("the kit carries no signature; importers will reject it unless they skip the check", "version", roots.meta.Version)
	}
	state, err := resolveTag(ctx, p.repo, p.log, tag)
	if err != nil {
		return nil, err
	}
	if err := p.copyGraph(ctx, src, roots.bundle); err != nil {
		if roots.base != nil && errors.Is(err, errdef.ErrNotFound) {
			return nil, state.notMoved(p.baseMissing(roots.meta.Version, *roots.base, err), roots.bundle.Digest)
		}
		return nil, state.notMoved(fmt.Errorf("pushing kit %s to %s: %w", roots.meta.Version, p.repo.Reference, err),
			roots.bundle.Digest)
	}
	res := &PushResult{
		Reference: state.ref,
		Digest:    roots.bundle.Digest.String(),
		Version:   roots.meta.Version,
		Referrers: []Referrer{},
	}
	refs, err := p.pushReferrers(ctx, src, roots, opts)
	if err != nil {
		return nil, state.notMoved(err, roots.bundle.Digest)
	}
	res.Referrers = refs
	if !state.names(roots.bundle.Digest) {
		if state.previous != "" {
			logTagMove(p.log, state.ref, state.previous, roots.bundle.Digest)
		}
		err := withRetry(ctx, p.log, "tag "+tag, func(int) error { return p.repo.Tag(ctx, roots.bundle, tag) })
		if err != nil {
			return nil, state.tagFailed(ctx, p.repo, fmt.Errorf("tagging kit %s as %s: %w", roots.meta.Version, tag, err),
				roots.bundle.Digest)
		}
	}
	res.BlobsPushed, res.BlobsSkipped, res.BytesPushed = p.pushed.Load(), p.skipped.Load(), p.bytes.Load()
	return res, nil
}

// pushReferrers attaches the kit's signatures and, unless
// opts.SkipSBOMReferrer is set, its SBOM to the bundle index, which must
// be in the registry already.
func (p *pusher) pushReferrers(ctx context.Context, src content.ReadOnlyStorage, roots *kitRoots, opts PushOptions) ([]Referrer, error) {
	if err := detectReferrersAPI(ctx, p.repo, roots.bundle, p.log); err != nil {
		return nil, err
	}
	out := []Referrer{}
	for _, r := range roots.referrers {
		if err := p.copyGraph(ctx, src, r.desc); err != nil {
			return nil, fmt.Errorf("pushing referrer %s (%s): %w", r.desc.Digest, r.artifactType, err)
		}
		if err := p.ensureListed(ctx, src, r.subject, r.desc); err != nil {
			return nil, err
		}
		out = append(out, Referrer{Digest: r.desc.Digest.String(), ArtifactType: r.artifactType,
			Subject: r.subject.Digest.String()})
	}
	if opts.SkipSBOMReferrer {
		return out, nil
	}
	ref, err := p.pushSBOMReferrer(ctx, src, roots)
	if err != nil {
		return nil, err
	}
	if ref != nil {
		out = append(out, *ref)
	}
	return out, nil
}

// pushSBOMReferrer attaches the kit's SBOM to the bundle index as an OCI
// 1.1 referrer, so that `oras discover` lists it beside the signatures. The
// referrer reuses the SBOM child's layer, which the bundle push has sent.
func (p *pusher) pushSBOMReferrer(ctx context.Context, src content.ReadOnlyStorage, roots *kitRoots) (*Referrer, error) {
	child, ok := oci.Child(roots.bundleIdx, oci.RoleSBOM)
	if !ok {
		return nil, nil
	}
	b, err := fetchManifest(ctx, src, child)
	if err != nil {
		return nil, err
	}
	var sbom ocispec.Manifest
	if err := json.Unmarshal(b, &sbom); err != nil {
		return nil, fmt.Errorf("decoding SBOM manifest %s: %v: %w", child.Digest, err, errdef.ErrInvalidKit)
	}
	subject := roots.bundle
	m := ocispec.Manifest{
		Versioned:    sbom.Versioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.MediaTypeSPDX,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       sbom.Layers,
		Subject:      &subject,
		Annotations:  map[string]string{oci.AnnotationCreated: roots.meta.Created.UTC().Format("2006-01-02T15:04:05Z")},
	}
	m.SchemaVersion = 2
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSPDX,
		Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	mem := &memoryStorage{}
	mem.put(desc.Digest, raw)
	mem.put(ocispec.DescriptorEmptyJSON.Digest, ocispec.DescriptorEmptyJSON.Data)
	// The SBOM layer is fetched from src when the registry lacks it.
	both := &fallbackStorage{first: mem, second: src}
	if err := p.copyGraph(ctx, both, desc); err != nil {
		return nil, fmt.Errorf("pushing SBOM referrer %s: %w", desc.Digest, err)
	}
	if err := p.ensureListed(ctx, both, subject, desc); err != nil {
		return nil, err
	}
	return &Referrer{Digest: desc.Digest.String(), ArtifactType: oci.MediaTypeSPDX, Subject: subject.Digest.String()}, nil
}

// fallbackStorage reads from first and, on a miss, from second.
type fallbackStorage struct {
	first, second content.ReadOnlyStorage
}

func (f *fallbackStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if ok, _ := f.first.Exists(ctx, d); ok {
		return f.first.Fetch(ctx, d)
	}
	return f.second.Fetch(ctx, d)
}

func (f *fallbackStorage) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if ok, _ := f.first.Exists(ctx, d); ok {
		return true, nil
	}
	return f.second.Exists(ctx, d)
}

// PushKitStream publishes a kit tar stream (plain, gzip or zstd) without
// unpacking it: blobs go to the registry as they are read and manifests are
// kept in memory until their children are in place. open is called again
// for each attempt after a transient network failure, and blobs that the
// registry has by then are skipped unread. A failure to read the stream itself,
// such as a truncated file, ends the push on the first attempt.
func PushKitStream(ctx context.Context, open func() (io.ReadCloser, error), repo *remote.Repository, tag string, opts PushOptions) (*PushResult, error) {
	p := newPusher(repo, opts.Logger)
	p.kitPath = opts.KitPath
	var (
		mem   *memoryStorage
		index *ocispec.Index
	)
	err := withRetry(ctx, p.log, "push kit stream", func(int) error {
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		mem, index, err = p.streamBlobs(ctx, rc)
		return err
	})
	if err != nil {
		return nil, &TagStateError{Err: fmt.Errorf("pushing kit blobs to %s: %w", repo.Reference, err),
			State: untouchedTagState(ctx, repo, tag)}
	}
	roots, err := findRoots(ctx, mem, *index)
	if err != nil {
		return nil, err
	}
	return p.publish(ctx, mem, roots, tag, opts)
}

// kitReadError is a failure to read the kit file itself, such as a
// truncated or unreadable file. Reading the file again gives the same
// result, so withRetry does not run the push again for it, even when it
// wraps io.ErrUnexpectedEOF, which a cut connection also returns.
type kitReadError struct{ err error }

func (e *kitReadError) Error() string { return e.err.Error() }
func (e *kitReadError) Unwrap() error { return e.err }

// asKitReadError marks err, a failure to read the kit file, as a
// *kitReadError. It returns nil, io.EOF and an error marked already
// unchanged.
func asKitReadError(err error) error {
	var marked *kitReadError
	if err == nil || err == io.EOF || errors.As(err, &marked) {
		return err
	}
	return &kitReadError{err}
}

// kitReader is a reader of a blob of the kit file that marks its read
// errors with asKitReadError. An upload that reads the blob as its request body then
// fails with an error that withRetry can tell from a network failure.
type kitReader struct{ r io.Reader }

func (k kitReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	return n, asKitReadError(err)
}

// streamBlobs pushes every non-manifest blob of the tar stream that the
// registry lacks and returns the manifests and index.json.
func (p *pusher) streamBlobs(ctx context.Context, r io.Reader) (*memoryStorage, *ocispec.Index, error) {
	tr, err := layout.NewTarReader(r, layout.Limits{})
	if err != nil {
		return nil, nil, asKitReadError(err)
	}
	defer tr.Close()
	mem := &memoryStorage{}
	var index *ocispec.Index
	for {
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, asKitReadError(err)
		}
		switch e.Kind {
		case layout.IndexJSON:
			b, err := io.ReadAll(kitReader{e.Reader})
			if err != nil {
				return nil, nil, err
			}
			// Import and verify read index.json with the same checks, so
			// push sends no kit that they would reject as damaged.
			parsed, err := layout.ParseKitIndex(b)
			if err != nil {
				if p.kitPath != "" {
					err = fmt.Errorf("kit %s: %w", p.kitPath, err)
				}
				return nil, nil, err
			}
			idx := *parsed
			if err := p.checkDeltaBase(ctx, idx, nil); err != nil {
				if sent := p.pushed.Load(); sent > 0 {
					// Blobs ahead of index.json were pushed before the
					// base could be checked.
					return nil, nil, fmt.Errorf("%w; the %d blobs (%d bytes) that came before index.json in the kit file "+
						"were already pushed and stay unreferenced in %s until its garbage collection removes them "+
						"(`stella ouk build` writes index.json first, so its kit files do not push blobs early)",
						err, sent, p.bytes.Load(), p.repo.Reference)
				}
				return nil, nil, err
			}
			index = &idx
		case layout.Blob:
			if err := p.streamBlob(ctx, tr, e, mem); err != nil {
				return nil, nil, err
			}
		}
	}
	if index == nil {
		return nil, nil, layout.MissingIndexError(p.kitPath)
	}
	return mem, index, nil
}

func (p *pusher) streamBlob(ctx context.Context, tr *layout.TarReader, e *layout.Entry, mem *memoryStorage) error {
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: e.Digest, Size: e.Size}
	if p.tables[e.Digest] {
		tr.SkipBlob()
		return nil
	}
	if e.Size > maxManifestSize {
		return p.pushBlob(ctx, desc, kitReader{e.Reader}, tr.SkipBlob)
	}
	b, err := io.ReadAll(kitReader{e.Reader})
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.Name, err)
	}
	if mt := sniffManifest(b); mt != "" {
		mem.put(e.Digest, b)
		p.noteTables(b)
		return nil
	}
	return p.pushBlob(ctx, desc, bytes.NewReader(b), func() {})
}

// pushBlob sends a blob unless the registry holds it already, and calls
// skip in place of reading r when it does.
func (p *pusher) pushBlob(ctx context.Context, desc ocispec.Descriptor, r io.Reader, skip func()) error {
	if p.isPresent(desc.Digest) {
		skip()
		return nil
	}
	exists, err := p.repo.Exists(ctx, desc)
	if err != nil {
		return fmt.Errorf("checking blob %s in %s: %w", desc.Digest, p.repo.Reference, err)
	}
	if exists {
		p.notePresent(desc, false)
		skip()
		return nil
	}
	if err := p.upload(ctx, desc, r); err != nil {
		return fmt.Errorf("pushing blob %s: %w", desc.Digest, err)
	}
	p.notePresent(desc, true)
	return nil
}

// detectReferrersAPI checks whether the registry offers the referrers API
// by listing the referrers of subject, which must exist. Referrers pushed
// next then go through the API when it is there. Without this check, a
// registry that accepts a subject without the OCI-Subject response header
// would also get the sha256-<hex> tag.
func detectReferrersAPI(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor, log *slog.Logger) error {
	err := withRetry(ctx, log, "list referrers of "+subject.Digest.String(), func(int) error {
		return repo.Referrers(ctx, subject, "", func([]ocispec.Descriptor) error { return nil })
	})
	if err != nil {
		return fmt.Errorf("listing referrers of %s: %w", subject.Digest, err)
	}
	return nil
}

// ensureListed checks that the registry lists ref among the referrers of
// subject and pushes the referrer manifest again when it does not. A retried
// push skips a manifest the registry already holds, so a failure between
// storing the manifest and updating the sha256-<hex> tag of a registry
// without the referrers API would otherwise leave the referrer unlisted.
func (p *pusher) ensureListed(ctx context.Context, src content.ReadOnlyStorage, subject, ref ocispec.Descriptor) error {
	for attempt := 1; ; attempt++ {
		listed := false
		err := withRetry(ctx, p.log, "list referrers of "+subject.Digest.String(), func(int) error {
			listed = false
			return p.repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
				for _, d := range page {
					if d.Digest == ref.Digest {
						listed = true
					}
				}
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("listing referrers of %s: %w", subject.Digest, err)
		}
		if listed {
			return nil
		}
		if attempt == Attempts {
			return fmt.Errorf("registry %s does not list referrer %s of %s after %d pushes; check the registry's logs",
				p.repo.Reference.Registry, ref.Digest, subject.Digest, attempt)
		}
		p.log.Info("referrer not listed yet; pushing its manifest again", "referrer", ref.Digest, "subject", subject.Digest)
		raw, err := content.FetchAll(ctx, src, ref)
		if err != nil {
			return fmt.Errorf("reading referrer %s: %w", ref.Digest, err)
		}
		err = withRetry(ctx, p.log, "push "+ref.Digest.String(), func(int) error {
			return p.repo.Push(ctx, ref, bytes.NewReader(raw))
		})
		if err != nil {
			return fmt.Errorf("pushing referrer %s again: %w", ref.Digest, err)
		}
	}
}

// noteTables records the tables that a manifest of pre-built index tables
// lists. A kit writes its manifests before its larger blobs, so the tables
// are known by the time they arrive.
func (p *pusher) noteTables(manifest []byte) {
	var m ocispec.Manifest
	if json.Unmarshal(manifest, &m) != nil || m.ArtifactType != oci.ArtifactTypeDBIndex {
		return
	}
	if p.tables == nil {
		p.tables = make(map[digest.Digest]bool)
	}
	for _, l := range m.Layers {
		p.tables[l.Digest] = true
	}
}
