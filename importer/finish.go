package importer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// VulnDBNamespace is the store namespace that holds the lookup index.
const VulnDBNamespace = "vulndb"

// finish checks a kit whose blobs are in the store and activates it.
func (s *session) finish(ctx context.Context, index ocispec.Index) (*Result, error) {
	bm, err := s.findBundle(ctx, index)
	if err != nil {
		return nil, err
	}
	s.setKit(bm)
	log := s.opts.Logger.With("version", bm.meta.Version, "digest", bm.desc.Digest)

	if err := s.checkBase(ctx, bm.desc.Digest, bm.meta); err != nil {
		return nil, err
	}
	if bm.delta, err = s.findDelta(ctx, index, bm); err != nil {
		return nil, err
	}
	if bm.delta != nil {
		base := bm.delta.Config.Base
		s.result.Kind = oci.KindDelta
		s.result.BaseDigest = base.Digest.String()
		if err := s.checkBase(ctx, bm.desc.Digest, oci.Meta{Version: bm.meta.Version, Kind: oci.KindDelta,
			BaseDigest: base.Digest.String(), BaseVersion: base.Version}); err != nil {
			return nil, err
		}
	}
	if err := s.checkGraph(ctx, bm); err != nil {
		return nil, err
	}
	if !s.verifiedEarly {
		if err := s.checkSignature(ctx, index, bm); err != nil {
			return nil, err
		}
	}
	if s.signatureSkipped {
		log.Info("kit checked without a valid signature (--insecure-skip-signature)")
	} else {
		log.Info("kit verified", "signedBy", s.result.SignedBy)
	}

	if s.opts.ImageWarnings != nil {
		s.result.ImageWarnings = s.opts.ImageWarnings(bm.index.Manifests)
	}

	active, err := s.opts.Store.Active(ctx)
	hasActive := err == nil
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("reading the active kit: %w", err)
	}
	if hasActive && active.Digest == bm.desc.Digest {
		// Importing the active kit again repairs a lookup index that an
		// older stella wrote in another format.
		if err := s.indexDB(ctx, bm); err != nil {
			return nil, err
		}
		s.dropTablesManifest(ctx)
		s.dropBlobsOutsideKit(ctx, bm.desc.Digest)
		s.result.AlreadyActive = true
		s.result.Action = "none"
		log.Info("kit is already active")
		return &s.result, nil
	}
	action, err := s.checkPolicy(ctx, bm, active, hasActive)
	if err != nil {
		return nil, err
	}
	if err := s.indexDB(ctx, bm); err != nil {
		return nil, err
	}
	rec := cas.KitRecord{
		Digest:   bm.desc.Digest,
		Version:  bm.meta.Version,
		Sequence: bm.meta.Sequence,
		Created:  bm.meta.Created,
		Expires:  bm.meta.Expires,
		At:       s.opts.Now().UTC(),
		Action:   action,
		SignedBy: s.result.SignedBy,
	}
	if bm.delta != nil {
		rec.Note = fmt.Sprintf("applied as a delta of kit %s", bm.delta.Config.Base.Version)
	}
	if action == "downgrade" {
		rec.Note = fmt.Sprintf("sequence %d is lower than %d of kit %s; imported with --allow-downgrade",
			bm.meta.Sequence, active.Sequence, active.Version)
	}
	// The history keeps every override the operator used, so an unsigned or
	// expired kit stays visible after the fact.
	for _, w := range s.result.Warnings {
		if !strings.Contains(w, "--allow-downgrade") {
			rec.Note = joinNote(rec.Note, w)
		}
	}
	// Image warnings stay in the history, so a kit that mirror will reject
	// is visible after an unattended import by `stella ouk watch`.
	for _, w := range s.result.ImageWarnings {
		rec.Note = joinNote(rec.Note, w)
	}
	if err := s.opts.Store.Activate(ctx, rec); err != nil {
		return nil, fmt.Errorf("activating kit %s: %w", bm.meta.Version, err)
	}
	s.dropTablesManifest(ctx)
	s.dropBlobsOutsideKit(ctx, bm.desc.Digest)
	s.added = nil
	s.result.Action = action
	log.Info("kit activated", "action", action)
	return &s.result, nil
}

// sizedDigest is a blob digest with the size that a descriptor declares
// for it.
type sizedDigest struct {
	digest digest.Digest
	size   int64
}

