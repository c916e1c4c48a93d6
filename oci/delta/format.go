package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Media and artifact types of the delta manifest.
const (
	// ArtifactType is the artifactType of the delta manifest, an OCI image
	// manifest whose subject is the new kit's bundle index.
	ArtifactType = "application/vnd.stellaops.ouk.delta.v1+json"
	// MediaTypeConfig is the config of the delta manifest: a Config as JSON.
	MediaTypeConfig = "application/vnd.stellaops.ouk.delta.config.v1+json"
)

// MaxConfigSize bounds the delta config a reader decodes.
const MaxConfigSize = 4 << 20

// Ref names a kit by the digest of its bundle index.
type Ref struct {
	Digest   digest.Digest `json:"digest"`
	Version  string        `json:"version"`
	Sequence int64         `json:"sequence"`
}

// Blob is a blob a delta omits because its base holds it.
type Blob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Config is the content of the delta manifest's config blob.
type Config struct {
	// Base is the kit the delta applies to.
	Base Ref `json:"base"`
	// Target is the kit the delta produces; its digest is the subject.
	Target Ref `json:"target"`
	// Omitted lists the blobs of the target that the delta leaves out,
	// sorted by digest.
	Omitted []Blob `json:"omitted"`
}

// Info is a parsed delta manifest with its config.
type Info struct {
	// Manifest is the delta manifest descriptor.
	Manifest ocispec.Descriptor
	// Target is the subject of the delta manifest: the bundle index of
	// the kit that the delta produces.
	Target digest.Digest
	// Config is the decoded config.
	Config Config
}

// ParseManifest decodes a delta manifest and checks its shape: an image
// manifest of ArtifactType, a config of MediaTypeConfig, a subject, and
// annotations naming the base. Errors wrap errdef.ErrInvalidKit.
func ParseManifest(b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	invalid := func(format string, args ...any) (ocispec.Manifest, error) {
		return m, fmt.Errorf("delta manifest: "+format+": %w", append(args, errdef.ErrInvalidKit)...)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return invalid("decoding: %v", err)
	}
	switch {
	case m.MediaType != ocispec.MediaTypeImageManifest:
		return invalid("media type is %q, want %q", m.MediaType, ocispec.MediaTypeImageManifest)
	case m.ArtifactType != ArtifactType:
		return invalid("artifact type is %q, want %q", m.ArtifactType, ArtifactType)
	case m.Config.MediaType != MediaTypeConfig:
		return invalid("config media type is %q, want %q", m.Config.MediaType, MediaTypeConfig)
	case m.Subject == nil:
		return invalid("no subject names the bundle index")
	case m.Config.Size < 0 || m.Config.Size > MaxConfigSize:
		return invalid("config declares %d bytes, over the %d byte limit", m.Config.Size, MaxConfigSize)
	}
	if err := m.Subject.Digest.Validate(); err != nil {
		return invalid("subject digest %q: %v", m.Subject.Digest, err)
	}
	if _, err := digest.Parse(m.Annotations[oci.AnnotationBaseDigest]); err != nil {
		return invalid("annotation %s is %q: %v", oci.AnnotationBaseDigest, m.Annotations[oci.AnnotationBaseDigest], err)
	}
	return m, nil
}

// ParseConfig decodes a delta config and checks that its digests are valid
// and its sizes non-negative. Errors wrap errdef.ErrInvalidKit.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if len(b) > MaxConfigSize {
		return c, fmt.Errorf("delta config is %d bytes, over the %d byte limit: %w", len(b), MaxConfigSize, errdef.ErrInvalidKit)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decoding delta config: %v: %w", err, errdef.ErrInvalidKit)
	}
	if err := c.Base.Digest.Validate(); err != nil {
		return c, fmt.Errorf("delta config base digest %q: %v: %w", c.Base.Digest, err, errdef.ErrInvalidKit)
	}
	if err := c.Target.Digest.Validate(); err != nil {
		return c, fmt.Errorf("delta config target digest %q: %v: %w", c.Target.Digest, err, errdef.ErrInvalidKit)
	}
	for _, o := range c.Omitted {
		if err := o.Digest.Validate(); err != nil || o.Size < 0 {
			return c, fmt.Errorf("delta config omits an invalid blob %q of %d bytes: %w", o.Digest, o.Size, errdef.ErrInvalidKit)
		}
	}
	return c, nil
}

// IsDeltaEntry reports whether an index.json entry names a delta manifest.
func IsDeltaEntry(d ocispec.Descriptor) bool {
	return d.MediaType == ocispec.MediaTypeImageManifest && d.ArtifactType == ArtifactType
}

