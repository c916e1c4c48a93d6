package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
)

// OpenDir reads the image layout folder dir and returns its index.json and
// a storage of its blobs. The storage checks size and digest while a
// fetched blob is read: a mismatch surfaces as an error wrapping
// errdef.ErrDigestMismatch at the end of the blob. A folder without
// oci-layout or index.json returns an error wrapping errdef.ErrInvalidKit.
func OpenDir(dir string) (ocispec.Index, content.ReadOnlyStorage, error) {
	fsys := regularFS{dir: dir, stat: os.DirFS(dir).(fs.StatFS)}
	if err := checkLayoutFile(fsys, dir); err != nil {
		return ocispec.Index{}, nil, err
	}
	index, err := readIndexFile(fsys, dir)
	if err != nil {
		return ocispec.Index{}, nil, err
	}
	return index, &verifyingStorage{inner: oci.NewStorageFromFS(fsys)}, nil
}

func checkLayoutFile(fsys fs.FS, dir string) error {
	b, err := readSmallFile(fsys, layoutFileName)
	if errors.Is(err, errdef.ErrUnsafePath) {
		return err
	}
	if err != nil {
		return fmt.Errorf("reading %s: %v; %s is not an OCI image layout folder: %w",
			filepath.Join(dir, layoutFileName), err, dir, errdef.ErrInvalidKit)
	}
	return parseLayoutFile(b, dir)
}

func parseLayoutFile(b []byte, where string) error {
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("decoding oci-layout of %s: %v: %w", where, err, errdef.ErrInvalidKit)
	}
	if l.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("oci-layout of %s has imageLayoutVersion %q, expected %q: %w",
			where, l.Version, ocispec.ImageLayoutVersion, errdef.ErrInvalidKit)
	}
	return nil
}

func readIndexFile(fsys fs.FS, dir string) (ocispec.Index, error) {
	b, err := readSmallFile(fsys, indexFileName)
	if errors.Is(err, errdef.ErrUnsafePath) {
		return ocispec.Index{}, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ocispec.Index{}, fmt.Errorf("folder %s has no index.json; %s: %w",
			dir, DamagedFolderIndexAdvice, errdef.ErrInvalidKit)
	}
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("reading %s: %v: %w",
			filepath.Join(dir, indexFileName), err, errdef.ErrInvalidKit)
	}
	return parseIndex(b, "index.json of "+dir, DamagedFolderIndexAdvice)
}

// readSmallFile reads a file of at most DefaultMaxIndexSize bytes.
func readSmallFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, DefaultMaxIndexSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > DefaultMaxIndexSize {
		return nil, fmt.Errorf("file is larger than %d bytes: %w", DefaultMaxIndexSize, errdef.ErrSizeExceedsLimit)
	}
	return b, nil
}

// regularFS is the layout folder dir as a file system that opens only
// regular files, following symbolic links. Opening a named pipe for
// reading waits until a writer appears, and the Go runtime restarts that
// open after SIGINT, so a pipe in a layout folder from a drop folder or
// removable medium would hang the command for good. The open of some
// devices, such as a terminal, can block the same way.
type regularFS struct {
	dir  string
	stat fs.StatFS
}

// Open opens the regular file name without blocking, and returns an error
// wrapping errdef.ErrUnsafePath when it is of another type.
func (r regularFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	path := filepath.Join(r.dir, filepath.FromSlash(name))
	f, err := regfile.Open(path, "a regular file")
	var notRegular *regfile.NotRegularError
	if errors.As(err, &notRegular) {
		return nil, fmt.Errorf("%s is a %s, but an OCI image layout folder contains only regular files and folders; "+
			"copy the layout folder again from its source: %w", path, regfile.TypeName(notRegular.Mode), errdef.ErrUnsafePath)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stat returns the file information of name without opening it.
func (r regularFS) Stat(name string) (fs.FileInfo, error) {
	return r.stat.Stat(name)
}

// verifyingStorage wraps a storage so that every fetched blob is checked
// against its descriptor's size and digest as it is read.
type verifyingStorage struct {
	inner  content.ReadOnlyStorage
	closer io.Closer
}

// Fetch returns a reader of the blob d. Reading it to the end returns an
// error wrapping errdef.ErrDigestMismatch in place of io.EOF when the
// bytes do not match d.
func (s *verifyingStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.inner.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	return &verifyingReadCloser{rc: rc, vr: content.NewVerifyReader(rc, d), desc: d}, nil
}

// Exists reports whether the blob d is present.
func (s *verifyingStorage) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return s.inner.Exists(ctx, d)
}

// Close releases the file behind a storage that LoadImage opened on an
// archive; for a folder it does nothing.
func (s *verifyingStorage) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

type verifyingReadCloser struct {
	rc   io.Closer
	vr   *content.VerifyReader
	desc ocispec.Descriptor
	err  error
}

func (v *verifyingReadCloser) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.vr.Read(p)
	if err == io.EOF {
		if verr := v.vr.Verify(); verr != nil {
			err = fmt.Errorf("blob %s does not match its descriptor (%d bytes): %w; "+
				"the layout is damaged, so copy it again: %w", v.desc.Digest, v.desc.Size, verr, errdef.ErrDigestMismatch)
		}
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("blob %s ends before its %d bytes; the layout is damaged or still being copied, "+
			"so copy it again: %w: %w", v.desc.Digest, v.desc.Size, errdef.ErrSizeMismatch, err)
	} else if err != nil && (errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData)) {
		err = fmt.Errorf("blob %s does not match its descriptor: %v; the layout is damaged, so copy it again: %w",
			v.desc.Digest, err, errdef.ErrDigestMismatch)
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyingReadCloser) Close() error { return v.rc.Close() }

// MissingFileError is the error of a layout folder that lacks the file of
// a blob the kit needs, as a folder whose copy is still running or was cut
// short does. It wraps errdef.ErrInvalidKit.
type MissingFileError struct {
	// File is the path of the missing file.
	File string
	// Description names the blob in the message, such as "the bundle
	// index that index.json lists".
	Description string
}

func (e *MissingFileError) Error() string {
	return fmt.Sprintf("the layout folder lacks %s, the file of %s, so the kit cannot be read. "+
		"The folder may be incomplete: copy it again", e.File, e.Description)
}

func (e *MissingFileError) Unwrap() error { return errdef.ErrInvalidKit }

// MissingFile returns a *MissingFileError for blob d of the layout folder
// dir, which description names.
func MissingFile(dir string, d digest.Digest, description string) error {
	file := filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
	return &MissingFileError{File: file, Description: description}
}

// IsMissingFile reports whether err, from fetching a blob of a layout
// folder, means that the blob's file does not exist.
func IsMissingFile(err error) bool {
	return errors.Is(err, errdef.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
