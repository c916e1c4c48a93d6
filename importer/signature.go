package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/sign"
)

// FetchFunc returns the bytes of the blob d. CheckBundleSignature calls it
// only for descriptors of at most MaxManifestSize bytes.
type FetchFunc func(ctx context.Context, d ocispec.Descriptor) ([]byte, error)

// SignatureCheck is the outcome of checking the signature referrers of a
// kit's bundle index against the trusted keys.
type SignatureCheck struct {
	// SignedBy is the source of the trusted key that verified a signature,
	// or empty when none did.
	SignedBy string
	// Signatures counts the signature referrers that index.json or a
	// referrers tag index of the bundle lists, and each such tag index
	// that could not be read.
	Signatures int
	// Reasons lists, for each referrer, why it did not verify.
	Reasons []string
	// KeyMismatches counts the referrers that are well-formed signatures
	// of the kit that no trusted key verifies.
	KeyMismatches int
	// StoreErr is the first failure of the store, such as a damaged table
	// file, met while a signature was read, or nil. A caller whose check
	// found no valid signature returns it in place of a signature failure,
	// because the signature may be valid and only unreadable.
	StoreErr error
}

// add records why the signature referrer ref did not verify.
func (c *SignatureCheck) add(ref ocispec.Descriptor, err error) {
	c.Reasons = append(c.Reasons, fmt.Sprintf("%s: %v", ref.Digest, err))
	if c.StoreErr == nil && (cas.IsStoreError(err) || errors.Is(err, errdef.ErrStoreDamaged)) {
		c.StoreErr = err
	}
	if errors.Is(err, sign.ErrKeyMismatch) {
		c.KeyMismatches++
	}
}

// Failure returns why no signature verified, as a clause that the caller
// follows with the next step. keys are the trusted keys, and keysDir the
// folder of trusted keys that the clause names.
func (c SignatureCheck) Failure(keys []sign.TrustedKey, keysDir string) string {
	switch {
	case c.Signatures == 0:
		return "the kit carries no signature"
	case len(keys) == 0:
		if keysDir == "" {
			keysDir = "$STELLA_HOME/keys"
		}
		return "no trusted key is configured (pass --key or put the public key in " + keysDir + ")"
	}
	if !c.advisesKey(keys) {
		return "no signature verifies with a trusted key: " + strings.Join(c.Reasons, "; ")
	}
	if keysDir == "" {
		keysDir = "the store's keys folder"
	}
	outcome := "its signature does not verify"
	if c.Signatures > 1 {
		outcome = fmt.Sprintf("none of its %d signatures verifies", c.Signatures)
	}
	return fmt.Sprintf("%s with the trusted %s %s, so another key signed it. "+
		"If you trust its builder, put the builder's public key into %s as a file named *.pub, or pass it "+
		"with --key",
		outcome, plural(len(keys), "key", "keys"), sign.KeyNames(keys), keysDir)
}

// advisesKey reports whether Failure advises putting the builder's public
// key into the keys folder: when no key is trusted, or when another key
// made every signature.
func (c SignatureCheck) advisesKey(keys []sign.TrustedKey) bool {
	return c.Signatures > 0 && (len(keys) == 0 || c.KeyMismatches >= c.Signatures)
}

// CheckBundleSignature checks the signature referrers that index.json
// (index) lists for the bundle index bundle, whose bytes are bundleRaw,
// against keys, and stops at the first that verifies. It also checks those
// that an image index tagged with the referrers tag schema name of the
// bundle lists, as in a layout folder that `regctl image copy --referrers`
// wrote. A signature that the source contains but neither lists is
// ignored, so a signature left in the store by an earlier import does not
// vouch for this kit. fetch reads the referrers tag indexes, the referrer
// manifests and their signature bundles.
func CheckBundleSignature(ctx context.Context, fetch FetchFunc, index ocispec.Index, bundle ocispec.Descriptor,
	bundleRaw []byte, keys []sign.TrustedKey) SignatureCheck {
	candidates := signatureCandidates(index, bundle)
	tagged, problems := ReferrersTagSignatures(ctx, fetch, index, bundle.Digest, candidates)
	check := checkCandidates(ctx, fetch, append(candidates, tagged...), bundle, bundleRaw, keys)
	if check.SignedBy != "" {
		return check
	}
	// A tag index that cannot be read may hide a signature, so it counts
	// as a signature that did not verify rather than as none.
	for _, p := range problems {
		check.Signatures++
		check.Reasons = append(check.Reasons, p.Error())
	}
	return check
}

// checkCandidates checks the signature manifests candidates of the bundle
// index bundle against keys and stops at the first that verifies.
func checkCandidates(ctx context.Context, fetch FetchFunc, candidates []ocispec.Descriptor, bundle ocispec.Descriptor,
	bundleRaw []byte, keys []sign.TrustedKey) SignatureCheck {
	var check SignatureCheck
	for _, ref := range candidates {
		check.Signatures++
		signer, err := verifyReferrer(ctx, fetch, ref, bundle, bundleRaw, keys)
		if err == nil {
			check.SignedBy = signer
			return check
		}
		check.add(ref, err)
	}
	return check
}

// signatureCandidates lists the image manifests of index.json that may be
// signatures of subject: all but subject itself, delta manifests and DB
// index manifests.
func signatureCandidates(index ocispec.Index, subject ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := make(map[digest.Digest]bool)
	for _, d := range index.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest || d.Digest == subject.Digest || seen[d.Digest] ||
			delta.IsDeltaEntry(d) || d.ArtifactType == oci.ArtifactTypeDBIndex {
			continue
		}
		seen[d.Digest] = true
		out = append(out, d)
	}
	return out
}

func verifyReferrer(ctx context.Context, fetch FetchFunc, ref, bundle ocispec.Descriptor, bundleRaw []byte,
	keys []sign.TrustedKey) (string, error) {
	if err := checkDescriptor(ref); err != nil {
		return "", err
	}
	if ref.Size > MaxManifestSize {
		return "", fmt.Errorf("manifest %s declares %d bytes, over the %d byte limit: %w",
			ref.Digest, ref.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	b, err := fetch(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("reading signature manifest %s: %w", ref.Digest, err)
	}
	sigDesc, subject, err := sign.ParseReferrerManifest(b)
	if err != nil {
		return "", err
	}
	if subject.Digest != bundle.Digest {
		return "", fmt.Errorf("signature is for %s, not this kit", subject.Digest)
	}
	if sigDesc.Size > MaxManifestSize {
		return "", fmt.Errorf("signature bundle declares %d bytes, over the %d byte limit: %w",
			sigDesc.Size, MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	sig, err := fetch(ctx, sigDesc)
	if err != nil {
		return "", fmt.Errorf("reading signature bundle %s: %w", sigDesc.Digest, err)
	}
	key, err := sign.VerifyManifest(keys, bundle, bundleRaw, sig)
	if err != nil {
		return "", err
	}
	return key.Source, nil
}

// plural returns the singular form when n is 1, else the plural form.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}
