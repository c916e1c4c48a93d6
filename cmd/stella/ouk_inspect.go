package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// inspectReport is the result of `stella ouk inspect`.
type inspectReport struct {
	Path     string     `json:"path"`
	FileSize int64      `json:"fileSize,omitempty"`
	Digest   string     `json:"digest"`
	Version  string     `json:"version"`
	Sequence int64      `json:"sequence"`
	Kind     string     `json:"kind"`
	Base     *delta.Ref `json:"base,omitempty"`
	// BaseInStore is true when the store contains the delta's base kit
	// complete, which import requires. It is nil for a full kit and when
	// the store could not be opened.
	BaseInStore *bool `json:"baseInStore,omitempty"`
	// Active is true when the kit is the store's active kit, so import
	// changes nothing and needs no base. It is nil when the store could
	// not be opened.
	Active  *bool     `json:"active,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	// Expired is true when the kit is past its expiry time: import
	// rejects it unless --allow-expired is given.
	Expired    bool            `json:"expired"`
	Signatures []signatureInfo `json:"signatures"`
	DBLayers   []dbLayerInfo   `json:"dbLayers"`
	Images     []imageSizeInfo `json:"images"`
	// IndexTables describes the pre-built lookup index tables the bundle
	// index names, when it names any.
	IndexTables *indexTablesInfo `json:"indexTables,omitempty"`
	Blobs       blobTotals       `json:"blobs"`
	Store       inspectStoreInfo `json:"store"`
	// Warnings lists problems that import reports as warnings, such as a
	// creation time ahead of the host's clock.
	Warnings []string `json:"warnings,omitempty"`
	// newerActive is the store's active kit when its sequence is higher
	// than this kit's, which makes import reject this kit as a downgrade.
	newerActive *cas.KitRecord
}

type signatureInfo struct {
	Subject  string `json:"subject"` // "bundle index" or "delta manifest"
	Digest   string `json:"digest"`
	Verified bool   `json:"verified"`
	SignedBy string `json:"signedBy,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

type dbLayerInfo struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Kind      string `json:"kind"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Records   int    `json:"records"`
	InKit     bool   `json:"inKit"`
	InStore   bool   `json:"inStore"`
}

type imageSizeInfo struct {
	Ref       string   `json:"ref"`
	Digest    string   `json:"digest"`
	Platforms []string `json:"platforms"`
	Size      int64    `json:"size"`
}

// blobTotals counts the blobs the bundle index reaches.
type blobTotals struct {
	Count        int   `json:"count"`
	Bytes        int64 `json:"bytes"`
	InKit        int   `json:"inKit"`
	InKitBytes   int64 `json:"inKitBytes"`
	InStore      int   `json:"inStore"`
	InStoreBytes int64 `json:"inStoreBytes"`
	// InBoth counts the blobs both the kit and the store hold; they are
	// in InKit and in InStore.
	InBoth int `json:"inBoth"`
	// Missing counts blobs neither the kit nor the store holds.
	Missing int `json:"missing"`
}

type inspectStoreInfo struct {
	Dir    string `json:"dir"`
	Status string `json:"status"` // "open", "absent" or "in use"
}

type inspectOptions struct {
	keys []string
	out  outputFlag
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [--key PUB]... KIT",
		Short: "Show what a kit or delta holds before importing it",
		Long: `Show a kit file or layout folder without importing it: version, sequence,
kind and base, expiry, signatures, DB layers with record counts, images with
platforms and sizes, and which blobs the local store already holds.

Signatures are verified with the keys given by --key and the *.pub files of
the store's keys folder. The store is opened only when it exists; when
another stella process holds it, the store columns are left empty.

Inspect reads the manifests and the DB layers it counts records in, but does
not check the digest of every blob: import and verify do.`,
		Example: `  stella ouk inspect kit.tar.zst
  stella ouk inspect --key cosign.pub -o json delta-0602.tar.zst`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args[0]) },
	}
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "trusted public key file (repeatable)")
	o.out.register(cmd)
	return cmd
}

func (o *inspectOptions) run(cmd *cobra.Command, g *globalOptions, path string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if err := checkLocalKitArg("inspect", path); err != nil {
		return err
	}
	if err := checkKitPath(path); err != nil {
		return err
	}
	if err := layout.CheckKitType(path); err != nil {
		return err
	}
	ctx := cmd.Context()
	k, err := delta.OpenKit(ctx, path)
	if err != nil {
		return err
	}
	defer k.Close()
	rep := &inspectReport{Path: path, Digest: k.Bundle.Digest.String(), Version: k.Meta.Version,
		Sequence: k.Meta.Sequence, Kind: k.Meta.Kind, Created: k.Meta.Created, Expires: k.Meta.Expires,
		Expired:    !k.Meta.Expires.IsZero() && time.Now().After(k.Meta.Expires),
		Signatures: []signatureInfo{}, DBLayers: []dbLayerInfo{}, Images: []imageSizeInfo{}}
	if info, err := os.Stat(path); err == nil && !info.IsDir() {
		rep.FileSize = info.Size()
	}
	if warning := importer.CheckCreated(k.Meta, time.Now()); warning != "" {
		rep.Warnings = append(rep.Warnings, warning)
	}
	if k.Meta.Kind == oci.KindDelta {
		rep.Base = &delta.Ref{Digest: digest.Digest(k.Meta.BaseDigest), Version: k.Meta.BaseVersion}
	}
	// A kit that carries every blob its delta manifest omits is a full
	// kit, as import treats it.
	dinfo, err := delta.FindDelta(ctx, k.Storage, k.Index, k.Bundle.Digest)
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return incompleteFolder(path, err)
	}
	if dinfo != nil {
		rep.Kind = oci.KindDelta
		base := dinfo.Config.Base
		rep.Base = &base
	}

	store, storeInfo := openStoreIfPresent(g)
	if store != nil {
		defer store.Close()
	}
	rep.Store = storeInfo
	keys, err := inspectKeys(g, g.logger(cmd.ErrOrStderr()), o.keys)
	if err != nil {
		return err
	}
	rep.Signatures = inspectSignatures(ctx, k, dinfo, keys)
	if err := checkHiddenSignature(path, k.Index, rep.Signatures); err != nil {
		return err
	}
	if store != nil {
		active, err := store.Active(ctx)
		isActive := err == nil && active.Digest == k.Bundle.Digest
		rep.Active = &isActive
		if err == nil && active.Sequence > rep.Sequence {
			rep.newerActive = &active
		}
	}
	if rep.Base != nil && store != nil {
		inStore := checkComplete(ctx, store, rep.Base.Digest) == nil
		rep.BaseInStore = &inStore
	}
	if err := inspectContents(ctx, k, store, rep); err != nil {
		return incompleteFolder(path, err)
	}
	imageWarnings := warnImageRefs(g.logger(cmd.ErrOrStderr()), k.BundleIndex.Manifests)
	if o.out.json() {
		// Text output leaves them out, since stderr has them already.
		rep.Warnings = append(rep.Warnings, imageWarnings...)
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	printInspect(cmd.OutOrStdout(), rep)
	return nil
}

// incompleteFolder adds the advice for an incomplete layout folder to err
// when path is a folder and err is the miss of a blob's file there, as in a
// folder whose copy is still running or was cut short. It returns other
// errors unchanged.
func incompleteFolder(path string, err error) error {
	info, statErr := os.Stat(path)
	if statErr != nil || !info.IsDir() || !layout.IsMissingFile(err) {
		return err
	}
	return fmt.Errorf("%v; the layout folder %s lacks the file of this blob, so the folder may be incomplete: "+
		"copy it again: %w", err, path, errdef.ErrInvalidKit)
}

// warnImageRefs logs the warnings of imageRefWarnings and returns them for
// the `warnings` array of -o json. Inspect and verify call it, so a
// hand-edited kit is found before its first mirror.
func warnImageRefs(log *slog.Logger, children []ocispec.Descriptor) []string {
	warnings := imageRefWarnings(children)
	for _, warning := range warnings {
		log.Warn(warning)
	}
	return warnings
}

// imageRefWarnings returns a warning for each image among children, the
// children of a bundle index, whose reference `stella ouk mirror` rejects,
// and for each pair of images whose references name one repository and tag
// (see mirror.FindTargetCollisions). Import and watch pass it to the
// importer, which records the warnings in the history.
func imageRefWarnings(children []ocispec.Descriptor) []string {
	var warnings []string
	valid := make([]ocispec.Descriptor, 0, len(children))
	for _, child := range children {
		if child.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		ref := child.Annotations[oci.AnnotationImageRef]
		if _, _, err := mirror.ImageTarget(ref); err != nil {
			warnings = append(warnings, fmt.Sprintf("invalid image reference, which `stella ouk mirror` rejects: %v "+
				"(image %s). Build the kit again with a valid reference", err, child.Digest))
			continue
		}
		valid = append(valid, child)
	}
	// Only valid references are left, so no error is possible.
	collisions, _ := mirror.FindTargetCollisions(valid)
	for _, collision := range collisions {
		advice := "`stella ouk mirror` rejects the kit. Build the kit again, giving each image its own repository or tag"
		if collision.Untagged != "" {
			advice = "Build the kit again with a tag on each reference"
		}
		warnings = append(warnings, collision.Error()+". "+advice)
	}
	return warnings
}

// inspectKeys loads the keys given with --key and those of the store's keys
// folder when the store folder can be found.
func inspectKeys(g *globalOptions, log *slog.Logger, files []string) ([]sign.TrustedKey, error) {
	dir, err := g.storeDir()
	if err != nil {
		return sign.LoadTrustedKeys(files, nil)
	}
	return trustedKeys(log, dir, files)
}

// openStoreIfPresent opens the store without creating it and without
// waiting for another process.
func openStoreIfPresent(g *globalOptions) (*cas.Store, inspectStoreInfo) {
	if g.svc != nil {
		return g.svc.store, inspectStoreInfo{Dir: filepath.Join(g.svc.dir, storeDBDir), Status: "open"}
	}
	dir, err := g.storeDir()
	if err != nil {
		return nil, inspectStoreInfo{Status: "absent"}
	}
	db := filepath.Join(dir, storeDBDir)
	info := inspectStoreInfo{Dir: db}
	if _, err := os.Stat(db); err != nil {
		info.Status = "absent"
		return nil, info
	}
	s, err := cas.Open(db, cas.Options{ReadOnlyIfUnwritable: true, ReadOnlyIfFull: true, MustExist: true})
	switch {
	case errors.Is(err, errdef.ErrStoreInUse):
		info.Status = "in use"
		return nil, info
	case errors.Is(err, errdef.ErrNotFound):
		// Another process removed the store since the check above.
		info.Status = "absent"
		return nil, info
	case err != nil:
		info.Status = "unreadable: " + err.Error()
		return nil, info
	}
	info.Status = "open"
	return s, info
}

// inspectSignatures verifies every signature referrer in index.json against
// the bundle index or the delta manifest it names.
func inspectSignatures(ctx context.Context, k *delta.Kit, dinfo *delta.Info, keys []sign.TrustedKey) []signatureInfo {
	subjects := map[digest.Digest]struct {
		name string
		desc ocispec.Descriptor
	}{k.Bundle.Digest: {"bundle index", plainDescriptor(k.Bundle)}}
	if dinfo != nil {
		subjects[dinfo.Manifest.Digest] = struct {
			name string
			desc ocispec.Descriptor
		}{"delta manifest", plainDescriptor(dinfo.Manifest)}
	}
	out := []signatureInfo{}
	var manifests []ocispec.Descriptor
	for _, d := range k.Index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageManifest && !delta.IsDeltaEntry(d) {
			manifests = append(manifests, d)
		}
	}
	// A layout folder that `regctl image copy --referrers` wrote lists the
	// signatures of the bundle index in a referrers tag index instead. A kit
	// that stella wrote lists them in both places, and manifests keeps each
	// from counting twice.
	fetch := func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
		return fetchLimited(ctx, k.Storage, d)
	}
	tagged, problems := importer.ReferrersTagSignatures(ctx, fetch, k.Index, k.Bundle.Digest, manifests)
	for _, p := range problems {
		out = append(out, signatureInfo{Subject: "bundle index", Digest: p.Entry.Digest.String(), Reason: p.Error()})
	}
	for _, d := range append(manifests, tagged...) {
		raw, err := fetchLimited(ctx, k.Storage, d)
		if err != nil {
			continue
		}
		bundleDesc, subject, err := sign.ParseReferrerManifest(raw)
		if err != nil {
			continue
		}
		sub, ok := subjects[subject.Digest]
		if !ok {
			// A signature of another kit, as in a mixed-up copy, gets a
			// line of its own, so the bundle index's line below does not
			// read as if the kit had no signature at all.
			out = append(out, signatureInfo{Subject: "bundle index", Digest: d.Digest.String(),
				Reason: fmt.Sprintf("signature is for %s, not this kit", subject.Digest)})
			continue
		}
		si := signatureInfo{Subject: sub.name, Digest: d.Digest.String()}
		subjectRaw, err1 := fetchLimited(ctx, k.Storage, sub.desc)
		bundle, err2 := fetchLimited(ctx, k.Storage, bundleDesc)
		switch {
		case err1 != nil || err2 != nil:
			si.Reason = "signature or subject is missing from the kit"
		case len(keys) == 0:
			si.Reason = "no trusted key given (pass --key)"
		default:
			key, err := sign.VerifyManifest(keys, sub.desc, subjectRaw, bundle)
			if err != nil {
				si.Reason = err.Error()
			} else {
				si.Verified, si.SignedBy = true, key.Source
			}
		}
		out = append(out, si)
	}
	// A subject without any signature gets a line too: import rejects it.
	for _, name := range []string{"bundle index", "delta manifest"} {
		signed := slices.ContainsFunc(out, func(si signatureInfo) bool { return si.Subject == name })
		if !signed && (name == "bundle index" || dinfo != nil) {
			out = append(out, signatureInfo{Subject: name,
				Reason: "the kit carries none, and import rejects it unless --insecure-skip-signature is set"})
		}
	}
	return out
}

// checkHiddenSignature returns the damage error of an index.json entry
// with an unknown media type when the kit at path carries no signature of
// its bundle index. Such an entry may be the signature manifest's entry
// with a flipped bit in its media type, which hides the signature. A
// signed kit may list unknown entries, as the image-layout spec allows.
func checkHiddenSignature(path string, index ocispec.Index, signatures []signatureInfo) error {
	signed := slices.ContainsFunc(signatures, func(si signatureInfo) bool {
		return si.Subject == "bundle index" && si.Digest != ""
	})
	if signed {
		return nil
	}
	advice := layout.DamagedIndexAdvice
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		advice = layout.DamagedFolderIndexAdvice
	}
	return layout.FindUnknownEntry(index, advice)
}

func plainDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

func fetchLimited(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > 4<<20 {
		return nil, fmt.Errorf("%s declares %d bytes, over the 4 MiB limit", d.Digest, d.Size)
	}
	return content.FetchAll(ctx, src, d)
}

// inspectContents fills the DB layers, images and blob totals.
func inspectContents(ctx context.Context, k *delta.Kit, store *cas.Store, rep *inspectReport) error {
	graph, err := k.Walk(ctx)
	if err != nil {
		return err
	}
	inStore := func(d ocispec.Descriptor) bool {
		if store == nil {
			return false
		}
		ok, err := store.Exists(ctx, d)
		return err == nil && ok
	}
	inKit := func(d ocispec.Descriptor) bool {
		ok, err := k.Storage.Exists(ctx, d)
		return err == nil && ok
	}
	for _, set := range []map[digest.Digest]ocispec.Descriptor{graph.Meta, graph.Data} {
		for _, d := range set {
			rep.Blobs.Count++
			rep.Blobs.Bytes += d.Size
			kit, st := inKit(d), inStore(d)
			if kit {
				rep.Blobs.InKit++
				rep.Blobs.InKitBytes += d.Size
			}
			if st {
				rep.Blobs.InStore++
				rep.Blobs.InStoreBytes += d.Size
			}
			if kit && st {
				rep.Blobs.InBoth++
			}
			if !kit && !st {
				rep.Blobs.Missing++
			}
		}
	}
	for _, c := range k.BundleIndex.Manifests {
		switch c.Annotations[oci.AnnotationRole] {
		case oci.RoleDB:
			raw, err := fetchLimited(ctx, k.Storage, c)
			if err != nil {
				return fmt.Errorf("reading DB manifest: %w", err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("decoding DB manifest %s: %w", c.Digest, err)
			}
			for _, l := range m.Layers {
				n, _ := strconv.Atoi(l.Annotations[oci.AnnotationLayerRecords])
				rep.DBLayers = append(rep.DBLayers, dbLayerInfo{Digest: l.Digest.String(), Size: l.Size,
					Kind: l.Annotations[oci.AnnotationLayerKind], Ecosystem: l.Annotations[oci.AnnotationLayerEcosystem],
					Records: n, InKit: inKit(l), InStore: inStore(l)})
			}
		case oci.RoleImage:
			img := imageSizeInfo{Ref: c.Annotations[oci.AnnotationImageRef], Digest: c.Digest.String(),
				Platforms: kitPlatforms(ctx, k.Storage, c)}
			if g, err := delta.WalkGraph(ctx, k.Storage, c); err == nil {
				for _, set := range []map[digest.Digest]ocispec.Descriptor{g.Meta, g.Data} {
					for _, d := range set {
						img.Size += d.Size
					}
				}
			}
			rep.Images = append(rep.Images, img)
		}
	}
	rep.IndexTables = inspectIndexTables(ctx, k)
	return nil
}

// indexTablesInfo describes a kit's pre-built lookup index tables.
type indexTablesInfo struct {
	Manifest string `json:"manifest"`
	// InKit is true when the kit carries every table. A delta leaves
	// them all out.
	InKit  bool  `json:"inKit"`
	Tables int   `json:"tables"`
	Bytes  int64 `json:"bytes"`
	// Present counts the tables the kit carries.
	Present int `json:"present"`
}

// inspectIndexTables reports the pre-built index tables the bundle index
// names, or nil when it names none.
func inspectIndexTables(ctx context.Context, k *delta.Kit) *indexTablesInfo {
	named := k.BundleIndex.Annotations[oci.AnnotationDBIndex]
	if named == "" {
		return nil
	}
	info := &indexTablesInfo{Manifest: named}
	for _, d := range k.Index.Manifests {
		if d.Digest.String() != named {
			continue
		}
		raw, err := fetchLimited(ctx, k.Storage, d)
		if err != nil {
			return info
		}
		var m ocispec.Manifest
		if json.Unmarshal(raw, &m) != nil {
			return info
		}
		for _, l := range m.Layers {
			info.Tables++
			info.Bytes += l.Size
			if ok, err := k.Storage.Exists(ctx, l); err == nil && ok {
				info.Present++
			}
		}
		info.InKit = info.Tables > 0 && info.Present == info.Tables
	}
	return info
}

func kitPlatforms(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) []string {
	out := []string{}
	if !oci.IsIndex(d.MediaType) {
		if d.Platform != nil {
			out = append(out, oci.PlatformString(*d.Platform))
		}
		return out
	}
	raw, err := fetchLimited(ctx, src, d)
	if err != nil {
		return out
	}
	var idx ocispec.Index
	if json.Unmarshal(raw, &idx) != nil {
		return out
	}
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			out = append(out, oci.PlatformString(*m.Platform))
		}
	}
	return out
}

func printInspect(w io.Writer, rep *inspectReport) {
	fmt.Fprintf(w, "Kit %s (%s)\n", rep.Version, rep.Kind)
	fmt.Fprintf(w, "  digest      %s\n", rep.Digest)
	fmt.Fprintf(w, "  sequence    %d\n", rep.Sequence)
	if rep.Base != nil {
		fmt.Fprintf(w, "  base        %s (%s)%s\n", rep.Base.Version, rep.Base.Digest,
			baseState(rep))
	}
	if rep.Active != nil && *rep.Active {
		fmt.Fprintln(w, "  active      yes: this kit is the store's active kit, so import changes nothing")
	}
	fmt.Fprintf(w, "  created     %s\n", rep.Created.UTC().Format(time.RFC3339))
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "  warning     %s\n", warning)
	}
	if rep.Expires.IsZero() {
		fmt.Fprintln(w, "  expires     never")
	} else {
		expired := ""
		if rep.Expired {
			expired = ", EXPIRED: import rejects it unless --allow-expired is given"
		}
		fmt.Fprintf(w, "  expires     %s%s\n", rep.Expires.UTC().Format(time.RFC3339), expired)
	}
	if rep.FileSize > 0 {
		fmt.Fprintf(w, "  file size   %s\n", humanBytes(rep.FileSize))
	}
	for _, s := range rep.Signatures {
		state := "verified by " + s.SignedBy
		if !s.Verified {
			state = "not verified: " + s.Reason
		}
		fmt.Fprintf(w, "  signature   of the %s, %s\n", s.Subject, state)
	}
	for _, l := range rep.DBLayers {
		fmt.Fprintf(w, "  DB layer    %s, %s%s\n", layerLabel(l), humanBytes(l.Size), where(l.InKit, l.InStore))
	}
	for _, img := range rep.Images {
		fmt.Fprintf(w, "  image       %s [%s] %s\n", img.Ref, strings.Join(img.Platforms, ", "), humanBytes(img.Size))
	}
	if t := rep.IndexTables; t != nil {
		switch {
		case t.InKit:
			fmt.Fprintf(w, "  index       %d pre-built lookup index tables, %s\n", t.Tables, humanBytes(t.Bytes))
		case rep.Kind == "delta":
			fmt.Fprintln(w, "  index       pre-built tables left out, as in every delta; import indexes the new DB layers from their records")
		case t.Present > 0:
			fmt.Fprintf(w, "  index       %d of %d pre-built lookup index tables in the kit; import indexes the layers of the missing ones from their records\n",
				t.Present, t.Tables)
		default:
			fmt.Fprintln(w, "  index       pre-built tables named but not in this kit; import indexes the DB layers from their records")
		}
	}
	b := rep.Blobs
	both := ""
	if b.InBoth > 0 {
		both = fmt.Sprintf(", %d of them also in the kit", b.InBoth)
	}
	fmt.Fprintf(w, "  blobs       %d (%s): %d in the kit (%s), %d in the store (%s%s), %d in neither\n",
		b.Count, humanBytes(b.Bytes), b.InKit, humanBytes(b.InKitBytes), b.InStore, humanBytes(b.InStoreBytes), both, b.Missing)
	fmt.Fprintf(w, "  store       %s (%s)\n", rep.Store.Dir, rep.Store.Status)
}

// baseState returns the text after a delta's base line: whether the store
// holds the base, and what to do when it does not. A delta of the active
// kit needs no base, because import reports that kit as already active.
// A delta older than the active kit is rejected as a downgrade, so its
// base would not help.
func baseState(rep *inspectReport) string {
	switch {
	case rep.BaseInStore == nil:
		return ""
	case *rep.BaseInStore:
		return ", in the store"
	case rep.Active != nil && *rep.Active:
		return ", not in the store, and not needed: the kit is already active"
	case rep.newerActive != nil:
		return fmt.Sprintf(", not in the store, and import rejects this delta as a downgrade anyway: its sequence %d "+
			"is lower than %d of the active kit %s", rep.Sequence, rep.newerActive.Sequence, rep.newerActive.Version)
	}
	return fmt.Sprintf(", not in the store: import of this delta is rejected until kit %s "+
		"or its delta is imported, or import the full kit %s, which needs no base", rep.Base.Version, rep.Version)
}

// layerLabel returns a DB layer's kind, ecosystem and record count,
// leaving out an empty ecosystem.
func layerLabel(l dbLayerInfo) string {
	parts := []string{}
	for _, p := range []string{l.Kind, l.Ecosystem} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	parts = append(parts, fmt.Sprintf("%d %s", l.Records, plural(l.Records, "record", "records")))
	return strings.Join(parts, " ")
}

func where(inKit, inStore bool) string {
	switch {
	case inKit && inStore:
		return ", in the kit and the store"
	case inKit:
		return ", in the kit"
	case inStore:
		return ", omitted (in the store)"
	}
	return ", missing"
}
