package build

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"stella-ops.org/ouk/internal/errdef"
)

// checkImageSource rejects an image path that is neither an OCI layout
// folder nor an oci-archive tar, and names what it found there, before
// layout.LoadImage reads it. A path that cannot be read is left to
// LoadImage, which reports the read error.
func checkImageSource(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return nil
	}
	var found string
	switch {
	case info.IsDir():
		found = describeLayoutFolder(path)
	case info.Mode().IsRegular():
		found = describeArchiveFile(path)
	default:
		found = "it is neither a folder nor a regular file"
	}
	if found == "" {
		return nil
	}
	return &imageSourceError{msg: fmt.Sprintf("image source %s is not an OCI layout folder or oci-archive tar: %s; "+
		"give one such as skopeo copy writes to oci:DIR or oci-archive:FILE", path, found)}
}

// describeLayoutFolder returns what makes dir not an OCI layout folder, or
// "" when it has the oci-layout and index.json files a layout starts with.
func describeLayoutFolder(dir string) string {
	for _, name := range []string{"oci-layout", "index.json"} {
		_, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return "the folder has no " + name + " file"
		}
	}
	return ""
}

// describeArchiveFile returns what makes path not an oci-archive, or ""
// when it starts like a tar, gzip or zstd stream as an archive does.
func describeArchiveFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return ""
	}
	head = head[:n]
	switch {
	case n == 0:
		return "the file is empty"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}), bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ""
	case n >= 262 && string(head[257:262]) == "ustar":
		return ""
	}
	shown := head[:min(n, 8)]
	return fmt.Sprintf("the file starts with bytes %x (%q), which are neither a tar header nor gzip or zstd data",
		shown, shown)
}

// imageSourceError is an image source that is not a readable OCI layout.
// The source is an input of the build and not a kit, so the error unwraps
// to errdef.ErrInvalidArgument and not to the kit errors of any cause,
// such as errdef.ErrInvalidKit.
type imageSourceError struct {
	msg string
}

func (e *imageSourceError) Error() string { return e.msg }

func (e *imageSourceError) Unwrap() error { return errdef.ErrInvalidArgument }

// asImageSourceError returns err from layout.LoadImage as an
// imageSourceError when it says that the source at path is not a readable
// OCI layout, and err otherwise.
//
// NOTE: the text of err comes from oci/layout, which words some of its
// messages for kits.
func asImageSourceError(path string, err error) error {
	for _, target := range []error{errdef.ErrInvalidKit, errdef.ErrUnknownCompression, errdef.ErrUnsafePath,
		io.ErrUnexpectedEOF} {
		if errors.Is(err, target) {
			return &imageSourceError{msg: fmt.Sprintf("image source %s is not a valid OCI layout folder or "+
				"oci-archive tar: %v", path, err)}
		}
	}
	return err
}
