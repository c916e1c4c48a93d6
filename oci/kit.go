package oci

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// MaxVersionLength is the longest kit version ParseMeta accepts. Versions
// are printed in tables and logs, so they are kept short and free of
// control characters.
const MaxVersionLength = 128

// Meta is the kit metadata carried in the bundle index annotations.
type Meta struct {
	Version  string    `json:"version"`
	Sequence int64     `json:"sequence"`
	Created  time.Time `json:"created"`
	// Expires is the zero time when the kit does not expire.
	Expires time.Time `json:"expires,omitzero"`
	Schema  string    `json:"schema"`
	// Kind is KindFull or KindDelta.
	Kind string `json:"kind"`
	// BaseDigest and BaseVersion name the base kit of a delta.
	BaseDigest  string `json:"baseDigest,omitempty"`
	BaseVersion string `json:"baseVersion,omitempty"`
}

// Annotations returns m as bundle index annotations.
func (m Meta) Annotations() map[string]string {
	a := map[string]string{
		AnnotationVersion:  m.Version,
		AnnotationSequence: strconv.FormatInt(m.Sequence, 10),
		AnnotationCreated:  m.Created.UTC().Format(time.RFC3339),
		AnnotationSchema:   m.Schema,
		AnnotationKind:     m.Kind,
	}
	if !m.Expires.IsZero() {
		a[AnnotationExpires] = m.Expires.UTC().Format(time.RFC3339)
	}
	if m.BaseDigest != "" {
		a[AnnotationBaseDigest] = m.BaseDigest
		a[AnnotationBaseVersion] = m.BaseVersion
	}
	return a
}

// ParseMeta reads kit metadata from bundle index annotations. It returns an
// error wrapping errdef.ErrInvalidKit when a required key is missing or a
// value is malformed.
func ParseMeta(a map[string]string) (Meta, error) {
	var m Meta
	invalid := func(key, why string) (Meta, error) {
		return Meta{}, fmt.Errorf("bundle index annotation %s %s: %w", key, why, errdef.ErrInvalidKit)
	}
	m.Version = a[AnnotationVersion]
	if m.Version == "" {
		return invalid(AnnotationVersion, "is missing")
	}
	if len(m.Version) > MaxVersionLength || strings.IndexFunc(m.Version, unicode.IsControl) >= 0 {
		return invalid(AnnotationVersion, fmt.Sprintf("is %q; a version is at most %d characters without control characters",
			m.Version, MaxVersionLength))
	}
	seq, err := strconv.ParseInt(a[AnnotationSequence], 10, 64)
	if err != nil || seq < 0 {
		return invalid(AnnotationSequence, fmt.Sprintf("is %q, not a non-negative integer", a[AnnotationSequence]))
	}
	m.Sequence = seq
	if m.Created, err = time.Parse(time.RFC3339, a[AnnotationCreated]); err != nil {
		return invalid(AnnotationCreated, fmt.Sprintf("is %q, not an RFC 3339 time", a[AnnotationCreated]))
	}
	if s, ok := a[AnnotationExpires]; ok && s != "" {
		if m.Expires, err = time.Parse(time.RFC3339, s); err != nil {
			return invalid(AnnotationExpires, fmt.Sprintf("is %q, not an RFC 3339 time", s))
		}
	}
	m.Schema = a[AnnotationSchema]
	if m.Schema != SchemaVersion {
		return invalid(AnnotationSchema, fmt.Sprintf("is %q; this stella reads schema %s (`stella version` shows it), so build and import with releases of the same schema", m.Schema, SchemaVersion))
	}
	m.Kind = a[AnnotationKind]
	switch m.Kind {
	case KindFull:
	case KindDelta:
		m.BaseDigest = a[AnnotationBaseDigest]
		m.BaseVersion = a[AnnotationBaseVersion]
		if m.BaseDigest == "" {
			return invalid(AnnotationBaseDigest, "is missing on a delta")
		}
	default:
		return invalid(AnnotationKind, fmt.Sprintf("is %q, want %q or %q", m.Kind, KindFull, KindDelta))
	}
	return m, nil
}

// MultipleKitsError returns the error of an index.json that lists more
// than one bundle index, as a layout folder into which two kits were
// copied does. versions are the kits' versions, or nil when they are not
// known. It wraps errdef.ErrInvalidKit.
func MultipleKitsError(count int, versions []string) error {
	named := ""
	if len(versions) > 0 {
		named = " (kit versions " + strings.Join(versions, ", ") + ")"
	}
	return fmt.Errorf("invalid kit layout: index.json lists %d bundle indexes%s, one for each kit, but a kit "+
		"layout contains exactly one; copy each kit into a layout folder of its own: %w", count, named, errdef.ErrInvalidKit)
}

// ParseBundleIndex decodes a bundle index and its metadata. It returns an
// error wrapping errdef.ErrInvalidKit when the bytes are not an OCI image
// index with the bundle artifact type, or when a child with a role has a
// media type that the role does not allow (see checkRoles).
func ParseBundleIndex(b []byte) (ocispec.Index, Meta, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, Meta{}, fmt.Errorf("decoding bundle index: %v: %w", err, errdef.ErrInvalidKit)
	}
	if idx.MediaType != ocispec.MediaTypeImageIndex {
		return idx, Meta{}, fmt.Errorf("bundle index media type is %q, want %q: %w",
			idx.MediaType, ocispec.MediaTypeImageIndex, errdef.ErrInvalidKit)
	}
	if idx.ArtifactType != ArtifactTypeBundle {
		return idx, Meta{}, fmt.Errorf("bundle index artifact type is %q, want %q: %w",
			idx.ArtifactType, ArtifactTypeBundle, errdef.ErrInvalidKit)
	}
	m, err := ParseMeta(idx.Annotations)
	if err != nil {
		return idx, Meta{}, err
	}
	if err := checkRoles(idx); err != nil {
		return idx, Meta{}, err
	}
	return idx, m, nil
}

// roleMediaTypes lists the media types that a child of the bundle index may
// have for each role that this release reads as a manifest. Import, rollback,
// status and scan read the DB child's config and layers, and the SBOM child's
// layer, so both must be image manifests, as `stella ouk build` writes them.
// An image child is not listed: build copies its media type from the image
// layout it was given, which may be an artifact manifest or leave the type
// out, and earlier releases stored such kits.
var roleMediaTypes = map[string][]string{
	RoleDB:   {ocispec.MediaTypeImageManifest},
	RoleSBOM: {ocispec.MediaTypeImageManifest},
}

// checkRoles rejects a bundle index whose DB or SBOM child has a media type
// other than an image manifest. Other children are not checked.
func checkRoles(idx ocispec.Index) error {
	for _, d := range idx.Manifests {
		role := d.Annotations[AnnotationRole]
		allowed, known := roleMediaTypes[role]
		if !known || slices.Contains(allowed, d.MediaType) {
			continue
		}
		return fmt.Errorf("bundle index entry %s has role %q and media type %q, but that role requires %s. "+
			"`stella ouk build` never writes such an entry, so get the kit again from its builder: %w",
			d.Digest, role, d.MediaType, strings.Join(allowed, " or "), errdef.ErrInvalidKit)
	}
	return nil
}

// Child returns the first child of the bundle index with the given role, and
// false when there is none.
func Child(idx ocispec.Index, role string) (ocispec.Descriptor, bool) {
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationRole] == role {
			return d, true
		}
	}
	return ocispec.Descriptor{}, false
}