// findBundle locates the one bundle index among the index.json entries.
func (s *session) findBundle(ctx context.Context, index ocispec.Index) (*bundleMeta, error) {
	var found []*bundleMeta
	// notBundle records the image indexes, by digest and size, that are
	// not a bundle index, so that one that index.json lists many times is
	// decoded once. A bundle index listed twice still counts twice. An
	// entry marked as a bundle is always decoded, because it must be one.
	notBundle := make(map[sizedDigest]bool)
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageIndex ||
			(notBundle[sizedDigest{d.Digest, d.Size}] && d.ArtifactType != oci.ArtifactTypeBundle) {
			continue
		}
		if err := checkDescriptor(d); err != nil {
			return nil, err
		}
		if d.Size > MaxManifestSize {
			return nil, fmt.Errorf("index.json lists image index %s of %d bytes, over the %d byte limit for manifests: %w",
				d.Digest, d.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
		}
		info, err := s.opts.Store.Stat(ctx, d.Digest)
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("index.json names %s, but the kit has no such blob: %w", d.Digest, errdef.ErrInvalidKit)
		}
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", d.Digest, err)
		}
		if info.Size != d.Size {
			return nil, fmt.Errorf("index.json declares %d bytes for %s, but the blob has %d bytes: %w",
				d.Size, d.Digest, info.Size, errdef.ErrSizeMismatch)
		}
		b, err := s.readManifest(ctx, d)
		if err != nil {
			return nil, err
		}
		idx, meta, err := oci.ParseBundleIndex(b)
		if err != nil {
			if d.ArtifactType == oci.ArtifactTypeBundle {
				return nil, err
			}
			notBundle[sizedDigest{d.Digest, d.Size}] = true
			continue
		}
		found = append(found, &bundleMeta{desc: d, index: idx, meta: meta, raw: b})
	}
	switch len(found) {
	case 0:
		if err := layout.FindUnknownEntry(index, s.indexAdvice()); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("index.json lists no bundle index of artifact type %s, so this is not a Stella Ops kit "+
			"(an image archive looks like this; give images to `stella ouk build --image`): %w",
			oci.ArtifactTypeBundle, errdef.ErrInvalidKit)
	case 1:
		return found[0], nil
	}
	versions := make([]string, len(found))
	for i, b := range found {
		versions[i] = b.meta.Version
	}
	return nil, oci.MultipleKitsError(len(found), versions)
}

// checkBase rejects a delta, of bundle index bundle, whose base kit is not
// in the store. A delta of the active kit passes: the import then reports
// that kit as already active, whether its base is stored or not.
func (s *session) checkBase(ctx context.Context, bundle digest.Digest, meta oci.Meta) error {
	if meta.Kind != oci.KindDelta {
		return nil
	}
	if active, err := s.opts.Store.Active(ctx); err == nil && active.Digest == bundle {
		return nil
	}
	d, err := digest.Parse(meta.BaseDigest)
	if err != nil {
		return fmt.Errorf("delta base digest %q: %v: %w", meta.BaseDigest, err, errdef.ErrInvalidKit)
	}
	if _, err := s.opts.Store.Stat(ctx, d); err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return fmt.Errorf("kit %s is a delta of kit %s (%s), which is not in the store; import kit %s or its delta first: %w",
				meta.Version, meta.BaseVersion, meta.BaseDigest, meta.BaseVersion, errdef.ErrBaseMissing)
		}
		return fmt.Errorf("checking delta base %s: %w", meta.BaseDigest, err)
	}
	return nil
}

// checkGraph checks that every blob the bundle index reaches is stored with
// the size its descriptor declares.
func (s *session) checkGraph(ctx context.Context, bm *bundleMeta) error {
	seen := make(map[digest.Digest]bool)
	var walk func(parent digest.Digest, d ocispec.Descriptor) error
	walk = func(parent digest.Digest, d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if err := checkDescriptor(d); err != nil {
			return err
		}
		info, err := s.opts.Store.Stat(ctx, d.Digest)
		if errors.Is(err, errdef.ErrNotFound) {
			if bm.meta.Kind == oci.KindDelta {
				return fmt.Errorf("delta %s omits blob %s (from %s), which the store lacks; import kit %s (%s) or its delta first: %w",
					bm.meta.Version, d.Digest, parent, bm.meta.BaseVersion, bm.meta.BaseDigest, errdef.ErrBaseMissing)
			}
			if bm.delta != nil {
				base := bm.delta.Config.Base
				declared := slices.ContainsFunc(bm.delta.Config.Omitted, func(o delta.Blob) bool { return o.Digest == d.Digest })
				if !declared {
					// The signed delta config does not list the blob as left
					// out, so the delta file itself lost it.
					return fmt.Errorf("delta %s lacks blob %s (from %s), which it neither carries nor declares as omitted; the delta file is incomplete, so copy it again: %w",
						bm.meta.Version, d.Digest, parent, errdef.ErrInvalidKit)
				}
				return fmt.Errorf("delta %s omits blob %s (from %s), which the store lacks; import kit %s (%s) or its delta first: %w",
					bm.meta.Version, d.Digest, parent, base.Version, base.Digest, errdef.ErrBaseMissing)
			}
			if s.dir != "" {
				return fmt.Errorf("%s: %w", s.missingFolderBlob(d.Digest, parent.String()), errdef.ErrInvalidKit)
			}
			return fmt.Errorf("blob %s, referenced by %s, is missing from the kit: %w", d.Digest, parent, errdef.ErrInvalidKit)
		}
		if err != nil {
			return fmt.Errorf("checking blob %s: %w", d.Digest, err)
		}
		if info.Size != d.Size {
			return fmt.Errorf("blob %s has %d bytes, but %s declares %d: %w",
				d.Digest, info.Size, parent, d.Size, errdef.ErrSizeMismatch)
		}
		kids, err := s.childrenOf(ctx, d)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := walk(d.Digest, k); err != nil {
				return err
			}
		}
		return nil
	}
	return walk("the bundle index", bm.desc)
}

