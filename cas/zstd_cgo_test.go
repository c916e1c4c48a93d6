//go:build cgo && !pebblegozstd

package cas

// pureGoZstd is false when Pebble compresses zstd blocks with the C
// library. Pre-built tables then differ from those of a build with the
// pebblegozstd tag, and so do the kits that carry them.
const pureGoZstd = false
