// Package build assembles a kit: it merges the vulnerability feeds into DB
// layers, gathers the images, writes or takes an SBOM, signs the bundle index
// and writes the whole as a deterministic OCI image layout tar stream.
package build

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// Image is one image to carry in a kit.
type Image struct {
	// Ref is the reference the image is mirrored to, such as
	// "registry.example/stella-ops/scanner:0.1.0".
	Ref string `json:"ref"`
	// Path is an OCI layout folder or an oci-archive tar.
	Path string `json:"path"`
}

// Options configures a build.
type Options struct {
	// Output is the kit file; its suffix picks the compression.
	Output string
	// Version names the kit; default the creation time as 2006.01.02-150405.
	Version string
	// Sequence orders kits; default the creation time in Unix seconds.
	Sequence int64
	// Feeds are the vulnerability feeds merged into the DB.
	Feeds []vulndb.Feed
	// Images are carried with every platform they have. When empty and
	// Base is set, the base kit's images are carried over unless
	// DropBaseImages is set.
	Images []Image
	// CheckImages, when set, is called with the bundle children of the
	// given images once they are loaded, before the kit is written, and
	// its error stops the build. The CLI passes the mirror's target
	// collision check, which needs the digests of the images.
	CheckImages func([]ocispec.Descriptor) error
	// DropBaseImages leaves out the base kit's images when Images is
	// empty, so the new kit carries no image.
	DropBaseImages bool
	// SBOM is an SPDX 2.3 JSON file; empty generates one from the kit's contents.
	SBOM string
	// Signer signs the bundle index; nil builds an unsigned kit.
	Signer crypto.Signer
	// Expires is how long after creation the kit stays importable; 0 never expires.
	Expires time.Duration
	// Created is the creation time; the CLI sets it from SOURCE_DATE_EPOCH or the clock.
	Created time.Time
	// Base is a previous kit (file or layout folder) whose DB layers are reused.
	Base string
	// Rollup writes fresh base layers instead of adding an overlay to Base.
	Rollup bool
	// Removal says which records of Base the build may remove; the zero
	// value is the strict default (see vulndb.RemovalPolicy).
	Removal vulndb.RemovalPolicy
	// IndexTables adds pre-built lookup index tables for every DB layer,
	// so that an import of the kit ingests them instead of indexing the
	// records itself. The kit grows by about twice the size of its DB
	// layers; a delta written from it leaves the tables out.
	IndexTables bool
	// ToolVersion is the release of the program that builds the kit, named
	// with it as the creator of a generated SBOM; empty names the tool
	// without a release.
	ToolVersion string
	// DeltaOutput, when set, is a second file that receives the delta from
	// Base to the new kit, written from the same build.
	DeltaOutput string
	// Logger receives progress; default discards.
	Logger *slog.Logger
	// Progress, when set, receives reports of how far the build got, from
	// the goroutine that called Build. See Progress and Stage.
	Progress func(Progress)
}