// fetchStored returns the bytes of the blob d from the store.
func (s *session) fetchStored(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
	return content.FetchAll(ctx, s.opts.Store, d)
}

// checkSignature accepts the kit when one signature referrer of its bundle
// index verifies with a trusted key.
func (s *session) checkSignature(ctx context.Context, index ocispec.Index, bm *bundleMeta) error {
	check := CheckBundleSignature(ctx, s.fetchStored, index, bm.desc, bm.raw, s.opts.Keys)
	if check.SignedBy != "" {
		s.result.SignedBy = check.SignedBy
		return nil
	}
	for _, r := range check.Reasons {
		s.opts.Logger.Debug("signature did not verify", "reason", r)
	}
	if check.StoreErr != nil {
		return fmt.Errorf("checking the signature of kit %s: %w", bm.meta.Version, check.StoreErr)
	}
	if check.Signatures == 0 && s.opts.Registry == "" {
		// A flipped bit in the media type of the signature manifest's
		// entry hides the signature, so such an entry is reported as
		// damage rather than as an unsigned kit. That holds with
		// InsecureSkipSignature too, because the kit file is not the one
		// that was built. A kit whose signature verifies may list unknown
		// entries, as the image-layout spec allows.
		if err := layout.FindUnknownEntry(index, s.indexAdvice()); err != nil {
			return err
		}
	}
	failure := check.Failure(s.opts.Keys, s.opts.KeysDir)
	switch {
	case check.Signatures == 0 && s.opts.Registry != "" && !s.opts.InsecureSkipSignature:
		return fmt.Errorf("kit %s (%s): %s lists no signature referrer of it (%s). %s "+
			"Pass --insecure-skip-signature only for a kit you trust without a signature: %w",
			bm.meta.Version, bm.desc.Digest, s.opts.Registry, s.signatureLookup(), s.unsignedAdvice(), errdef.ErrSignature)
	case check.Signatures == 0 && s.opts.Registry != "":
		failure = s.opts.Registry + " lists no signature referrer of the kit (" + s.signatureLookup() + ")"
	}
	if s.opts.InsecureSkipSignature {
		s.signatureSkipped = true
		s.warn("importing kit " + bm.meta.Version + " without a valid signature (--insecure-skip-signature): " + failure)
		return nil
	}
	return &SignatureError{Version: bm.meta.Version, Digest: bm.desc.Digest, Failure: failure,
		Unsigned: check.Signatures == 0, KeyAdvised: check.advisesKey(s.opts.Keys)}
}

// indexAdvice returns the next step for a damaged index.json of the kit
// file or folder being imported.
func (s *session) indexAdvice() string {
	if s.dir != "" {
		return layout.DamagedFolderIndexAdvice
	}
	return layout.DamagedIndexAdvice
}

