package oci

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// Links are the descriptors that a manifest or an index names: its config,
// its layers and the manifests of an index.
type Links struct {
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// ParseLinks decodes the descriptors that the manifest or index b names.
// Malformed JSON is an error wrapping errdef.ErrInvalidKit.
func ParseLinks(d ocispec.Descriptor, b []byte) (Links, error) {
	var l Links
	if err := json.Unmarshal(b, &l); err != nil {
		return Links{}, fmt.Errorf("decoding manifest %s: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
	}
	return l, nil
}

// IsIndex reports whether a media type names an OCI image index or a
// Docker manifest list, the two forms of a multi-platform image.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == mediaTypeDockerManifestList
}

// PlatformString formats a platform as OS/ARCHITECTURE, followed by
// /VARIANT when it has one, such as linux/arm/v7.
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// IsManifest reports whether a media type names an OCI or Docker image
// manifest or index, a blob that names other blobs.
func IsManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		mediaTypeDockerManifestList:
		return true
	}
	return false
}
