package delta

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// Options configures Write.
type Options struct {
	// Signer signs the delta manifest; nil writes an unsigned delta, which
	// import rejects unless signatures are skipped.
	Signer crypto.Signer
	// Created is the creation time of the delta manifest and the tar
	// entries. The default is the target kit's creation time, so the same
	// kits give the same bytes apart from the signature.
	Created time.Time
	// Compression of the output stream.
	Compression layout.Compression
	// Logger receives progress; default discards.
	Logger *slog.Logger
	// Progress, when set, receives the bytes of the blobs written to the
	// delta, as layout.TarOptions describes.
	Progress func(layout.TarProgress)
}

// Result describes a written delta.
type Result struct {
	Output        string `json:"output,omitempty"`
	Digest        string `json:"digest"`
	Version       string `json:"version"`
	Sequence      int64  `json:"sequence"`
	BaseDigest    string `json:"baseDigest"`
	BaseVersion   string `json:"baseVersion"`
	Manifest      string `json:"deltaManifest"`
	BlobsIncluded int    `json:"blobsIncluded"`
	BytesIncluded int64  `json:"bytesIncluded"`
	BlobsOmitted  int    `json:"blobsOmitted"`
	BytesOmitted  int64  `json:"bytesOmitted"`
	Size          int64  `json:"size"`
	Signed        bool   `json:"signed"`
}

// Plan is the content of a delta from one kit to another.
type Plan struct {
	// Index is the delta's index.json.
	Index ocispec.Index
	// Omitted are the target's blobs the delta leaves out.
	Omitted map[digest.Digest]bool
	// Source serves the target's blobs and the delta manifest.
	Source content.ReadOnlyStorage
	// Result holds the figures of the plan; Size is set by Write.
	Result Result
}

// Compute plans the delta that turns base into target: every manifest,
// index and config of target, the target's signature referrers, a new
// delta manifest naming base, and the target's other blobs that base's
// graph lacks.
func Compute(ctx context.Context, base, target *Kit, opts Options) (*Plan, error) {
	if base.Bundle.Digest == target.Bundle.Digest {
		return nil, fmt.Errorf("base and target are the same kit %s (%s); a delta needs an older base: %w",
			target.Meta.Version, target.Bundle.Digest, errdef.ErrInvalidKit)
	}
	baseGraph, err := base.Walk(ctx)
	if err != nil {
		return nil, fmt.Errorf("walking base kit %s: %w", base.Meta.Version, err)
	}
	targetGraph, err := target.Walk(ctx)
	if err != nil {
		return nil, fmt.Errorf("walking target kit %s: %w", target.Meta.Version, err)
	}
	created := opts.Created
	if created.IsZero() {
		created = target.Meta.Created
	}
	created = created.UTC().Truncate(time.Second)

	p := &Plan{Omitted: map[digest.Digest]bool{}}
	cfg := Config{
		Base:   Ref{Digest: base.Bundle.Digest, Version: base.Meta.Version, Sequence: base.Meta.Sequence},
		Target: Ref{Digest: target.Bundle.Digest, Version: target.Meta.Version, Sequence: target.Meta.Sequence},
	}
	for dg, d := range targetGraph.Data {
		if baseGraph.Has(dg) {
			p.Omitted[dg] = true
			cfg.Omitted = append(cfg.Omitted, Blob{Digest: dg, Size: d.Size})
			p.Result.BlobsOmitted++
			p.Result.BytesOmitted += d.Size
		} else {
			p.Result.BlobsIncluded++
			p.Result.BytesIncluded += d.Size
		}
	}
	slices.SortFunc(cfg.Omitted, func(a, b Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })

	mem := memory.New()
	entries, err := deltaEntries(ctx, mem, target, cfg, created, opts.Signer)
	if err != nil {
		return nil, err
	}
	top := target.Bundle
	top.Annotations = map[string]string{oci.AnnotationRefName: target.Meta.Version}
	sigs := signatures(ctx, target.Storage, target.Index, target.Bundle.Digest)
	p.Index = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: append([]ocispec.Descriptor{top}, sigs...)}
	if len(sigs) > 0 {
		tagDesc, err := referrersTagIndex(ctx, mem, target, sigs)
		if err != nil {
			return nil, err
		}
		p.Index.Manifests = append(p.Index.Manifests, tagDesc)
	}
	p.Index.Manifests = append(p.Index.Manifests, entries...)
	p.Source = &twoSources{first: mem, second: target.Storage}
	p.Result.Digest = target.Bundle.Digest.String()
	p.Result.Version = target.Meta.Version
	p.Result.Sequence = target.Meta.Sequence
	p.Result.BaseDigest = base.Bundle.Digest.String()
	p.Result.BaseVersion = base.Meta.Version
	p.Result.Manifest = entries[0].Digest.String()
	p.Result.Signed = opts.Signer != nil
	return p, nil
}

