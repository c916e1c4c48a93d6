package layout

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
)

// LoadImage opens the image ref from path, an OCI image layout folder or an
// oci-archive tar file (plain, gzip or zstd), and returns its descriptor
// from index.json with a storage of its blobs. It chooses the entry of
// ref's digest, else the entry whose org.opencontainers.image.ref.name
// annotation equals ref's tag or the whole ref. When no entry matches, the
// only entry of index.json is chosen. A multi-platform image is returned as its image
// index, so every platform is kept. No match returns an error wrapping
// errdef.ErrNotFound that lists the names index.json offers.
//
// The storage verifies every blob as it is read. For an archive it keeps
// the file open and implements io.Closer, which the caller may call when
// done with the image.
func LoadImage(ctx context.Context, path, ref string) (ocispec.Descriptor, content.ReadOnlyStorage, error) {
	info, err := os.Stat(path)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("opening image: %w", err)
	}
	var index ocispec.Index
	var src *verifyingStorage
	if info.IsDir() {
		var store content.ReadOnlyStorage
		index, store, err = OpenDir(path)
		if err == nil {
			src = store.(*verifyingStorage)
		}
	} else {
		index, src, err = openArchive(ctx, path)
	}
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	desc, err := selectImage(index, ref, path)
	if err != nil {
		src.Close()
		return ocispec.Descriptor{}, nil, err
	}
	return desc, src, nil
}

// selectImage picks the entry of index that ref names.
func selectImage(index ocispec.Index, ref, where string) (ocispec.Descriptor, error) {
	tag, dgst := splitRef(ref)
	// A digest names one image, while a tag may have moved since the
	// reference was written, so the digest is matched first.
	for _, d := range index.Manifests {
		if dgst != "" && d.Digest == dgst {
			return d, nil
		}
	}
	for _, d := range index.Manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		if name != "" && (name == ref || name == tag) {
			return d, nil
		}
	}
	if len(index.Manifests) == 1 {
		return index.Manifests[0], nil
	}
	var names []string
	for _, d := range index.Manifests {
		if name := d.Annotations[ocispec.AnnotationRefName]; name != "" {
			names = append(names, name)
		} else {
			names = append(names, d.Digest.String())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("index.json of %s lists no images: %w", where, errdef.ErrNotFound)
	}
	return ocispec.Descriptor{}, fmt.Errorf("no image in %s is named %q; index.json lists %s, "+
		"so pass a reference whose tag is one of them: %w", where, ref, strings.Join(names, ", "), errdef.ErrNotFound)
}

// splitRef returns the tag and digest of a reference such as
// "registry.example/repo:tag@sha256:...". Either may be empty.
func splitRef(ref string) (string, digest.Digest) {
	var dgst digest.Digest
	if at := strings.LastIndex(ref, "@"); at >= 0 {
		dgst = digest.Digest(ref[at+1:])
		ref = ref[:at]
	}
	colon := strings.LastIndex(ref, ":")
	if colon < 0 || colon < strings.LastIndex(ref, "/") {
		return "", dgst
	}
	return ref[colon+1:], dgst
}

// openArchive indexes the entries of an oci-archive file and returns its
// index.json and a storage that serves blobs from their offsets in the file.
func openArchive(ctx context.Context, path string) (ocispec.Index, *verifyingStorage, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return ocispec.Index{}, nil, fmt.Errorf("opening image archive: %w", err)
	}
	plain, err := plainArchive(f)
	if err != nil {
		f.Close()
		return ocispec.Index{}, nil, fmt.Errorf("reading archive %s: %w", path, err)
	}
	if plain != f {
		f.Close()
	}
	store, index, err := indexArchive(ctx, plain, path)
	if err != nil {
		plain.Close()
		return ocispec.Index{}, nil, err
	}
	return index, &verifyingStorage{inner: store, closer: plain}, nil
}

// plainArchive returns f when it is a plain tar, or else an unlinked
// temporary file holding the decompressed tar.
//
// NOTE: a compressed archive is decompressed to a temporary file, because
// blobs are served by offset. The file is unlinked at once, so its space
// returns when the storage is closed or the process exits.
func plainArchive(f *os.File) (*os.File, error) {
	br := bufio.NewReaderSize(f, 4096)
	c, err := detectCompression(br)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if c == None {
		return f, nil
	}
	r, release, err := decompress(f)
	if err != nil {
		return nil, err
	}
	defer release()
	tmp, err := os.CreateTemp("", "stella-image-*.tar")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file for the decompressed archive: %w", err)
	}
	os.Remove(tmp.Name())
	// The decoder stops data that expands too far (maxExpandedSize).
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("decompressing %s archive: the compressed stream ends early, so the file is truncated; copy it again: %w", c, err)
		}
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("decompressing %s archive to a temporary file in %s: %w; free space there, or "+
				"set TMPDIR to a folder on a volume with room for the uncompressed archive", c, os.TempDir(), err)
		}
		return nil, fmt.Errorf("decompressing %s archive: %w", c, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, err
	}
	return tmp, nil
}

// archiveStorage serves blobs from sections of a plain tar file.
type archiveStorage struct {
	f     *os.File
	blobs map[digest.Digest]section
}

