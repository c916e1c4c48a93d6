package sbom

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// endlessReader returns an SPDX document that never ends, and cancels its
// context in its first read.
type endlessReader struct {
	cancel  func()
	started bool
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if !r.started {
		r.started = true
		r.cancel()
		return copy(p, `{"spdxVersion":"SPDX-2.3","packages":[`), nil
	}
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestParseContextStopsReading checks that a cancelled context stops the
// read of an SBOM from a reader that is not a file. Without that, the read
// would go on to MaxSBOMSize and fail with ErrSizeExceedsLimit.
func TestParseContextStopsReading(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, err := ParseContext(ctx, &endlessReader{cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// cancellingReaderAt serves data and cancels a context once a read reaches
// the offset cancelAt in the pass of the parse that the test stops: the
// first pass, or the second, which starts with a read below an offset
// read before. It records the furthest offset read after the cancel.
type cancellingReaderAt struct {
	data     []byte
	cancelAt int64
	// secondPass makes the reader cancel in the second pass.
	secondPass bool
	cancel     func()

	inSecondPass  bool
	furthest      int64
	cancelled     bool
	furthestAfter int64
}

func (r *cancellingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < r.furthest {
		r.inSecondPass = true
	}
	end := off + int64(len(p))
	r.furthest = max(r.furthest, end)
	if r.cancelled {
		r.furthestAfter = max(r.furthestAfter, end)
	} else if end > r.cancelAt && r.inSecondPass == r.secondPass {
		r.cancelled = true
		r.cancel()
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// TestParseContextStopsInArrays checks that a cancelled context stops the
// scan of the top-level members and the decoding of the packages within a
// few elements, in an SPDX and a CycloneDX document. The windows read 256
// bytes at a time, so a parse that went on to the end of the packages
// would read far past where the context was cancelled.
func TestParseContextStopsInArrays(t *testing.T) {
	defer func(chunk int64) { windowChunk = chunk }(windowChunk)
	windowChunk = 256
	for name, doc := range map[string][]byte{"SPDX": generateSPDX(200), "CycloneDX": generateCycloneDX(200)} {
		// Both generated documents start with their packages.
		packages := int64(bytes.Index(doc, []byte(`"name": "pkg-0"`)))
		cancelAt := packages + int64(len(doc))/20
		for _, secondPass := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			src := &cancellingReaderAt{data: doc, cancelAt: cancelAt, secondPass: secondPass, cancel: cancel}
			_, _, err := parseDocument(ctx, &document{src: src, end: int64(len(doc))})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s, second pass %v: error %v, want context.Canceled", name, secondPass, err)
				continue
			}
			if !src.cancelled {
				t.Errorf("%s, second pass %v: the context was never cancelled", name, secondPass)
			}
			// An element of the generated documents is under 1 KiB.
			if limit := cancelAt + 4096; src.furthestAfter > limit {
				t.Errorf("%s, second pass %v: read to offset %d after the cancel at %d, want at most %d",
					name, secondPass, src.furthestAfter, cancelAt, limit)
			}
		}
	}
}