// unsignedAdvice returns what to do about a kit whose registry lists no
// signature of it. A copy made without referrers, such as by `crane copy`,
// leaves every referrer behind, so other referrers without a signature
// mean that the kit was pushed without one. regctl (v0.11.7) finds the
// referrers in a layout folder only through a sha256-<hex> tag, which the
// kits of earlier stella releases lack, so `regctl image copy --referrers`
// from such a folder leaves the signature behind too.
func (s *session) unsignedAdvice() string {
	if s.opts.OtherReferrers > 0 {
		return "Its other referrers are in place, so the kit was pushed without a signature, " +
			"not copied without its referrers: push a kit built with --key to this tag."
	}
	return "A copy made without its referrers leaves the signature behind, such as one made by `crane copy`, " +
		"or by `regctl image copy --referrers` from a layout folder unpacked from a kit file of an earlier " +
		"stella release, which lacks the sha256-<hex> tag through which regctl finds the signature. " +
		"Push the signed kit file or folder again with `stella ouk push`, or copy the folder with " +
		"`oras cp -r --from-oci-layout`. Between registries, `oras cp -r` and `regctl image copy --referrers` " +
		"keep the signature. A kit built without --key, which `stella ouk verify KIT` reports as unsigned, " +
		"must be built again with --key before it is pushed."
}

// signatureLookup returns where the signatures were looked up in the
// registry, as Options.SignatureLookup describes it, or the places that a
// lookup checks when the caller gave no description.
func (s *session) signatureLookup() string {
	if s.opts.SignatureLookup != "" {
		return s.opts.SignatureLookup
	}
	return "through the referrers API or the sha256-<hex> tag"
}

// SignatureError rejects a kit that no trusted key signed. It wraps
// errdef.ErrSignature. Its message advises the flag of stella ouk import;
// callers without that flag, such as watch, give their own advice from
// its fields.
type SignatureError struct {
	Version string
	Digest  digest.Digest
	// Failure is the reason that no signature verified, such as
	// "another key signed it".
	Failure string
	// Unsigned is set when the kit lists no signature at all.
	Unsigned bool
	// KeyAdvised is set when Failure already advises putting the
	// builder's public key into the keys folder.
	KeyAdvised bool
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("kit %s (%s): %s; import only kits from a trusted builder, or pass --insecure-skip-signature "+
		"to override: %v", e.Version, e.Digest, e.Failure, errdef.ErrSignature)
}

func (e *SignatureError) Unwrap() error { return errdef.ErrSignature }

// checkPolicy applies the site's rules on sequence and expiry and returns the
// history action of the import.
func (s *session) checkPolicy(ctx context.Context, bm *bundleMeta, active cas.KitRecord, hasActive bool) (string, error) {
	meta := bm.meta
	action := "import"
	if hasActive && meta.Sequence < active.Sequence {
		if !s.opts.AllowDowngrade {
			return "", s.downgradeError(ctx, meta, bm.desc.Digest, active, false)
		}
		s.warn(fmt.Sprintf("downgrading from kit %s (sequence %d) to %s (sequence %d) because --allow-downgrade is set",
			active.Version, active.Sequence, meta.Version, meta.Sequence))
		action = "downgrade"
	}
	warning, err := CheckExpiry(meta, s.opts.Now(), s.opts.AllowExpired, "import", "importing")
	if err != nil {
		return "", err
	}
	if warning != "" {
		s.warn(warning)
	}
	if warning := CheckCreated(meta, s.opts.Now()); warning != "" {
		s.warn(warning)
	}
	return action, nil
}

// CheckExpiry rejects a kit past its signed expiry time at now with an
// error wrapping errdef.ErrExpired, unless allowExpired is set: then it
// returns a warning instead. verb and gerund name the command's action in
// the message, such as "import" and "importing". A kit without an expiry
// time never expires.
func CheckExpiry(meta oci.Meta, now time.Time, allowExpired bool, verb, gerund string) (warning string, err error) {
	if meta.Expires.IsZero() || !now.After(meta.Expires) {
		return "", nil
	}
	expires := meta.Expires.UTC().Format("2006-01-02T15:04:05Z")
	if !allowExpired {
		return "", fmt.Errorf("kit %s expired at %s; get a newer kit, or pass --allow-expired to %s it anyway: %w",
			meta.Version, expires, verb, errdef.ErrExpired)
	}
	return fmt.Sprintf("kit %s expired at %s; %s it because --allow-expired is set", meta.Version, expires, gerund), nil
}

// downgradeAdvice returns how to make the older kit with bundle digest d
// active on purpose. `stella ouk rollback` reaches only a kit of the
// history that the store held before this import, because gc removes the
// blobs of old kits. Any other kit needs --allow-downgrade.
func (s *session) downgradeAdvice(ctx context.Context, d digest.Digest) string {
	if s.heldBefore(ctx, d) {
		return fmt.Sprintf("the store still holds this kit, so run `stella ouk rollback %s` for a deliberate step back, "+
			"or pass --allow-downgrade", d)
	}
	return "the store does not hold this kit (gc removed it, or it was never imported), so `stella ouk rollback` " +
		"cannot return to it; pass --allow-downgrade for a deliberate step back"
}

