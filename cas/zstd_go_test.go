//go:build !cgo || pebblegozstd

package cas

// pureGoZstd reports whether Pebble compresses zstd blocks with its Go
// encoder. The Makefile sets the pebblegozstd tag so that it does even when
// cgo is on.
const pureGoZstd = true
