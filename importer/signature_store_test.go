package importer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// A signature that the store cannot read because the store is damaged is
// no signature that failed to verify: the check keeps the store's error,
// so that callers report the damaged store and not an untrusted key.
func TestSignatureCheckKeepsStoreError(t *testing.T) {
	bundle := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("bundle"), Size: 6}
	sig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("sig"), Size: 3}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{bundle, sig}}
	damaged := fmt.Errorf("reading blob %s chunk 0: %w", sig.Digest, errdef.ErrStoreDamaged)
	fetch := func(_ context.Context, d ocispec.Descriptor) ([]byte, error) {
		return nil, damaged
	}

	check := CheckBundleSignature(context.Background(), fetch, index, bundle, []byte("bundle"), nil)
	if check.SignedBy != "" {
		t.Fatalf("an unreadable signature verified, by %s", check.SignedBy)
	}
	if !errors.Is(check.StoreErr, errdef.ErrStoreDamaged) {
		t.Errorf("StoreErr = %v, want the damaged store's error", check.StoreErr)
	}

	// A signature that fails for another reason leaves StoreErr unset.
	fetch = func(_ context.Context, d ocispec.Descriptor) ([]byte, error) {
		return []byte("{}"), nil
	}
	check = CheckBundleSignature(context.Background(), fetch, index, bundle, []byte("bundle"), nil)
	if check.StoreErr != nil {
		t.Errorf("StoreErr = %v for a signature manifest that does not decode, want nil", check.StoreErr)
	}
}