// heldBefore reports whether the history lists the kit with bundle digest d
// and its bundle index was in the store before this import.
func (s *session) heldBefore(ctx context.Context, d digest.Digest) bool {
	if slices.ContainsFunc(s.added, func(a ocispec.Descriptor) bool { return a.Digest == d }) {
		return false
	}
	if _, err := s.opts.Store.Stat(ctx, d); err != nil {
		// The bundle index was never stored, as for a delta that
		// explainBaseMissing rejects before it stores anything.
		return false
	}
	hist, err := s.opts.Store.History(ctx)
	if err != nil {
		// The advice for a kit not in the store works in either case.
		return false
	}
	return slices.ContainsFunc(hist, func(h cas.KitRecord) bool { return h.Digest == d })
}

// indexDB builds the lookup index for DB layers not indexed before.
func (s *session) indexDB(ctx context.Context, bm *bundleMeta) error {
	if s.indexer != nil {
		// Layers that a tar stream started to index finish first, so the
		// loop below finds them indexed.
		n, err := s.indexer.wait()
		if err != nil {
			return err
		}
		s.result.LayersIndexed += n
	}
	dbDesc, ok := oci.Child(bm.index, oci.RoleDB)
	if !ok {
		return nil
	}
	layers, err := s.childrenOf(ctx, dbDesc)
	if err != nil {
		return err
	}
	// oci.ParseBundleIndex accepts only an image manifest as the DB entry,
	// and its first child is the config, so this check only stops a panic.
	if len(layers) == 0 {
		return fmt.Errorf("DB entry %s of the bundle index is not an image manifest with a config: %w",
			dbDesc.Digest, errdef.ErrInvalidKit)
	}
	store := s.opts.Store.KV(VulnDBNamespace)
	var todo []ocispec.Descriptor
	for _, l := range layers[1:] {
		if l.MediaType != oci.MediaTypeDBLayer {
			continue
		}
		done, err := vulndb.IsIndexed(store, l.Digest)
		if err != nil {
			return fmt.Errorf("checking index of DB layer %s: %w", l.Digest, err)
		}
		if !done {
			todo = append(todo, l)
		}
	}
	// Layers are indexed independently, so they are spread over the CPUs.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, l := range todo {
		g.Go(func() error {
			if paths := s.stagedTables(l.Digest); paths != nil {
				err := vulndb.IngestLayerTables(store, l.Digest, paths)
				if err == nil {
					s.countTableLayer()
					s.opts.Logger.Info("DB layer indexed from pre-built tables", "layer", l.Digest, "tables", len(paths))
					return nil
				}
				s.tables.mu.Lock()
				s.warn(fmt.Sprintf("pre-built index tables of DB layer %s not used: %v; indexing the layer from its records", l.Digest, err))
				s.tables.mu.Unlock()
			}
			return s.indexLayer(gctx, store, l, "DB layer indexed")
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.result.LayersIndexed += len(todo)
	return nil
}

// indexLayer indexes a stored DB layer from its records and logs msg with
// the layer and the time it took.
func (s *session) indexLayer(ctx context.Context, store kv.Store, l ocispec.Descriptor, msg string) error {
	rc, err := s.opts.Store.Fetch(ctx, l)
	if err != nil {
		return fmt.Errorf("reading DB layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	start := time.Now()
	if err := vulndb.IndexLayer(ctx, store, l, rc); err != nil {
		return fmt.Errorf("indexing DB layer %s: %w", l.Digest, err)
	}
	s.opts.Logger.Info(msg, "layer", l.Digest, "bytes", l.Size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// warn adds a warning to the result, which the caller reports. The log
// gets it only when the import fails (see logWarnings).
func (s *session) warn(msg string) {
	s.result.Warnings = append(s.result.Warnings, msg)
}

// logWarnings logs the warnings so far at warn level, for an import that
// fails and so returns no result to report them.
func (s *session) logWarnings() {
	for _, w := range s.result.Warnings {
		s.opts.Logger.Warn(w)
	}
}

func joinNote(note, more string) string {
	if note == "" {
		return more
	}
	return note + "; " + more
}

// setKit fills the result's description of the kit from its bundle index.
func (s *session) setKit(bm *bundleMeta) {
	s.result.Digest = bm.desc.Digest.String()
	s.result.Version = bm.meta.Version
	s.result.Sequence = bm.meta.Sequence
	s.result.Kind = bm.meta.Kind
	s.result.BaseDigest = bm.meta.BaseDigest
	s.result.Created = bm.meta.Created
	s.result.Expires = bm.meta.Expires
}
