package sign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Referrer is a signature referrer: the image manifest that points at a
// signed subject, and the two blobs it lists.
type Referrer struct {
	// Manifest is the OCI image manifest JSON.
	Manifest []byte
	// ManifestDesc describes Manifest, with ArtifactType set.
	ManifestDesc ocispec.Descriptor
	// Bundle is the sigstore bundle JSON, the manifest's only layer.
	Bundle []byte
	// BundleDesc describes Bundle.
	BundleDesc ocispec.Descriptor
	// Config is the OCI empty JSON config, "{}".
	Config []byte
	// ConfigDesc describes Config.
	ConfigDesc ocispec.Descriptor
}

// SignManifest signs subjectBytes, the bytes subject describes, and wraps
// the signature in a referrer. The bundle's messageSignature holds the
// SHA-256 of subjectBytes and the key hint, the standard base64 SHA-256 of
// the signer's PKIX public key as sigstore-go writes it. The manifest
// carries created, in UTC, as org.opencontainers.image.created. Signatures
// are randomized, so the bundle and manifest bytes differ on every call.
func SignManifest(signer crypto.Signer, subject ocispec.Descriptor, subjectBytes []byte, created time.Time) (*Referrer, error) {
	if err := checkSubject(subject, subjectBytes); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(subjectBytes)
	sig, err := signDigest(signer, sum[:])
	if err != nil {
		return nil, err
	}
	hint, err := keyHint(signer.Public())
	if err != nil {
		return nil, err
	}
	bundleJSON, err := marshalBundle(sum[:], sig, hint)
	if err != nil {
		return nil, err
	}
	return wrapReferrer(subject, bundleJSON, created)
}

// marshalBundle encodes a v0.3 sigstore bundle holding a message signature.
func marshalBundle(sum, sig []byte, hint string) ([]byte, error) {
	pb := &protobundle.Bundle{
		MediaType: oci.MediaTypeSigstoreBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{
			MessageSignature: &protocommon.MessageSignature{
				MessageDigest: &protocommon.HashOutput{
					Algorithm: protocommon.HashAlgorithm_SHA2_256,
					Digest:    sum,
				},
				Signature: sig,
			},
		},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("building sigstore bundle: %w", err)
	}
	raw, err := b.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding sigstore bundle: %w", err)
	}
	// protojson varies its white space between runs on purpose; compacting
	// gives the same bytes for the same content.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("encoding sigstore bundle: %w", err)
	}
	return buf.Bytes(), nil
}

func wrapReferrer(subject ocispec.Descriptor, bundleJSON []byte, created time.Time) (*Referrer, error) {
	config := ocispec.DescriptorEmptyJSON
	bundleDesc := ocispec.Descriptor{
		MediaType: oci.MediaTypeSigstoreBundle,
		Digest:    digest.FromBytes(bundleJSON),
		Size:      int64(len(bundleJSON)),
	}
	manifest := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.MediaTypeSigstoreBundle,
		Config:       config,
		Layers:       []ocispec.Descriptor{bundleDesc},
		Subject: &ocispec.Descriptor{
			MediaType:    subject.MediaType,
			Digest:       subject.Digest,
			Size:         subject.Size,
			ArtifactType: subject.ArtifactType,
		},
		Annotations: map[string]string{
			oci.AnnotationCreated: created.UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding signature manifest: %w", err)
	}
	return &Referrer{
		Manifest: raw,
		ManifestDesc: ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: oci.MediaTypeSigstoreBundle,
			Digest:       digest.FromBytes(raw),
			Size:         int64(len(raw)),
		},
		Bundle:     bundleJSON,
		BundleDesc: bundleDesc,
		Config:     append([]byte(nil), config.Data...),
		ConfigDesc: config,
	}, nil
}

// VerifyManifest checks that bundle is a sigstore bundle whose message
// signature covers subjectBytes, that subjectBytes are what subject
// describes, and that one of keys made the signature, and returns that key.
// Transparency log entries and certificates in the bundle are ignored: trust
// comes from keys alone. Every failure wraps errdef.ErrSignature and states the
// reason.
func VerifyManifest(keys []TrustedKey, subject ocispec.Descriptor, subjectBytes []byte, bundleJSON []byte) (TrustedKey, error) {
	if err := checkSubject(subject, subjectBytes); err != nil {
		return TrustedKey{}, fmt.Errorf("%w: %w", err, errdef.ErrSignature)
	}
	msg, hint, err := parseBundle(bundleJSON)
	if err != nil {
		return TrustedKey{}, err
	}

	sum := sha256.Sum256(subjectBytes)
	if msg.MessageDigest.Algorithm != protocommon.HashAlgorithm_SHA2_256 {
		return TrustedKey{}, fmt.Errorf("signature bundle uses digest algorithm %s, expected SHA2_256: %w",
			msg.MessageDigest.Algorithm, errdef.ErrSignature)
	}
	if !bytes.Equal(msg.MessageDigest.Digest, sum[:]) {
		return TrustedKey{}, fmt.Errorf("signature bundle is for sha256:%x, not for %s: %w",
			msg.MessageDigest.Digest, subject.Digest, errdef.ErrSignature)
	}

	key, err := verifyDigest(keys, hint, sum[:], msg.Signature)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("verifying signature of %s: %w", subject.Digest, err)
	}
	return key, nil
}