// deltaEntries stores the delta manifest, its config and its signature in
// mem and returns their index.json entries: the delta manifest first.
func deltaEntries(ctx context.Context, mem *memory.Store, target *Kit, cfg Config, created time.Time,
	signer crypto.Signer) ([]ocispec.Descriptor, error) {
	cfgRaw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding delta config: %w", err)
	}
	cfgDesc, err := push(ctx, mem, MediaTypeConfig, cfgRaw)
	if err != nil {
		return nil, err
	}
	empty := ocispec.DescriptorEmptyJSON
	if _, err := push(ctx, mem, empty.MediaType, empty.Data); err != nil {
		return nil, err
	}
	empty.Data = nil
	subject := ocispec.Descriptor{MediaType: target.Bundle.MediaType, Digest: target.Bundle.Digest,
		Size: target.Bundle.Size, ArtifactType: oci.ArtifactTypeBundle}
	annotations := map[string]string{
		oci.AnnotationKind:        oci.KindDelta,
		oci.AnnotationBaseDigest:  cfg.Base.Digest.String(),
		oci.AnnotationBaseVersion: cfg.Base.Version,
		oci.AnnotationCreated:     created.Format(time.RFC3339),
	}
	raw, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       cfgDesc,
		Layers:       []ocispec.Descriptor{empty},
		Subject:      &subject,
		Annotations:  annotations,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding delta manifest: %w", err)
	}
	desc, err := push(ctx, mem, ocispec.MediaTypeImageManifest, raw)
	if err != nil {
		return nil, err
	}
	desc.ArtifactType = ArtifactType
	desc.Annotations = map[string]string{
		oci.AnnotationKind:        oci.KindDelta,
		oci.AnnotationBaseDigest:  cfg.Base.Digest.String(),
		oci.AnnotationBaseVersion: cfg.Base.Version,
	}
	out := []ocispec.Descriptor{desc}
	if signer == nil {
		return out, nil
	}
	plain := desc
	plain.Annotations = nil
	ref, err := sign.SignManifest(signer, plain, raw, created)
	if err != nil {
		return nil, fmt.Errorf("signing delta manifest: %w", err)
	}
	for _, b := range []struct {
		d   ocispec.Descriptor
		raw []byte
	}{{ref.ConfigDesc, ref.Config}, {ref.BundleDesc, ref.Bundle}, {ref.ManifestDesc, ref.Manifest}} {
		if _, err := push(ctx, mem, b.d.MediaType, b.raw); err != nil {
			return nil, err
		}
	}
	return append(out, ref.ManifestDesc), nil
}

