package layout

import (
	"errors"
	"io"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// TestTarReaderCorruptStream flips each byte of a compressed kit in turn.
// Every error must put the kit in a rejected class and, unless a blob's
// digest caught the damage, advise copying the file again.
func TestTarReaderCorruptStream(t *testing.T) {
	plain := validLayoutTar(t)
	streams := map[string][]byte{"gzip": gzipBytes(t, plain), "zstd": zstdBytes(t, plain)}
	for name, data := range streams {
		t.Run(name, func(t *testing.T) {
			decoderErrors := 0
			for at := range data {
				b := append([]byte(nil), data...)
				b[at] ^= 0xff
				_, err := readAll(b, Limits{})
				if err == nil {
					continue
				}
				if errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, io.ErrUnexpectedEOF) ||
					errors.Is(err, errdef.ErrUnknownCompression) {
					continue
				}
				if !errors.Is(err, errdef.ErrInvalidKit) {
					t.Fatalf("byte %d flipped: err = %v, want errdef.ErrInvalidKit", at, err)
				}
				if !strings.Contains(err.Error(), "copy the kit file again") {
					t.Errorf("byte %d flipped: %q does not advise copying the file again", at, err)
				}
				if strings.Contains(err.Error(), "data of the kit stream is corrupt") {
					decoderErrors++
				}
			}
			if decoderErrors == 0 {
				t.Errorf("no flipped byte made the %s decoder fail; the test covers nothing", name)
			}
		})
	}
}

// TestTarReaderDamagedTrailer damages the last bytes of a compressed kit,
// where gzip keeps its checksum and size and zstd its frame checksum, which
// the decoder checks only when the stream is read to its end.
func TestTarReaderDamagedTrailer(t *testing.T) {
	plain := validLayoutTar(t)
	streams := map[string][]byte{"gzip": gzipBytes(t, plain), "zstd": zstdBytes(t, plain)}
	for name, data := range streams {
		t.Run(name, func(t *testing.T) {
			b := append([]byte(nil), data...)
			b[len(b)-2] ^= 0xff
			_, err := readAll(b, Limits{})
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("damaged trailer: err = %v, want errdef.ErrInvalidKit", err)
			}
		})
	}
}