// BaseHint returns the base digest and version that an index.json entry of
// a delta manifest carries in its annotations. The hint is not signed, and
// tools such as oras write index.json entries without it: an importer uses
// it only to reject a delta early, and checks the signed delta manifest
// later.
func BaseHint(d ocispec.Descriptor) (digest.Digest, string, bool) {
	if !IsDeltaEntry(d) {
		return "", "", false
	}
	dg, err := digest.Parse(d.Annotations[oci.AnnotationBaseDigest])
	if err != nil {
		return "", "", false
	}
	return dg, d.Annotations[oci.AnnotationBaseVersion], true
}

// entryAnnotations are the annotations of a delta manifest that its
// index.json entry repeats.
var entryAnnotations = []string{oci.AnnotationKind, oci.AnnotationBaseDigest, oci.AnnotationBaseVersion}

// CheckEntry rejects an index.json entry d whose kind or base annotations
// differ from those of the delta manifest m it names. The manifest is what
// the signature covers, so such an entry was changed after signing. An
// entry without these annotations, as oras writes it, passes.
func CheckEntry(d ocispec.Descriptor, m ocispec.Manifest) error {
	for _, key := range entryAnnotations {
		got, ok := d.Annotations[key]
		if !ok || got == m.Annotations[key] {
			continue
		}
		return fmt.Errorf("index.json gives delta manifest %s the annotation %s=%q, but the signed delta manifest "+
			"has %q; index.json was changed after the delta was signed, so copy the kit again from its source: %w",
			d.Digest, key, got, m.Annotations[key], errdef.ErrInvalidKit)
	}
	return nil
}

// ManifestBase returns the base that a delta manifest, as ParseManifest
// returned it, names in its annotations.
func ManifestBase(m ocispec.Manifest) (digest.Digest, string) {
	return digest.Digest(m.Annotations[oci.AnnotationBaseDigest]), m.Annotations[oci.AnnotationBaseVersion]
}

// ReadBase reads the delta manifest of index.json entry d from src and
// returns the base it names. It rejects an entry whose annotations
// disagree with the manifest (see CheckEntry). Nothing is verified: the
// caller checks the signature of the manifest before it trusts the base.
func ReadBase(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (digest.Digest, string, error) {
	raw, err := fetchSmall(ctx, src, d)
	if err != nil {
		return "", "", fmt.Errorf("reading delta manifest %s: %w", d.Digest, err)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return "", "", err
	}
	if err := CheckEntry(d, m); err != nil {
		return "", "", err
	}
	base, version := ManifestBase(m)
	return base, version, nil
}

// FindBase returns the base of the delta that index lists: from the delta
// manifest in src when src holds it, else from the annotations of its
// index.json entry. ok is false when index lists no delta manifest, or
// when neither source names the base, as for an entry without annotations
// whose manifest src lacks. It is false too when src carries every blob
// that the delta omits, because such a kit needs no base. src may be nil.
func FindBase(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (base digest.Digest, version string, ok bool, err error) {
	found, err := findBase(ctx, src, index)
	if err != nil || !found.named || found.carried {
		return "", "", false, err
	}
	return found.base, found.version, true, nil
}

// baseFound is the result of findBase for the delta manifest of a kit.
type baseFound struct {
	base    digest.Digest
	version string
	// named is set when the delta manifest or its index.json entry named
	// the base.
	named bool
	// carried is set when src carries every blob that the delta omits.
	carried bool
}

// findBase reads the base of the first delta manifest that index lists,
// as FindBase describes, and whether src carries the blobs it omits.
func findBase(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Index) (baseFound, error) {
	for _, d := range index.Manifests {
		if !IsDeltaEntry(d) {
			continue
		}
		if src != nil {
			info, err := ReadInfo(ctx, src, d)
			if err == nil {
				carried, err := info.Config.CarriedBy(ctx, src)
				if err != nil {
					return baseFound{}, err
				}
				return baseFound{base: info.Config.Base.Digest, version: info.Config.Base.Version, named: true,
					carried: carried}, nil
			}
			if !isMissing(err) {
				return baseFound{}, err
			}
			// Without its config the delta manifest still names the base.
			base, version, err := ReadBase(ctx, src, d)
			if err == nil {
				return baseFound{base: base, version: version, named: true}, nil
			}
			if !isMissing(err) {
				return baseFound{}, err
			}
		}
		base, version, ok := BaseHint(d)
		return baseFound{base: base, version: version, named: ok}, nil
	}
	return baseFound{}, nil
}

// isMissing reports whether err means that a source lacks a blob.
func isMissing(err error) bool {
	return errors.Is(err, errdef.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
