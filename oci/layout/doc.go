// Package layout reads and writes OCI image layouts, the format of a kit:
// tar streams (plain, gzip or zstd) and folders.
//
// A kit file is untrusted input, so TarReader is the boundary that checks it.
// It streams the archive with bounded memory, accepts only the names an
// image layout uses (oci-layout, index.json, blobs/<alg>/<hex>), rejects
// links, devices, path traversal and duplicates, enforces Limits on entry
// count and sizes, and hashes every blob as it is read.
//
// WriteTar writes the same bytes for the same index and blobs, so a kit's
// digest and detached signature do not depend on the machine that built it.
package layout
