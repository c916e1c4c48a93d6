package vulndb

import "errors"

// filterBitsPerKey and filterProbes size the Bloom filter of a layer's
// record IDs. 16 bits and 11 probes per ID give a false positive rate of
// about 0.05% per layer (an estimate from the Bloom filter formula). A
// lookup over a stack of 30 layers so reads a record key it did not need
// in about 1.5% of cases.
const (
	filterBitsPerKey = 16
	filterProbes     = 11
)

// idFilter is a Bloom filter over the record IDs (tombstones included) of
// one layer. It returns "maybe" or "no", and a lookup reads a layer's
// record key only when the filter returns "maybe" for the ID. The encoded form
// is one byte with the probe count followed by the bit array.
type idFilter []byte

// newIDFilter returns the filter of a layer holding ids.
func newIDFilter(ids []string) idFilter {
	nbits := max(64, len(ids)*filterBitsPerKey)
	f := make(idFilter, 1+(nbits+7)/8)
	f[0] = filterProbes
	for _, id := range ids {
		f.add(id)
	}
	return f
}

// parseIDFilter checks an encoded filter read from the index.
func parseIDFilter(b []byte) (idFilter, error) {
	if len(b) < 2 || b[0] == 0 || b[0] > 32 {
		return nil, errors.New("malformed record ID filter")
	}
	return idFilter(b), nil
}

// filterHash returns two independent 32-bit hashes of id for double
// hashing. FNV-1a is stable across processes and Go releases, which the
// stored filters need, and the final mix spreads its low bits.
func filterHash(id string) (uint32, uint32) {
	// FNV-1a, 64 bits, written out so that hashing allocates nothing.
	x := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		x ^= uint64(id[i])
		x *= 1099511628211
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return uint32(x), uint32(x>>32) | 1
}

func (f idFilter) add(id string) {
	nbits := uint32(len(f)-1) * 8
	h1, h2 := filterHash(id)
	for i := range uint32(f[0]) {
		bit := (h1 + i*h2) % nbits
		f[1+bit/8] |= 1 << (bit % 8)
	}
}

// mayContain reports false when the layer certainly lacks id.
func (f idFilter) mayContain(id string) bool {
	h1, h2 := filterHash(id)
	return f.mayContainHash(h1, h2)
}

// mayContainHash is mayContain for an ID that filterHash hashed, so that a
// lookup testing the filters of many layers hashes the ID once.
func (f idFilter) mayContainHash(h1, h2 uint32) bool {
	nbits := uint32(len(f)-1) * 8
	for i := range uint32(f[0]) {
		bit := (h1 + i*h2) % nbits
		if f[1+bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}
