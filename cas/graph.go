package cas

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker and legacy OCI media types that Push recognises besides the OCI
// image manifest and index.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

// manifestFields holds the fields of every manifest or index kind that name
// other blobs.
type manifestFields struct {
	MediaType    string               `json:"mediaType"`
	ArtifactType string               `json:"artifactType"`
	Config       *ocispec.Descriptor  `json:"config"`
	Layers       []ocispec.Descriptor `json:"layers"`
	Manifests    []ocispec.Descriptor `json:"manifests"`
	Blobs        []ocispec.Descriptor `json:"blobs"`
	Subject      *ocispec.Descriptor  `json:"subject"`
}

// edgeValue is the JSON value of p/<child>/<parent>.
type edgeValue struct {
	Parent ocispec.Descriptor `json:"parent"`
	// Subject is true when the child is the parent's subject, which makes
	// the parent a referrer of the child.
	Subject bool `json:"subject,omitempty"`
}

func isManifestType(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		mediaTypeDockerManifest, mediaTypeDockerManifestList, mediaTypeArtifactManifest:
		return true
	}
	return false
}

// sniffManifest fills the media type, artifact type, children and subject
// of meta when b is a manifest or index. The "mediaType" inside b decides;
// declared is used only when b has no "mediaType" field, which OCI allows.
func sniffManifest(meta *blobMeta, b []byte, declared string) {
	if !looksLikeJSONObject(b) {
		return
	}
	var m manifestFields
	if err := json.Unmarshal(b, &m); err != nil {
		return
	}
	mediaType := m.MediaType
	if mediaType == "" {
		mediaType = declared
	}
	if !isManifestType(mediaType) {
		return
	}
	meta.MediaType = mediaType
	meta.ArtifactType = m.ArtifactType
	if meta.ArtifactType == "" && m.Config != nil && mediaType == ocispec.MediaTypeImageManifest {
		// The OCI referrers API reports the config media type of a
		// manifest without an artifactType.
		meta.ArtifactType = m.Config.MediaType
	}

	seen := map[digest.Digest]bool{}
	add := func(desc ocispec.Descriptor) {
		if desc.Digest.Validate() == nil && !seen[desc.Digest] {
			seen[desc.Digest] = true
			meta.Children = append(meta.Children, desc.Digest)
		}
	}
	if m.Config != nil {
		add(*m.Config)
	}
	for _, list := range [][]ocispec.Descriptor{m.Layers, m.Manifests, m.Blobs} {
		for _, desc := range list {
			add(desc)
		}
	}
	if m.Subject != nil && m.Subject.Digest.Validate() == nil {
		meta.Subject = m.Subject.Digest
	}
}

func looksLikeJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// parentDescriptor returns the descriptor that Predecessors reports for
// the manifest d.
func parentDescriptor(d digest.Digest, meta *blobMeta) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    meta.MediaType,
		Digest:       d,
		Size:         meta.Size,
		ArtifactType: meta.ArtifactType,
	}
}

// addEdges adds to batch one edge from every child and the subject of the
// manifest d to d.
func addEdges(batch *pebble.Batch, d digest.Digest, meta *blobMeta) error {
	parent := parentDescriptor(d, meta)
	put := func(child digest.Digest, subject bool) error {
		value, err := json.Marshal(edgeValue{Parent: parent, Subject: subject})
		if err != nil {
			return err
		}
		return batch.Set(edgeKey(child, d), value, nil)
	}
	for _, child := range meta.Children {
		if child == meta.Subject {
			continue // written once below, marked as subject
		}
		if err := put(child, false); err != nil {
			return err
		}
	}
	if meta.Subject != "" {
		return put(meta.Subject, true)
	}
	return nil
}

// deleteEdges adds to batch the removal of every edge from the children and
// subject of the manifest d.
func deleteEdges(batch *pebble.Batch, d digest.Digest, meta *blobMeta) error {
	for _, child := range meta.Children {
		if err := batch.Delete(edgeKey(child, d), nil); err != nil {
			return err
		}
	}
	if meta.Subject != "" {
		return batch.Delete(edgeKey(meta.Subject, d), nil)
	}
	return nil
}

// Predecessors returns the stored manifests and indexes whose children or
// subject include node, each with MediaType, Digest, Size and ArtifactType.
// A node without predecessors returns an empty list and no error.
func (s *Store) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	edges, err := s.edges(ctx, node.Digest)
	if err != nil {
		return nil, err
	}
	out := make([]ocispec.Descriptor, 0, len(edges))
	for _, e := range edges {
		out = append(out, e.Parent)
	}
	return out, nil
}

// Referrers returns the stored manifests whose subject is node, such as
// its signature manifests, each with MediaType, Digest, Size and
// ArtifactType. GC keeps them while it keeps node. Unlike Predecessors,
// it leaves out the manifests and indexes that name node as a child.
func (s *Store) Referrers(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	edges, err := s.edges(ctx, node.Digest)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, e := range edges {
		if e.Subject {
			out = append(out, e.Parent)
		}
	}
	return out, nil
}

// edges returns the edges whose child is d. Delete removes the edges of a
// parent together with its metadata, so every parent returned is stored.
func (s *Store) edges(ctx context.Context, d digest.Digest) ([]edgeValue, error) {
	var out []edgeValue
	err := s.scan(edgePrefix(d), func(key, value []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var e edgeValue
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("decoding edge %q: %w", key, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing predecessors of %s: %w", d, err)
	}
	return out, nil
}

// Children returns the digests of the blobs that the manifest or index d
// names, from the record that Push wrote when it stored d. It reads no
// content of d, so it lists them also when that content is damaged. A
// blob that is no manifest or index returns an empty list.
func (s *Store) Children(_ context.Context, d digest.Digest) ([]digest.Digest, error) {
	m, err := s.graphMeta(d)
	if err != nil {
		return nil, err
	}
	return m.Children, nil
}