type section struct{ offset, size int64 }

// indexArchive reads the tar headers of f, applying the same name and type
// checks as TarReader, and records where each blob's data starts.
func indexArchive(ctx context.Context, f *os.File, where string) (*archiveStorage, ocispec.Index, error) {
	x := &archiveIndexer{
		store: &archiveStorage{f: f, blobs: make(map[digest.Digest]section)},
		lim:   Limits{}.withDefaults(),
		seen:  make(map[string]bool),
		where: where,
	}
	tr := tar.NewReader(f)
	// end is the offset just past the data of the last entry read, padding
	// included, where the end-of-archive marker must start.
	var end int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, ocispec.Index{}, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ocispec.Index{}, fmt.Errorf("reading archive %s: %w", where, readError(err))
		}
		if n >= x.lim.MaxEntries {
			return nil, ocispec.Index{}, fmt.Errorf("image archive %s has more than %d entries: %w",
				where, x.lim.MaxEntries, errdef.ErrSizeExceedsLimit)
		}
		// archive/tar reads headers without buffering ahead, so the file
		// offset is now the start of this entry's data.
		start, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, ocispec.Index{}, fmt.Errorf("reading archive %s: %w", where, err)
		}
		end = start + (hdr.Size+blockSize-1)/blockSize*blockSize
		if err := x.add(hdr, tr); err != nil {
			return nil, ocispec.Index{}, err
		}
	}
	if err := checkArchiveEnd(f, end, where); err != nil {
		return nil, ocispec.Index{}, err
	}

	index, err := x.finish()
	if err != nil {
		return nil, ocispec.Index{}, err
	}
	return x.store, index, nil
}

// checkArchiveEnd rejects an archive whose end-of-archive marker (two zero
// blocks) is missing at offset end. archive/tar takes the end of the file
// for the end of the archive, so without this check a file cut short at an
// entry boundary would read as a complete archive that lacks some blobs.
func checkArchiveEnd(f *os.File, end int64, where string) error {
	marker := make([]byte, 2*blockSize)
	n, err := f.ReadAt(marker, end)
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading archive %s: %w", where, err)
	}
	if n < len(marker) || strings.Trim(string(marker), "\x00") != "" {
		return fmt.Errorf("reading archive %s: the tar stream ends without its end-of-archive marker, so the "+
			"file is truncated; copy it again: %w", where, io.ErrUnexpectedEOF)
	}
	return nil
}

// archiveIndexer collects the entries of an oci-archive.
type archiveIndexer struct {
	store      *archiveStorage
	lim        Limits
	seen       map[string]bool
	where      string
	indexJSON  []byte
	layoutJSON []byte
}

// add checks one entry and records its content or offset.
func (x *archiveIndexer) add(hdr *tar.Header, tr *tar.Reader) error {
	kind, name, dgst, err := classify(hdr)
	if err != nil {
		return fmt.Errorf("reading image archive %s: %w", x.where, err)
	}
	if x.seen[name] {
		return fmt.Errorf("image archive %s: tar entry %q appears twice: %w", x.where, hdr.Name, errdef.ErrInvalidKit)
	}
	x.seen[name] = true

	switch kind {
	case LayoutFile, IndexJSON:
		b, err := io.ReadAll(io.LimitReader(tr, x.lim.MaxIndexSize+1))
		if err != nil {
			return fmt.Errorf("reading %s of %s: %w", name, x.where, readError(err))
		}
		if int64(len(b)) > x.lim.MaxIndexSize {
			return fmt.Errorf("%s of %s is larger than %d bytes: %w",
				name, x.where, x.lim.MaxIndexSize, errdef.ErrSizeExceedsLimit)
		}
		if kind == LayoutFile {
			x.layoutJSON = b
		} else {
			x.indexJSON = b
		}
	case Blob:
		// archive/tar reads headers without buffering ahead, so the file
		// offset is now the start of this entry's data.
		off, err := x.store.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("locating blob %s in %s: %w", dgst, x.where, err)
		}
		x.store.blobs[dgst] = section{offset: off, size: hdr.Size}
	}
	return nil
}

// finish checks oci-layout and returns the parsed index.json.
func (x *archiveIndexer) finish() (ocispec.Index, error) {
	if x.layoutJSON == nil {
		return ocispec.Index{}, fmt.Errorf("image archive %s has no oci-layout file, so it is not an oci-archive: %w",
			x.where, errdef.ErrInvalidKit)
	}
	if err := parseLayoutFile(x.layoutJSON, x.where); err != nil {
		return ocispec.Index{}, err
	}
	if x.indexJSON == nil {
		return ocispec.Index{}, fmt.Errorf("image archive %s has no index.json: %w", x.where, errdef.ErrInvalidKit)
	}
	return parseIndex(x.indexJSON, "index.json of "+x.where, "")
}

// Fetch returns a reader of the section of the archive holding blob d.
// A blob the archive lacks returns an error wrapping errdef.ErrNotFound.
func (s *archiveStorage) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	sec, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(s.f, sec.offset, sec.size)), nil
}

// Exists reports whether the archive holds blob d.
func (s *archiveStorage) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	_, ok := s.blobs[d.Digest]
	return ok, nil
}