// Result describes a built kit.
type Result struct {
	Output   string    `json:"output"`
	Digest   string    `json:"digest"`
	Version  string    `json:"version"`
	Sequence int64     `json:"sequence"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	// Expired is true when Expires was already past when the build ended,
	// which a creation time from an old SOURCE_DATE_EPOCH can cause.
	// Import rejects such a kit unless --allow-expired is given.
	Expired bool     `json:"expired"`
	Size    int64    `json:"size"`
	Layers  int      `json:"dbLayers"`
	Images  []string `json:"images"`
	// BaseImages lists the references of Images carried over from the
	// base kit.
	BaseImages []string       `json:"baseImages,omitempty"`
	Signed     bool           `json:"signed"`
	Summary    vulndb.Summary `json:"summary"`
	// IndexTables describes the pre-built index tables when
	// Options.IndexTables was set.
	IndexTables *TablesInfo `json:"indexTables,omitempty"`
	// Delta describes the delta file when Options.DeltaOutput was set.
	Delta *delta.Result `json:"delta,omitempty"`
}

// TablesInfo counts the pre-built index tables of a kit.
type TablesInfo struct {
	Tables int   `json:"tables"`
	Bytes  int64 `json:"bytes"`
}

// Build writes a kit as opts describes.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Created.IsZero() {
		return nil, fmt.Errorf("build options: no creation time set")
	}
	if opts.DeltaOutput != "" && opts.Base == "" {
		return nil, fmt.Errorf("build options: a delta output needs a base kit")
	}
	created := opts.Created.UTC().Truncate(time.Second)
	if opts.Sequence == 0 && created.Unix() <= 0 {
		return nil, fmt.Errorf("build options: the creation time %s gives no positive default sequence; set a sequence: %w",
			created.Format(time.RFC3339), errdef.ErrInvalidArgument)
	}
	comp, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	b := &builder{opts: opts, created: created, mem: memory.New()}
	b.src = &multiSource{first: b.mem}
	if opts.Base != "" {
		b.startStage(StageBase)
		if b.base, err = delta.OpenKit(ctx, opts.Base); err != nil {
			return nil, fmt.Errorf("opening base kit: %w", err)
		}
		defer b.base.Close()
		if info, err := delta.FindDelta(ctx, b.base.Storage, b.base.Index, b.base.Bundle.Digest); err == nil {
			v := b.base.Meta.Version
			return nil, fmt.Errorf("base kit %s (%s) is a delta of kit %s: it leaves out the blobs of that kit, so a "+
				"build cannot start from it; pass the full kit of %s, which a build with --delta writes beside the delta: %w",
				opts.Base, v, info.Config.Base.Version, v, errdef.ErrInvalidArgument)
		}
		if err := b.checkAboveBase(); err != nil {
			return nil, err
		}
		b.src.rest = append(b.src.rest, b.base.Storage)
	}

	dbDesc, summary, err := b.buildDB(ctx)
	if err != nil {
		return nil, err
	}
	children := []ocispec.Descriptor{dbDesc}
	imageDescs, err := b.addImages(ctx)
	if err != nil {
		return nil, err
	}
	children = append(children, imageDescs...)
	sbomDesc, err := b.addSBOM(ctx, dbDesc, imageDescs, summary)
	if err != nil {
		return nil, err
	}
	children = append(children, sbomDesc)

	meta := oci.Meta{
		Version:  b.version(),
		Sequence: b.sequence(),
		Created:  created,
		Schema:   oci.SchemaVersion,
		Kind:     oci.KindFull,
	}
	if opts.Expires > 0 {
		meta.Expires = created.Add(opts.Expires)
	}
	annotations := meta.Annotations()
	var tablesDesc ocispec.Descriptor
	if opts.IndexTables {
		b.startStage(StageTables)
		if tablesDesc, err = b.addIndexTables(ctx, dbDesc); err != nil {
			return nil, err
		}
		annotations[oci.AnnotationDBIndex] = tablesDesc.Digest.String()
	}
	bundleDesc, bundleBytes, err := b.pushJSON(ctx, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned:    specsVersioned,
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: oci.ArtifactTypeBundle,
		Manifests:    children,
		Annotations:  annotations,
	})
	if err != nil {
		return nil, err
	}
	bundleDesc.ArtifactType = oci.ArtifactTypeBundle

	top := bundleDesc
	top.Annotations = map[string]string{oci.AnnotationRefName: meta.Version}
	index := ocispec.Index{Versioned: specsVersioned, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{top}}
	if opts.Signer != nil {
		entries, err := b.sign(ctx, bundleDesc, bundleBytes)
		if err != nil {
			return nil, err
		}
		index.Manifests = append(index.Manifests, entries...)
	} else {
		opts.Logger.Warn("no signing key given: the kit is unsigned and import will reject it unless --insecure-skip-signature is set")
	}
	if opts.IndexTables {
		index.Manifests = append(index.Manifests, tablesDesc)
	}

	removeKitFolders, err := CreateParentFolder(opts.Output)
	if err != nil {
		return nil, err
	}
	defer removeKitFolders()
	if opts.DeltaOutput != "" {
		removeDeltaFolders, err := CreateParentFolder(opts.DeltaOutput)
		if err != nil {
			return nil, err
		}
		defer removeDeltaFolders()
	}
	// The kit stays in a temporary file until the delta, if any, is
	// written too, so an interrupted or failed build leaves neither file.
	pendingKit, err := layout.WritePendingTarFile(ctx, opts.Output, index, b.src,
		layout.TarOptions{Compression: comp, ModTime: created, Progress: b.tarProgress(StageKit)})
	if err != nil {
		return nil, err
	}
	defer pendingKit.Discard()
	res := &Result{
		Output:   opts.Output,
		Digest:   bundleDesc.Digest.String(),
		Version:  meta.Version,
		Sequence: meta.Sequence,
		Created:  created,
		Expires:  meta.Expires,
		Expired:  !meta.Expires.IsZero() && time.Now().After(meta.Expires),
		Size:     pendingKit.Size(),
		Layers:   b.layerCount,
		Signed:   opts.Signer != nil,
		Summary:  summary,
		Images:   []string{},
		// Set only when the build added tables.
		IndexTables: b.tables,
	}
	for _, img := range imageDescs {
		res.Images = append(res.Images, img.Annotations[oci.AnnotationImageRef])
	}
	if len(opts.Images) == 0 {
		res.BaseImages = res.Images
	}
	if opts.DeltaOutput == "" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := pendingKit.Commit(); err != nil {
			return nil, err
		}
		return res, nil
	}
	deltaRes, pendingDelta, err := b.writeDelta(ctx, index)
	if err != nil {
		return nil, err
	}
	defer pendingDelta.Discard()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Commit checks no context, so a signal from here on no longer stops
	// the build between the two renames. The kit goes first: should the
	// second rename fail, `stella ouk delta` can write the delta from it.
	// The earlier delta goes before either, so that a build killed in
	// between leaves no delta beside a kit it does not belong to.
	if err := pendingDelta.RemoveOutput(); err != nil {
		return nil, err
	}
	if err := pendingKit.Commit(); err != nil {
		return nil, err
	}
	afterKitCommit()
	if err := pendingDelta.Commit(); err != nil {
		return nil, err
	}
	delta.LogWritten(opts.Logger, deltaRes)
	res.Delta = deltaRes
	return res, nil
}

// afterKitCommit runs between the renames of the kit and its delta. Tests
// replace it to see what a build killed there leaves.
var afterKitCommit = func() {}

// sequence returns the new kit's sequence: Options.Sequence, or the
// creation time in Unix seconds when that is 0.
func (b *builder) sequence() int64 {
	if b.opts.Sequence == 0 {
		return b.created.Unix()
	}
	return b.opts.Sequence
}

// checkAboveBase rejects a new kit whose sequence is not above the base
// kit's. A site that imported the base rejects a lower sequence as a
// downgrade, and an equal one leaves the order of the two kits unknown,
// which `stella ouk delta` rejects too.
func (b *builder) checkAboveBase() error {
	seq, base := b.sequence(), b.base.Meta
	if seq > base.Sequence {
		return nil
	}
	given := fmt.Sprintf("kit sequence %d", seq)
	if b.opts.Sequence == 0 {
		given += " (the creation time in Unix seconds, the default)"
	}
	reason := "a site that imported the base would reject the new kit as a downgrade"
	if seq == base.Sequence {
		reason = "two kits with one sequence have no order, so a site could not tell which is newer"
	}
	fix := fmt.Sprintf("give a sequence of %d or higher with --sequence", base.Sequence+1)
	if base.Sequence == math.MaxInt64 {
		fix = "no higher sequence exists, so build on a base with a lower sequence"
	}
	return fmt.Errorf("%s is not above %d, the sequence of base kit %s (%s): %s; %s: %w",
		given, base.Sequence, b.opts.Base, base.Version, reason, fix, errdef.ErrInvalidArgument)
}

// version returns the kit version: Options.Version, else the creation
// time as 2006.01.02-150405. A base kit built in the same second has that
// version already, or that version with ".N" after it, and the new kit
// then gets ".1", or ".N+1", after it, so that messages about the delta
// and its base tell the two apart, also along a chain of such builds.
func (b *builder) version() string {
	if b.opts.Version != "" {
		return b.opts.Version
	}
	v := b.created.Format("2006.01.02-150405")
	if b.base == nil {
		return v
	}
	switch baseVersion := b.base.Meta.Version; {
	case baseVersion == v:
		return v + ".1"
	case strings.HasPrefix(baseVersion, v+"."):
		if n, err := strconv.Atoi(strings.TrimPrefix(baseVersion, v+".")); err == nil && n > 0 {
			return fmt.Sprintf("%s.%d", v, n+1)
		}
	}
	return v
}

// beforeMkdir, when set, runs before CreateParentFolder creates each
// folder. Tests set it to create the folder first, as another process may.
var beforeMkdir func(dir string)

// CreateParentFolder creates the folders above the output file path that do
// not exist yet, as mkdir -p does, so an output such as out/kit.tar.zst
// needs no mkdir first. The returned cleanup removes the folders that this
// call created, deepest first, when no file is at path and each is empty,
// so a caller defers it and a failed write leaves no folder behind. A
// folder that another process created meanwhile is not this call's.
func CreateParentFolder(path string) (cleanup func(), err error) {
	dir := filepath.Dir(path)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string // deepest first
	cleanup = func() {
		if _, err := os.Lstat(path); err == nil {
			return
		}
		for _, d := range created {
			if os.Remove(d) != nil {
				return
			}
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if beforeMkdir != nil {
			beforeMkdir(missing[i])
		}
		if os.Mkdir(missing[i], 0o755) == nil {
			created = append([]string{missing[i]}, created...)
		}
	}
	// MkdirAll reports what the loop could not create, such as a folder
	// under a file.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		cleanup()
		return func() {}, fmt.Errorf("creating folder %s for the output %s: %w", dir, path, err)
	}
	return cleanup, nil
}

// writeDelta writes the delta from the base kit to the kit just built to a
// temporary file, reading the new kit's blobs from the build's own sources.
func (b *builder) writeDelta(ctx context.Context, index ocispec.Index) (*delta.Result, *layout.PendingTarFile, error) {
	target, err := delta.FromStorage(ctx, b.src, index)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the new kit for the delta: %w", err)
	}
	return delta.WritePendingFile(ctx, b.opts.DeltaOutput, b.base, target,
		delta.Options{Signer: b.opts.Signer, Created: b.created, Logger: b.opts.Logger,
			Progress: b.tarProgress(StageDelta)})
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}

type builder struct {
	opts       Options
	created    time.Time
	mem        *memory.Store
	src        *multiSource
	layerCount int
	// tables describes the pre-built index tables, when added.
	tables *TablesInfo
	// base is the kit opened from Options.Base, or nil.
	base *delta.Kit
}

// pushJSON marshals v, stores it in the staging store and returns its descriptor.
func (b *builder) pushJSON(ctx context.Context, mediaType string, v any) (ocispec.Descriptor, []byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("encoding %s: %w", mediaType, err)
	}
	desc, err := b.pushBytes(ctx, mediaType, raw)
	return desc, raw, err
}

func (b *builder) pushBytes(ctx context.Context, mediaType string, raw []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	ok, err := b.mem.Exists(ctx, desc)
	if err != nil || ok {
		return desc, err
	}
	if err := b.mem.Push(ctx, desc, bytes.NewReader(raw)); err != nil {
		return desc, fmt.Errorf("staging %s %s: %w", mediaType, desc.Digest, err)
	}
	return desc, nil
}

// sign stores the signature referrer of the bundle index and the referrers
// tag index that lists it, and returns their index.json entries. The
// signature manifest is listed in index.json for readers of layouts such as
// oras, and in the tag index for those that find referrers only through
// the referrers tag schema, such as regctl.
func (b *builder) sign(ctx context.Context, subject ocispec.Descriptor, subjectBytes []byte) ([]ocispec.Descriptor, error) {
	ref, err := sign.SignManifest(b.opts.Signer, subject, subjectBytes, b.created)
	if err != nil {
		return nil, fmt.Errorf("signing bundle index: %w", err)
	}
	for _, blob := range []struct {
		desc ocispec.Descriptor
		raw  []byte
	}{{ref.ConfigDesc, ref.Config}, {ref.BundleDesc, ref.Bundle}, {ref.ManifestDesc, ref.Manifest}} {
		if _, err := b.pushBytes(ctx, blob.desc.MediaType, blob.raw); err != nil {
			return nil, err
		}
	}
	listed, err := layout.ReferrerDescriptor(ref.ManifestDesc, ref.Manifest)
	if err != nil {
		return nil, err
	}
	tagDesc, tagRaw, err := layout.NewReferrersTagIndex(subject.Digest, []ocispec.Descriptor{listed})
	if err != nil {
		return nil, err
	}
	if _, err := b.pushBytes(ctx, tagDesc.MediaType, tagRaw); err != nil {
		return nil, err
	}
	return []ocispec.Descriptor{ref.ManifestDesc, tagDesc}, nil
}