// parseBundle decodes a sigstore bundle with sigstore-go and returns its
// message signature and key hint.
func parseBundle(raw []byte) (*protocommon.MessageSignature, string, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, "", fmt.Errorf("parsing signature bundle: %v: %w", err, errdef.ErrSignature)
	}
	content, ok := b.Content.(*protobundle.Bundle_MessageSignature)
	if !ok || content.MessageSignature == nil {
		return nil, "", fmt.Errorf("signature bundle contains no message signature; DSSE envelopes are not supported: %w",
			errdef.ErrSignature)
	}
	msg := content.MessageSignature
	if msg.MessageDigest == nil || len(msg.Signature) == 0 {
		return nil, "", fmt.Errorf("signature bundle has no message digest or no signature: %w", errdef.ErrSignature)
	}
	var hint string
	if pk := b.VerificationMaterial.GetPublicKey(); pk != nil {
		hint = pk.GetHint()
	}
	return msg, hint, nil
}

// checkSubject reports whether subjectBytes match subject's digest and size.
func checkSubject(subject ocispec.Descriptor, subjectBytes []byte) error {
	if err := subject.Digest.Validate(); err != nil {
		return fmt.Errorf("subject digest %q is invalid: %v", subject.Digest, err)
	}
	if int64(len(subjectBytes)) != subject.Size {
		return fmt.Errorf("subject %s declares %d bytes but %d were given", subject.Digest, subject.Size, len(subjectBytes))
	}
	if got := subject.Digest.Algorithm().FromBytes(subjectBytes); got != subject.Digest {
		return fmt.Errorf("subject bytes hash to %s, not %s", got, subject.Digest)
	}
	return nil
}

// keyHint returns the sigstore key hint of pub: the standard base64 SHA-256
// of its PKIX DER encoding.
func keyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key as PKIX: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// ParseReferrerManifest checks that b is a signature referrer as
// SignManifest writes it and returns the descriptors of its bundle layer and
// of its subject. A valid manifest of another artifact type yields
// errdef.ErrSignature. Other malformed input yields errdef.ErrInvalidKit:
// JSON that is not an OCI image manifest, a missing subject, an invalid
// digest, or other than exactly one sigstore bundle layer.
func ParseReferrerManifest(b []byte) (bundleDesc ocispec.Descriptor, subject ocispec.Descriptor, err error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return bundleDesc, subject, fmt.Errorf("parsing signature manifest: %v: %w", err, errdef.ErrInvalidKit)
	}

	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		return bundleDesc, subject, fmt.Errorf("signature manifest has media type %q and schema version %d, expected %q and 2: %w",
			m.MediaType, m.SchemaVersion, ocispec.MediaTypeImageManifest, errdef.ErrInvalidKit)
	}
	artifactType := m.ArtifactType
	if artifactType == "" {
		artifactType = m.Config.MediaType
	}
	if artifactType != oci.MediaTypeSigstoreBundle {
		return bundleDesc, subject, fmt.Errorf("manifest has artifact type %q, not a signature (%q): %w",
			artifactType, oci.MediaTypeSigstoreBundle, errdef.ErrSignature)
	}

	if m.Subject == nil {
		return bundleDesc, subject, fmt.Errorf("signature manifest has no subject: %w", errdef.ErrInvalidKit)
	}
	if err := checkDescriptor("subject", *m.Subject); err != nil {
		return bundleDesc, subject, err
	}

	if len(m.Layers) != 1 {
		return bundleDesc, subject, fmt.Errorf("signature manifest has %d layers, expected 1: %w",
			len(m.Layers), errdef.ErrInvalidKit)
	}
	layer := m.Layers[0]
	if layer.MediaType != oci.MediaTypeSigstoreBundle {
		return bundleDesc, subject, fmt.Errorf("signature layer has media type %q, expected %q: %w",
			layer.MediaType, oci.MediaTypeSigstoreBundle, errdef.ErrInvalidKit)
	}
	if err := checkDescriptor("signature layer", layer); err != nil {
		return bundleDesc, subject, err
	}
	return layer, *m.Subject, nil
}

func checkDescriptor(what string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%s digest %q is invalid: %v: %w", what, d.Digest, err, errdef.ErrInvalidKit)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s %s has negative size %d: %w", what, d.Digest, d.Size, errdef.ErrInvalidKit)
	}
	return nil
}
