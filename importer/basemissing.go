package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// explainBaseMissing returns err unchanged unless it rejects a delta
// because the store lacks its base. A delta that is also older than the
// active kit is then rejected as a downgrade, because importing its base
// first would only end in that rejection. Any other such rejection gains
// the advice to import the delta's own full kit, which needs no base, so
// that a site that rolled back from the base need not activate it again.
//
// index is the kit's index.json. The bundle index is read from src when
// it is not nil, else from the store, else from tr, the rest of a tar
// stream, without storing it. The bundle index is not verified at this
// point, but its sequence only picks which of two rejections to report.
func (s *session) explainBaseMissing(ctx context.Context, err error, index ocispec.Index,
	src content.ReadOnlyStorage, tr *layout.TarReader) error {
	if !errors.Is(err, errdef.ErrBaseMissing) {
		return err
	}
	bundle, meta, ok := s.peekBundle(ctx, index, src, tr)
	if !ok {
		return err
	}
	active, aerr := s.opts.Store.Active(ctx)
	if aerr == nil && !s.opts.AllowDowngrade && meta.Sequence < active.Sequence {
		return s.downgradeError(ctx, meta, bundle, active, true)
	}
	if errors.As(err, new(fullKitAdvisedError)) {
		return err
	}
	return &baseMissingError{err: err, advice: s.fullKitAdvice(meta.Version)}
}

// downgradeError returns the rejection of the kit meta, of bundle digest
// d, whose sequence is lower than that of the active kit. baseMissing is
// set for a delta whose base the store lacks, which --allow-downgrade
// alone does not import.
func (s *session) downgradeError(ctx context.Context, meta oci.Meta, d digest.Digest, active cas.KitRecord,
	baseMissing bool) error {
	if _, ok := ActiveBlocksByDate(active, s.opts.Now()); ok {
		canRollback, err := HasRollbackTarget(ctx, s.opts.Store, active)
		if err != nil {
			return fmt.Errorf("reading the history: %w", err)
		}
		// The advice for this kit alone would treat the active kit as the
		// right one.
		advice := activeAheadAdvice(active, s.opts.Now(), canRollback)
		return fmt.Errorf("kit %s has sequence %d, lower than %d of the active kit %s, so importing it would roll the site back. %s: %w",
			meta.Version, meta.Sequence, active.Sequence, active.Version, advice, errdef.ErrDowngrade)
	}
	advice := s.downgradeAdvice(ctx, d)
	if baseMissing && !s.heldBefore(ctx, d) {
		advice = fmt.Sprintf("the store does not hold this kit, so `stella ouk rollback` cannot return to it, and "+
			"this delta also needs a base kit that the store lacks, so --allow-downgrade alone fails too; for a "+
			"deliberate step back, import the full kit %s with --allow-downgrade: `stella ouk build --delta` "+
			"writes it beside the delta, %s", meta.Version, s.fullKitPlace())
	}
	return fmt.Errorf("kit %s has sequence %d, lower than %d of the active kit %s, so importing it would roll the site back; %s: %w",
		meta.Version, meta.Sequence, active.Sequence, active.Version, advice, errdef.ErrDowngrade)
}

// fullKitAdvice returns how to import the full kit of version instead of
// its delta. `stella ouk build --delta` writes that kit beside the delta,
// under the name that delta.FullKitName derives.
func (s *session) fullKitAdvice(version string) string {
	return fmt.Sprintf("Or import the full kit %s, which needs no base and so does not activate the base kit: "+
		"`stella ouk build --delta` writes it beside the delta, %s", version, s.fullKitPlace())
}

// fullKitPlace returns where the full kit of the delta being imported is.
func (s *session) fullKitPlace() string {
	if s.opts.SourcePath != "" {
		return "as " + delta.FullKitName(s.opts.SourcePath)
	}
	return "under the delta's file name without \".delta\""
}

// peekBundle returns the digest and metadata of the bundle index that
// index lists, as explainBaseMissing reads it.
func (s *session) peekBundle(ctx context.Context, index ocispec.Index, src content.ReadOnlyStorage,
	tr *layout.TarReader) (digest.Digest, oci.Meta, bool) {
	unread := map[digest.Digest]ocispec.Descriptor{}
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex || d.Size < 0 || d.Size > MaxManifestSize {
			continue
		}
		var raw []byte
		var err error
		if src != nil {
			raw, err = content.FetchAll(ctx, src, d)
		} else {
			raw, err = s.readManifest(ctx, d)
		}
		if err != nil {
			unread[d.Digest] = d
			continue
		}
		if _, meta, err := oci.ParseBundleIndex(raw); err == nil {
			return d.Digest, meta, true
		}
	}
	if tr == nil || len(unread) == 0 {
		return "", oci.Meta{}, false
	}
	return readBundleAhead(ctx, tr, unread)
}

// readBundleAhead reads the rest of a tar stream until it finds the bundle
// index among the image indexes in wanted, and keeps no other blob. A kit
// that stella writes puts its manifests and indexes before every larger
// blob, so the search stops at the first blob over MaxManifestSize.
func readBundleAhead(ctx context.Context, tr *layout.TarReader,
	wanted map[digest.Digest]ocispec.Descriptor) (digest.Digest, oci.Meta, bool) {
	for ctx.Err() == nil {
		e, err := tr.Next()
		if err != nil || (e.Kind == layout.Blob && e.Size > MaxManifestSize) {
			break
		}
		d, ok := wanted[e.Digest]
		if e.Kind != layout.Blob || !ok || e.Size != d.Size {
			tr.SkipBlob()
			continue
		}
		// The tar reader checks the digest of what it returns.
		raw, err := io.ReadAll(e.Reader)
		if err != nil {
			break
		}
		if _, meta, err := oci.ParseBundleIndex(raw); err == nil {
			return d.Digest, meta, true
		}
	}
	return "", oci.Meta{}, false
}

// baseMissingError is the rejection of a delta whose base the store lacks,
// with advice added. Errors of this package end with the text of their
// sentinel error, so the advice goes before it.
type baseMissingError struct {
	err    error
	advice string
}

func (e *baseMissingError) Error() string {
	suffix := ": " + errdef.ErrBaseMissing.Error()
	if msg, ok := strings.CutSuffix(e.err.Error(), suffix); ok {
		return msg + ". " + e.advice + suffix
	}
	return e.err.Error() + ". " + e.advice
}

func (e *baseMissingError) Unwrap() error { return e.err }

// fullKitAdvisedError marks a rejection whose message already names the
// full kit to import, so that explainBaseMissing adds no advice.
type fullKitAdvisedError struct{ error }

func (e fullKitAdvisedError) Unwrap() error { return e.error }
