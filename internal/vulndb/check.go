package vulndb

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/kv"
)

// ReadLayerIndex reads every key and value of the lookup index of layer,
// its marker included, so that the store checks each block that contains
// them, and returns the number of keys read. progress, when not nil, gets
// the bytes of the keys and values read since its last call, every few
// thousand keys.
// It reports a layer that is not indexed in the current format as an
// error. ReadLayerIndex changes nothing in the store.
func ReadLayerIndex(ctx context.Context, store kv.Store, layer digest.Digest, progress func(bytes int64)) (int64, error) {
	indexed, err := IsIndexed(store, layer)
	if err != nil {
		return 0, err
	}
	if !indexed {
		return 0, fmt.Errorf("the lookup index of DB layer %s is missing or was written in an earlier format", layer)
	}
	const progressEvery = 4096
	count, pendingKeys, pendingBytes := int64(1), int64(0), int64(0)
	err = kv.ScanPrefixes(store, layerPrefixes(layer), func(_ int, k, v []byte) error {
		count++
		pendingKeys++
		pendingBytes += int64(len(k) + len(v))
		if pendingKeys < progressEvery {
			return nil
		}
		if progress != nil {
			progress(pendingBytes)
		}
		pendingKeys, pendingBytes = 0, 0
		return ctx.Err()
	})
	if err != nil {
		return count, fmt.Errorf("reading the lookup index of DB layer %s: %w", layer, err)
	}
	if progress != nil && pendingBytes > 0 {
		progress(pendingBytes)
	}
	return count, nil
}
