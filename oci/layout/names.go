package layout

import (
	"archive/tar"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

// EntryKind is the role of a file in an OCI image layout.
type EntryKind int

// Kinds of layout entries that TarReader returns.
const (
	// LayoutFile is the oci-layout file.
	LayoutFile EntryKind = iota
	// IndexJSON is the index.json file.
	IndexJSON
	// Blob is a file under blobs/<alg>/, named by the digest of its content.
	Blob
	// dirEntry is a directory of the layout; TarReader does not return it.
	dirEntry
)

const (
	layoutFileName = "oci-layout"
	indexFileName  = "index.json"
)

// hexLengths maps each accepted digest algorithm to the length of its hex encoding.
var hexLengths = map[string]int{"sha256": 64, "sha512": 128}

const fixMessage = "rebuild the kit with `stella ouk build` or re-create the archive from the layout folder"

// classify checks one tar header and returns the entry's kind, its name
// with any "./" prefix removed and, for a blob, its digest.
func classify(hdr *tar.Header) (EntryKind, string, digest.Digest, error) {
	if err := checkType(hdr); err != nil {
		return 0, "", "", err
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return 0, "", "", err
	}
	kind, dgst, err := kindOf(name, hdr.Typeflag == tar.TypeDir)
	if err != nil {
		return 0, "", "", err
	}
	if hdr.Size < 0 {
		return 0, "", "", fmt.Errorf("tar entry %q declares a negative size %d; %s: %w",
			hdr.Name, hdr.Size, fixMessage, errdef.ErrInvalidKit)
	}
	return kind, name, dgst, nil
}

// checkType rejects links, devices and other entry types that are not a
// regular file or a directory.
func checkType(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
		return nil
	case tar.TypeSymlink:
		return unsafeEntry(hdr.Name, "a symbolic link to "+quote(hdr.Linkname))
	case tar.TypeLink:
		return unsafeEntry(hdr.Name, "a hard link to "+quote(hdr.Linkname))
	case tar.TypeChar:
		return unsafeEntry(hdr.Name, "a character device")
	case tar.TypeBlock:
		return unsafeEntry(hdr.Name, "a block device")
	case tar.TypeFifo:
		return unsafeEntry(hdr.Name, "a named pipe (FIFO)")
	}
	return fmt.Errorf("tar entry %q has unsupported type %q; a kit contains only regular files and directories; %s: %w",
		hdr.Name, string(hdr.Typeflag), fixMessage, errdef.ErrInvalidKit)
}

func unsafeEntry(name, what string) error {
	return fmt.Errorf("tar entry %q is %s, but a kit contains only regular files and directories; %s: %w",
		name, what, fixMessage, errdef.ErrUnsafePath)
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// cleanName rejects absolute names, ".." elements and backslashes, and
// removes a leading "./" that `tar -C dir .` writes.
func cleanName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") || (len(raw) >= 2 && raw[1] == ':') {
		return "", fmt.Errorf("tar entry %q has an absolute path; %s: %w", raw, fixMessage, errdef.ErrUnsafePath)
	}
	if strings.Contains(raw, "\\") {
		return "", fmt.Errorf("tar entry %q contains a backslash; %s: %w", raw, fixMessage, errdef.ErrUnsafePath)
	}
	for _, elem := range strings.Split(raw, "/") {
		if elem == ".." {
			return "", fmt.Errorf("tar entry %q contains \"..\"; %s: %w", raw, fixMessage, errdef.ErrUnsafePath)
		}
	}
	name := raw
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if name == "." {
		name = ""
	}
	return name, nil
}

// kindOf maps a cleaned name to its role in the layout. The only accepted
// names are oci-layout, index.json, blobs/, blobs/<alg>/ and
// blobs/<alg>/<hex>, for alg sha256 or sha512.
func kindOf(name string, isDir bool) (EntryKind, digest.Digest, error) {
	trimmed := strings.TrimSuffix(name, "/")
	parts := strings.Split(trimmed, "/")
	switch {
	case isDir && (trimmed == "" || trimmed == "blobs"):
		return dirEntry, "", nil
	case isDir && len(parts) == 2 && parts[0] == "blobs" && hexLengths[parts[1]] > 0:
		return dirEntry, "", nil
	case isDir && trimmed == orasIngestDir:
		// oras keeps unfinished downloads there and leaves the folder
		// empty in a layout it finished writing. A file in it is
		// rejected below.
		return dirEntry, "", nil
	case !isDir && name == layoutFileName:
		return LayoutFile, "", nil
	case !isDir && name == indexFileName:
		return IndexJSON, "", nil
	case !isDir && len(parts) == 3 && parts[0] == "blobs":
		if d, ok := blobDigest(parts[1], parts[2]); ok {
			return Blob, d, nil
		}
	}
	what := "file"
	if isDir {
		what = "directory"
	}
	return 0, "", fmt.Errorf("tar entry %q is a %s that an OCI image layout does not contain "+
		"(expected oci-layout, index.json or blobs/sha256/<64 hex digits>); %s: %w",
		name, what, fixMessage, errdef.ErrInvalidKit)
}

// orasIngestDir is the folder of unfinished downloads in a layout that
// oras writes.
const orasIngestDir = "ingest"

// blobDigest returns the digest that blobs/<alg>/<encoded> names, if the
// algorithm is accepted and encoded is lower-case hex of the right length.
func blobDigest(alg, encoded string) (digest.Digest, bool) {
	n := hexLengths[alg]
	if n == 0 || len(encoded) != n {
		return "", false
	}
	for i := 0; i < len(encoded); i++ {
		c := encoded[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), encoded)
	return d, d.Validate() == nil
}
