package layout

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// TarOptions configures WriteTar.
type TarOptions struct {
	// Compression of the stream; the default is None.
	Compression Compression
	// ModTime is the modification time of every entry. It is truncated to
	// whole seconds, and the zero time stands for the Unix epoch.
	ModTime time.Time
	// Include decides, for every blob except the manifests and indexes
	// that index.json lists, whether the blob goes into the stream. A
	// delta returns false for blobs its base already has. Nil includes
	// every blob.
	Include func(ocispec.Descriptor) bool
	// Progress, when set, receives the progress of the blob writes: one
	// report with no blob and no bytes before the first blob, which gives
	// the total, then one after each piece of a blob is written.
	Progress func(TarProgress)
}

// TarProgress is one report of the blob bytes that WriteTar has written.
type TarProgress struct {
	// Blob is the digest of the blob being written, or empty in the first
	// report.
	Blob digest.Digest
	// Bytes is the size of the piece written since the last report.
	Bytes int64
	// Total is the size of all the blobs the stream carries, before
	// compression.
	Total int64
}

// maxManifestSize bounds the manifests and indexes WriteTar reads to find
// their children.
const maxManifestSize = 4 << 20

// layoutFileContent is the oci-layout file of image layout version 1.0.0.
var layoutFileContent = []byte(`{"imageLayoutVersion":"1.0.0"}`)

// WriteTar writes the image layout made of index and the blobs it reaches
// in src to w as a tar stream. The entries are oci-layout, index.json, the
// manifests, indexes, configs and signature bundles sorted by digest, then
// the other blobs sorted by digest. It walks index.Manifests into child manifests and
// indexes, configs and layers; a subject is not followed. Headers are
// fixed (ustar, mode 0644, uid and gid 0, no user names, opts.ModTime) and
// the gzip and zstd encoders use fixed settings, so the same index and
// blobs produce the same bytes. Blobs are streamed from src and verified
// against their digests. A blob that Include selects and src lacks returns
// an error naming its digest before anything is written.
func WriteTar(ctx context.Context, w io.Writer, index ocispec.Index, src content.ReadOnlyStorage, opts TarOptions) error {
	plan, err := planTar(ctx, index, src, opts.Include)
	if err != nil {
		return err
	}
	indexJSON, err := marshalIndex(index)
	if err != nil {
		return err
	}

	cw, err := compressor(w, opts.Compression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(cw)
	mtime := fixedTime(opts.ModTime)
	if err := writeFile(tw, layoutFileName, layoutFileContent, mtime); err != nil {
		return err
	}
	if err := writeFile(tw, indexFileName, indexJSON, mtime); err != nil {
		return err
	}
	// The blobs' bytes go through progress when opts.Progress is set, else
	// straight to tw.
	var data io.Writer = tw
	var progress *progressWriter
	if opts.Progress != nil {
		var total int64
		for _, d := range plan {
			total += d.Size
		}
		opts.Progress(TarProgress{Total: total})
		progress = &progressWriter{w: tw, report: opts.Progress, total: total}
		data = progress
	}
	for _, d := range plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		if progress != nil {
			progress.blob = d.Digest
		}
		if err := writeBlob(ctx, tw, data, src, d, mtime); err != nil {
			return err
		}
	}
	// A cancellation during the last blob must fail the write too, or the
	// caller would commit a kit although the build was interrupted.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing kit tar stream: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("finishing %s compression of the kit stream: %w", opts.Compression, err)
	}
	return nil
}

func marshalIndex(index ocispec.Index) ([]byte, error) {
	if index.SchemaVersion == 0 {
		index.SchemaVersion = 2
	}
	if index.MediaType == "" {
		index.MediaType = ocispec.MediaTypeImageIndex
	}
	b, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("encoding index.json: %w", err)
	}
	return b, nil
}

func fixedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.Truncate(time.Second).UTC()
}

// MaxModTime is the latest modification time that a USTAR header can hold,
// because its mtime field has 11 octal digits: 8^11-1 seconds after the
// Unix epoch, 2242-03-16T12:56:31Z. Kit files carry their creation time in
// USTAR headers, so a kit can be created no later.
var MaxModTime = time.Unix(1<<33-1, 0).UTC()

func header(name string, size int64, mtime time.Time) *tar.Header {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
	// A sha512 blob name is longer than ustar can hold, so it takes PAX.
	if len(name) > 100 {
		hdr.Format = tar.FormatPAX
	}
	return hdr
}

