package vulndb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Layer kinds, the values of the oci.AnnotationLayerKind annotation.
const (
	LayerBase    = "base"
	LayerOverlay = "overlay"
)

// DefaultMaxRecordsPerLayer is the number of records at which a base layer
// of one ecosystem is split by ID range.
const DefaultMaxRecordsPerLayer = 20000

// zstdLevel is the fixed compression level of DB layers, chosen by the
// measurements in docs/vulndb.md: the smallest layers, at a build cost paid
// once on the connected side. Changing it changes every layer digest, so
// the first delta after a change carries all layers.
const zstdLevel = zstd.SpeedBestCompression

// MaxRecordSize is the maximum size in bytes of one record line of a DB
// layer, its newline included. Import reads no longer line, so Build stops
// at a source record or a merged record above it.
const MaxRecordSize = 32 << 20

// maxRecordBytes is the maximum size of one encoded record, without the
// newline that ends its layer line.
const maxRecordBytes = MaxRecordSize - 1

// maxLayerDecoded bounds the decompressed size of one layer, against
// decompression bombs.
const maxLayerDecoded = 8 << 30

// maxLayerWindow bounds the zstd window a layer may declare, so a crafted
// frame header cannot make the reader allocate gigabytes. Layers written at
// zstdLevel use a window of a few MiB.
const maxLayerWindow = 64 << 20

// noEcosystem is the layer ecosystem of records that name no package, such
// as NVD records known only by CPE.
const noEcosystem = "unspecified"

// Layer is one DB layer produced by Build.
type Layer struct {
	// Descriptor has media type oci.MediaTypeDBLayer and the annotations
	// oci.AnnotationLayerKind, oci.AnnotationLayerEcosystem (base layers
	// only) and oci.AnnotationLayerRecords.
	Descriptor ocispec.Descriptor
	// Data is the compressed layer, or nil when the layer is reused
	// unchanged from BuildOptions.Base and its bytes are already stored.
	Data []byte
}

// encodeRecords writes records as NDJSON, one compact JSON object a line,
// in the order given.
func encodeRecords(recs []Record) ([]byte, error) {
	var buf bytes.Buffer
	for i := range recs {
		b, err := encodeLine(&recs[i])
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// encodeLine encodes a merged record as one layer line without its newline.
// A line that import could not read fails with an error that names the
// record, its size and its sources. Build skips source records whose
// compact JSON is too large before the merge, so this fails mainly when
// merging several sources made the record too large.
func encodeLine(r *Record) ([]byte, error) {
	b, err := marshalJSON(r)
	if err != nil {
		return nil, fmt.Errorf("encoding record %s: %w", r.ID, err)
	}
	if len(b) > maxRecordBytes {
		var names []string
		for _, p := range r.Sources() {
			names = append(names, sourceName(p.Feed, p.Catalogue)+" "+p.ID)
		}
		return nil, fmt.Errorf("merged record %s is %d bytes (%s) when encoded, above import's maximum of %d bytes "+
			"per record; it merges %s, so remove the largest of these source records from its feed: %w",
			r.ID, len(b), formatMiB(len(b)), maxRecordBytes, strings.Join(names, ", "), errdef.ErrInvalidRecord)
	}
	return b, nil
}

// formatMiB writes a byte count in MiB with one decimal, such as "32.0 MiB".
func formatMiB(n int) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// compress compresses with fixed zstd settings: one goroutine, a fixed
// level and a checksum, so equal input gives equal bytes on any machine.
func compress(data []byte, level zstd.EncoderLevel) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(data, make([]byte, 0, len(data)/4)), nil
}

// newLayer encodes and compresses records into a layer.
func newLayer(recs []Record, kind, ecosystem string, title string) (Layer, error) {
	raw, err := encodeRecords(recs)
	if err != nil {
		return Layer{}, err
	}
	data, err := compress(raw, zstdLevel)
	if err != nil {
		return Layer{}, fmt.Errorf("compressing layer %s: %w", title, err)
	}
	ann := map[string]string{
		oci.AnnotationLayerKind:    kind,
		oci.AnnotationLayerRecords: strconv.Itoa(len(recs)),
		oci.AnnotationTitle:        title,
	}
	if ecosystem != "" {
		ann[oci.AnnotationLayerEcosystem] = ecosystem
	}
	desc := ocispec.Descriptor{
		MediaType:   oci.MediaTypeDBLayer,
		Digest:      digest.FromBytes(data),
		Size:        int64(len(data)),
		Annotations: ann,
	}
	return Layer{Descriptor: desc, Data: data}, nil
}

// readLayer decompresses a layer and calls fn with each record line. The
// line is valid only during the call.
func readLayer(r io.Reader, fn func(line []byte) error) error {
	dec, err := layerDecoder(r)
	if err != nil {
		return fmt.Errorf("opening zstd stream: %v: %w", err, errdef.ErrInvalidKit)
	}
	defer func() {
		// Reset drops the reader, so the pool keeps no input alive.
		if dec.Reset(nil) == nil {
			layerDecoders.Put(dec)
		} else {
			dec.Close()
		}
	}()
	sc := bufio.NewScanner(io.LimitReader(dec, maxLayerDecoded))
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordSize)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("layer line %d: %w", n, err)
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		// Kits built before Build checked record sizes may contain such a line.
		return fmt.Errorf("layer line %d contains a record larger than import's maximum of %d bytes per record; "+
			"rebuild the kit with a current stella, whose build stops at such records: %w",
			n+1, maxRecordBytes, errdef.ErrInvalidKit)
	} else if err != nil {
		return fmt.Errorf("reading layer after line %d: %v: %w", n, err, errdef.ErrInvalidKit)
	}
	return nil
}

// layerDecoders holds zstd decoders for reuse. A new decoder allocates
// window buffers of several MiB for a layer, and a full import reads a few
// dozen layers.
var layerDecoders sync.Pool

// layerDecoder returns a decoder of layer bytes read from r, from the pool
// when it holds one.
func layerDecoder(r io.Reader) (*zstd.Decoder, error) {
	if dec, ok := layerDecoders.Get().(*zstd.Decoder); ok {
		if err := dec.Reset(r); err != nil {
			dec.Close()
			return nil, err
		}
		return dec, nil
	}
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxLayerWindow), zstd.WithDecoderMaxMemory(maxLayerDecoded))
}

// decodeLine parses one layer line into a record and checks its ID. It
// tries the fast decoder first and falls back to encoding/json, which
// also reports the errors.
func decodeLine(line []byte) (Record, error) {
	r, ok := decodeRecordFast(line)
	return finishDecode(r, ok, line)
}

// decodeLineOwned is decodeLine for a line that the caller hands over and
// never modifies again, such as a value read from the store.
func decodeLineOwned(line []byte) (Record, error) {
	r, ok := decodeRecordFastOwned(line)
	return finishDecode(r, ok, line)
}

// finishDecode falls back to encoding/json when the fast decoder did not
// take the line, and checks the record's ID.
func finishDecode(r Record, ok bool, line []byte) (Record, error) {
	if !ok {
		r = Record{}
		if err := json.Unmarshal(line, &r); err != nil {
			return Record{}, fmt.Errorf("decoding record: %v: %w", err, errdef.ErrInvalidRecord)
		}
	}
	if !validID(r.ID) {
		return Record{}, fmt.Errorf("record id %q is invalid: %w", r.ID, errdef.ErrInvalidRecord)
	}
	return r, nil
}