// referrersTagIndex stores in mem the referrers tag index of the target's
// bundle index that lists the signature manifests sigs, read from the
// target's storage, and returns its index.json entry.
// NOTE: the index leaves out the delta manifest, although its subject is
// the bundle index too, and the delta manifest's signature gets no tag
// index. A copy by `regctl image copy --referrers` thus carries the kit's
// signatures but no delta manifest, as `stella ouk push` does.
func referrersTagIndex(ctx context.Context, mem *memory.Store, target *Kit,
	sigs []ocispec.Descriptor) (ocispec.Descriptor, error) {
	listed := make([]ocispec.Descriptor, 0, len(sigs))
	for _, d := range sigs {
		raw, err := fetchSmall(ctx, target.Storage, d)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading signature manifest %s: %w", d.Digest, err)
		}
		r, err := layout.ReferrerDescriptor(d, raw)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		listed = append(listed, r)
	}
	entry, raw, err := layout.NewReferrersTagIndex(target.Bundle.Digest, listed)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := push(ctx, mem, entry.MediaType, raw); err != nil {
		return ocispec.Descriptor{}, err
	}
	return entry, nil
}

func push(ctx context.Context, mem *memory.Store, mediaType string, raw []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	ok, err := mem.Exists(ctx, d)
	if err != nil || ok {
		return d, err
	}
	if err := mem.Push(ctx, d, bytes.NewReader(raw)); err != nil {
		return d, fmt.Errorf("staging %s: %w", d.Digest, err)
	}
	return d, nil
}

// Write writes the planned delta to w as a deterministic tar stream.
func (p *Plan) Write(ctx context.Context, w io.Writer, opts Options, modTime time.Time) error {
	return layout.WriteTar(ctx, w, p.Index, p.Source, p.tarOptions(opts, modTime))
}

func (p *Plan) tarOptions(opts Options, modTime time.Time) layout.TarOptions {
	return layout.TarOptions{
		Compression: opts.Compression,
		ModTime:     modTime,
		Include:     func(d ocispec.Descriptor) bool { return !p.Omitted[d.Digest] },
		Progress:    opts.Progress,
	}
}

// WriteFile computes the delta from base to target and writes it to out,
// compressed by out's suffix. It writes a temporary file beside out and
// renames it, so a failure never leaves a partial delta under out.
func WriteFile(ctx context.Context, out string, base, target *Kit, opts Options) (*Result, error) {
	res, pending, err := WritePendingFile(ctx, out, base, target, opts)
	if err != nil {
		return nil, err
	}
	defer pending.Discard()
	if err := pending.Commit(); err != nil {
		return nil, err
	}
	LogWritten(opts.Logger, res)
	return res, nil
}

// WritePendingFile computes the delta as WriteFile does and writes it to a
// temporary file beside out, which the caller renames into place with the
// returned file's Commit, or removes with its Discard. The Result already
// names out.
func WritePendingFile(ctx context.Context, out string, base, target *Kit, opts Options) (*Result, *layout.PendingTarFile, error) {
	comp, err := layout.CompressionFromName(out)
	if err != nil {
		return nil, nil, err
	}
	opts.Compression = comp
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := Compute(ctx, base, target, opts)
	if err != nil {
		return nil, nil, err
	}
	modTime := opts.Created
	if modTime.IsZero() {
		modTime = target.Meta.Created
	}
	pending, err := layout.WritePendingTarFile(ctx, out, p.Index, p.Source, p.tarOptions(opts, modTime))
	if err != nil {
		return nil, nil, err
	}
	p.Result.Output = out
	p.Result.Size = pending.Size()
	return &p.Result, pending, nil
}

// LogWritten logs at info level a delta that is in place under its output
// name.
func LogWritten(logger *slog.Logger, res *Result) {
	if logger == nil {
		return
	}
	logger.Info("delta written", "version", res.Version, "digest", res.Digest,
		"base", res.BaseVersion, "blobs", res.BlobsIncluded, "omitted", res.BlobsOmitted, "bytes", res.Size)
}

// twoSources reads from first, then from second.
type twoSources struct {
	first, second content.ReadOnlyStorage
}

func (t *twoSources) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if ok, err := t.first.Exists(ctx, d); err == nil && ok {
		return t.first.Fetch(ctx, d)
	}
	return t.second.Fetch(ctx, d)
}

func (t *twoSources) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if ok, err := t.first.Exists(ctx, d); err == nil && ok {
		return true, nil
	}
	return t.second.Exists(ctx, d)
}