func writeFile(tw *tar.Writer, name string, b []byte, mtime time.Time) error {
	if err := tw.WriteHeader(header(name, int64(len(b)), mtime)); err != nil {
		return fmt.Errorf("writing tar header of %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func blobName(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// writeBlob streams one blob from src into tw, verifying size and digest.
// It stops with ctx.Err() between reads once ctx is done, so that an
// interrupt need not wait for a layer of several GB to be copied.
// The blob's bytes go to data, which is tw itself or a writer in front of
// it.
func writeBlob(ctx context.Context, tw *tar.Writer, data io.Writer, src content.ReadOnlyStorage, d ocispec.Descriptor,
	mtime time.Time) error {
	name := blobName(d.Digest)
	rc, err := src.Fetch(ctx, d)
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	if err := tw.WriteHeader(header(name, d.Size, mtime)); err != nil {
		return fmt.Errorf("writing tar header of blob %s: %w", d.Digest, err)
	}
	vr := content.NewVerifyReader(contextReader{ctx: ctx, r: rc}, d)
	if _, err := io.CopyN(data, vr, d.Size); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("copying blob %s (%d bytes): %w", d.Digest, d.Size, err)
	}
	if err := vr.Verify(); err != nil {
		if errors.Is(err, errdef.ErrDigestMismatch) {
			// The source checked the blob already, and its error gives the cause.
			return fmt.Errorf("verifying blob %s from the source: %w", d.Digest, err)
		}
		return fmt.Errorf("verifying blob %s from the source: %v: %w", d.Digest, err, errdef.ErrDigestMismatch)
	}
	return nil
}

// progressWriter reports each piece of a blob written to w.
type progressWriter struct {
	w      io.Writer
	report func(TarProgress)
	blob   digest.Digest
	total  int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.report(TarProgress{Blob: p.blob, Bytes: int64(n), Total: p.total})
	}
	return n, err
}

// contextReader is a reader that fails with the context's error once the
// context is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// planTar walks the graph from index and returns the blobs to write:
// manifests, indexes, configs and signature bundles sorted by digest, then
// the other blobs sorted by digest.
func planTar(ctx context.Context, index ocispec.Index, src content.ReadOnlyStorage,
	include func(ocispec.Descriptor) bool) ([]ocispec.Descriptor, error) {
	w := &walker{src: src, include: include, seen: make(map[digest.Digest]bool)}
	for _, d := range index.Manifests {
		if err := w.visit(ctx, d, true, true); err != nil {
			return nil, err
		}
	}
	byDigest := func(a, b ocispec.Descriptor) int {
		switch {
		case a.Digest < b.Digest:
			return -1
		case a.Digest > b.Digest:
			return 1
		}
		return 0
	}
	slices.SortFunc(w.meta, byDigest)
	slices.SortFunc(w.data, byDigest)
	return append(w.meta, w.data...), nil
}

type walker struct {
	src     content.ReadOnlyStorage
	include func(ocispec.Descriptor) bool
	seen    map[digest.Digest]bool
	meta    []ocispec.Descriptor // manifests, indexes and configs
	data    []ocispec.Descriptor // layers and other blobs
}

func (w *walker) visit(ctx context.Context, d ocispec.Descriptor, isMeta, forced bool) error {
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("descriptor digest %q is invalid: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
	}
	wanted := forced || w.include == nil || w.include(d)
	if wanted {
		if err := w.checkPresent(ctx, d); err != nil {
			return err
		}
		if isMeta {
			w.meta = append(w.meta, d)
		} else {
			w.data = append(w.data, d)
		}
	}
	if !oci.IsManifest(d.MediaType) {
		return nil
	}
	return w.visitChildren(ctx, d, wanted)
}

func (w *walker) checkPresent(ctx context.Context, d ocispec.Descriptor) error {
	ok, err := w.src.Exists(ctx, d)
	if err != nil {
		return fmt.Errorf("checking blob %s in the source: %w", d.Digest, err)
	}
	if !ok {
		return fmt.Errorf("blob %s (%s, %d bytes) is missing from the source: %w", d.Digest, d.MediaType, d.Size, errdef.ErrNotFound)
	}
	return nil
}

// visitChildren reads a manifest or index and visits its children. An
// excluded manifest that src lacks has no children to visit.
func (w *walker) visitChildren(ctx context.Context, d ocispec.Descriptor, wanted bool) error {
	if d.Size > maxManifestSize {
		return fmt.Errorf("manifest %s is %d bytes, over the limit of %d bytes: %w",
			d.Digest, d.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	b, err := content.FetchAll(ctx, w.src, d)
	if err != nil {
		if !wanted && errors.Is(err, errdef.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	m, err := oci.ParseLinks(d, b)
	if err != nil {
		return err
	}
	if m.Config != nil {
		if err := w.visit(ctx, *m.Config, true, false); err != nil {
			return err
		}
	}
	for _, c := range m.Manifests {
		if err := w.visit(ctx, c, true, false); err != nil {
			return err
		}
	}
	for _, l := range m.Layers {
		// Signature bundles travel with the manifests, so that a reader can
		// check the kit's signature before the large blobs arrive.
		early := oci.IsManifest(l.MediaType) || l.MediaType == oci.MediaTypeSigstoreBundle
		if err := w.visit(ctx, l, early, false); err != nil {
			return err
		}
	}
	return nil
}
