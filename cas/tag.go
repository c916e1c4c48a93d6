package cas

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// Tag points ref at desc, replacing any earlier target. The blob must be
// stored, or Tag returns an error wrapping errdef.ErrNotFound. GC keeps
// tagged blobs and everything they reach.
func (s *Store) Tag(_ context.Context, desc ocispec.Descriptor, ref string) error {
	if ref == "" {
		return fmt.Errorf("tagging %s: reference is empty", desc.Digest)
	}
	ok, err := s.has(desc.Digest)
	if err != nil {
		return fmt.Errorf("tagging %s as %q: %w", desc.Digest, ref, err)
	}
	if !ok {
		return fmt.Errorf("tagging %s as %q: push the blob first: %w", desc.Digest, ref, errdef.ErrNotFound)
	}
	value, err := json.Marshal(desc)
	if err != nil {
		return fmt.Errorf("tagging %s as %q: %w", desc.Digest, ref, err)
	}
	if err := s.write(func() error { return s.db.Set(tagKey(ref), value, pebble.Sync) }); err != nil {
		return fmt.Errorf("tagging %s as %q: %w", desc.Digest, ref, err)
	}
	return nil
}

// Resolve returns the descriptor that ref points at, or an error wrapping
// errdef.ErrNotFound.
func (s *Store) Resolve(_ context.Context, ref string) (ocispec.Descriptor, error) {
	value, err := s.get(tagKey(ref))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolving %q: %w", ref, err)
	}
	var desc ocispec.Descriptor
	if err := json.Unmarshal(value, &desc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decoding tag %q: %w", ref, err)
	}
	return desc, nil
}

// Untag removes ref; the blob it pointed at stays until GC. A missing ref
// returns an error wrapping errdef.ErrNotFound.
func (s *Store) Untag(_ context.Context, ref string) error {
	if _, err := s.get(tagKey(ref)); err != nil {
		return fmt.Errorf("untagging %q: %w", ref, err)
	}
	if err := s.write(func() error { return s.db.Delete(tagKey(ref), pebble.Sync) }); err != nil {
		return fmt.Errorf("untagging %q: %w", ref, err)
	}
	return nil
}

// tags returns the descriptors of every tag.
func (s *Store) tags() ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := s.scan([]byte(prefixTag), func(key, value []byte) error {
		var desc ocispec.Descriptor
		if err := json.Unmarshal(value, &desc); err != nil {
			return fmt.Errorf("decoding tag %q: %w", key, err)
		}
		out = append(out, desc)
		return nil
	})
	return out, err
}
