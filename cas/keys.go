package cas

import (
	"encoding/binary"
	"fmt"
	"net/url"

	"github.com/opencontainers/go-digest"
)

// Key prefixes; the package comment draws the whole layout.
const (
	prefixBlob    = "b/"
	prefixChunk   = "c/"
	prefixEdge    = "p/"
	prefixTag     = "t/"
	keyActive     = "r/active"
	keyFormat     = "r/format"
	prefixHistory = "h/"
	prefixLease   = "l/"
	prefixKV      = "n/"
	prefixCompact = "g/"
)

// compactKey returns the key that marks the chunk range of removed blob d
// as not yet compacted.
func compactKey(d digest.Digest) []byte {
	return []byte(prefixCompact + d.String())
}

func blobKey(d digest.Digest) []byte {
	return []byte(prefixBlob + d.String())
}

// chunkPrefix returns the prefix of every chunk key of d.
func chunkPrefix(d digest.Digest) []byte {
	return []byte(prefixChunk + d.String() + "/")
}

func chunkKey(d digest.Digest, index uint64) []byte {
	k := chunkPrefix(d)
	return binary.BigEndian.AppendUint64(k, index)
}

// edgePrefix returns the prefix of every edge whose child is d.
func edgePrefix(child digest.Digest) []byte {
	return []byte(prefixEdge + child.String() + "/")
}

func edgeKey(child, parent digest.Digest) []byte {
	return append(edgePrefix(child), parent.String()...)
}

func tagKey(ref string) []byte {
	return []byte(prefixTag + ref)
}

func historyKey(seq uint64) []byte {
	return fmt.Appendf(nil, "%s%016d", prefixHistory, seq)
}

func leasePrefix(d digest.Digest) []byte {
	return []byte(prefixLease + d.String() + "/")
}

func leaseKey(d digest.Digest, holder string) []byte {
	return append(leasePrefix(d), holder...)
}

func namespacePrefix(ns string) []byte {
	return []byte(prefixKV + url.QueryEscape(ns) + "/")
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, for use as an exclusive upper bound.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	// NOTE: a prefix of only 0xff bytes has no upper bound; no key prefix
	// used by this package is like that.
	return nil
}
