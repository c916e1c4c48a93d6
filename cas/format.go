package cas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// formatSniffedIngest is the store format from which every blob of at most
// maxSniffSize bytes has its manifest media type and edges recorded, the
// blobs that Push ingests as sstables included. Earlier releases recorded
// them only for blobs under ingestThreshold, and a store they wrote has
// no keyFormat.
//
// NOTE: an earlier release ignores keyFormat, so a manifest of 256 KiB or
// more that it pushes into a store after this release opened it stays
// without edges, and GC then removes that manifest's children.
const formatSniffedIngest = 2

// checkFormat sets s.unsniffed when the store predates
// formatSniffedIngest. A store open for writing is then repaired at once
// (repairManifests). A read-only store cannot be, so mark and KitComplete
// parse the blobs concerned as they reach them (graphMeta).
func (s *Store) checkFormat(ctx context.Context) error {
	value, err := s.get([]byte(keyFormat))
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("reading store format: %w", err)
	}
	if err == nil {
		if version, parseErr := strconv.Atoi(string(value)); parseErr == nil && version >= formatSniffedIngest {
			return nil
		}
	}
	s.unsniffed = true
	if s.readOnly {
		return nil
	}
	if err := s.repairManifests(ctx); err != nil {
		return err
	}
	if err := s.write(func() error {
		return s.db.Set([]byte(keyFormat), strconv.AppendInt(nil, formatSniffedIngest, 10), pebble.Sync)
	}); err != nil {
		return fmt.Errorf("writing store format: %w", err)
	}
	s.unsniffed = false
	return nil
}

// unsniffedCandidate reports whether an earlier release may have stored
// the blob with metadata m without its manifest media type and edges. Such
// a blob has no media type, went through the ingest path and is small
// enough to sniff.
func unsniffedCandidate(m *blobMeta) bool {
	return m.MediaType == "" && m.Size >= ingestThreshold && m.Size <= maxSniffSize
}

// repairManifests records the media type and edges of every manifest and
// index that an earlier release ingested without them. Each such blob
// costs one read of its first chunk, and a manifest a second read of its
// whole content.
func (s *Store) repairManifests(ctx context.Context) error {
	var candidates []digest.Digest
	prefix := []byte(prefixBlob)
	err := s.scan(prefix, func(key, value []byte) error {
		d := digest.Digest(key[len(prefix):])
		m, err := decodeMeta(d, value)
		if err != nil {
			return err
		}
		if unsniffedCandidate(m) {
			candidates = append(candidates, d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing blobs to check for manifests: %w", err)
	}

	repaired := 0
	for _, d := range candidates {
		ok, err := s.repairManifest(ctx, d)
		if err != nil {
			return fmt.Errorf("recording manifest edges of blob %s: %w", d, err)
		}
		if ok {
			repaired++
			s.log.Info("recorded the manifest edges of a blob that an earlier release stored without them",
				"digest", d)
		}
	}
	s.log.Debug("checked blobs stored without manifest edges", "checked", len(candidates), "repaired", repaired)
	return nil
}

// repairManifest sniffs the blob d and, when it is a manifest or index,
// writes its metadata and edges in one synced batch. It reports whether it
// wrote them.
func (s *Store) repairManifest(ctx context.Context, d digest.Digest) (bool, error) {
	release, err := s.claim(ctx, d)
	if err != nil {
		return false, err
	}
	defer release()

	m, err := s.meta(d)
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil // removed since the scan
	}
	if err != nil {
		return false, err
	}
	if !unsniffedCandidate(m) {
		return false, nil
	}
	manifest, err := s.sniffStored(d, m)
	if err != nil || !manifest {
		return false, err
	}
	return true, s.commitMeta(d, m)
}

// sniffStored fills the media type and edges of m, the metadata of the
// stored blob d, when d is a manifest or index, and reports whether it is.
// A blob removed meanwhile is no manifest. Other read errors are returned,
// because a manifest taken for a layer would lose its children to GC.
func (s *Store) sniffStored(d digest.Digest, m *blobMeta) (bool, error) {
	// Layers are compressed, so the first chunk rules out almost all of
	// them without reading the rest.
	first, err := s.get(chunkKey(d, 0))
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading blob %s: %w", d, err)
	}
	if !looksLikeJSONObject(first) {
		return false, nil
	}
	r, err := s.Fetch(context.Background(), ocispec.Descriptor{Digest: d})
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxSniffSize))
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sniffManifest(m, b, declaredManifestType(b))
	return m.MediaType != "", nil
}

// declaredManifestType returns the media type to sniff b with, in place of
// the one Push was given, which an earlier release did not record. For a
// manifest without a "mediaType" field, that is the OCI type its fields
// imply: an image manifest for a config, an index for a list of manifests.
func declaredManifestType(b []byte) string {
	var m manifestFields
	if json.Unmarshal(b, &m) != nil || m.MediaType != "" {
		return ""
	}
	switch {
	case m.Config != nil && m.Config.MediaType != "":
		return ocispec.MediaTypeImageManifest
	case len(m.Manifests) > 0:
		return ocispec.MediaTypeImageIndex
	}
	return ""
}

// graphMeta returns the metadata of d with its edges. In a store that
// predates formatSniffedIngest and could not be repaired, it parses a
// blob that may be a manifest stored without them, and writes nothing.
func (s *Store) graphMeta(d digest.Digest) (*blobMeta, error) {
	m, err := s.meta(d)
	if err != nil || !s.unsniffed || !unsniffedCandidate(m) {
		return m, err
	}
	if _, err := s.sniffStored(d, m); err != nil {
		return nil, err
	}
	return m, nil
}

// StoreFormat is the format that this release writes into a store, as
// `stella version` reports it.
func StoreFormat() int { return formatSniffedIngest }
