package importer

import (
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// SignatureInputs finds the blobs that checking the signature of a kit
// needs, for a kit whose blobs arrive one at a time. One value serves one
// index.json. It decodes each manifest and referrers tag index once, by
// digest, and remembers which blobs have arrived, so a check after every
// arriving blob costs map lookups for what earlier checks read.
type SignatureInputs struct {
	arrived map[sizedDigest]bool
	// bundles records, for each image index of index.json, whether it
	// decodes as a bundle index.
	bundles map[digest.Digest]bool
	// signatureBundles maps a manifest to the signature bundle that it
	// names, or to nil when it is not a signature manifest.
	signatureBundles map[digest.Digest]*ocispec.Descriptor
	// tagged maps a bundle index to the signature manifests that its
	// referrers tag indexes list, each digest once.
	tagged map[digest.Digest][]taggedSignature
}

// taggedSignature is a signature manifest and the referrers tag index that
// lists it.
type taggedSignature struct {
	desc     ocispec.Descriptor
	tagIndex digest.Digest
}

// NewSignatureInputs returns an empty SignatureInputs.
func NewSignatureInputs() *SignatureInputs {
	return &SignatureInputs{
		arrived:          make(map[sizedDigest]bool),
		bundles:          make(map[digest.Digest]bool),
		signatureBundles: make(map[digest.Digest]*ocispec.Descriptor),
		tagged:           make(map[digest.Digest][]taggedSignature),
	}
}

// Ready reports whether a kit whose index.json is index has what checking
// its signature needs: every entry of index.json, the signature manifests
// that the referrers tag indexes of its bundle index list, and the
// signature bundle of every signature manifest among them. has reports
// whether a blob has arrived, and read returns the bytes of an arrived
// manifest. An import that reads a kit file as a stream stores no blob
// over MaxManifestSize until this holds. It also holds when an entry is
// over that size or invalid, because the import then rejects the kit for
// it.
func (c *SignatureInputs) Ready(index ocispec.Index, has func(ocispec.Descriptor) bool,
	read func(ocispec.Descriptor) ([]byte, error)) bool {
	_, missing := c.missing(index, has, read)
	return !missing
}

// signatureInput is a blob that checking the signature of a kit needs.
type signatureInput struct {
	desc ocispec.Descriptor
	// description is the blob's name in messages, such as "the bundle index".
	description string
}

// missing returns the first blob that Ready finds missing, and false when
// it finds none.
func (c *SignatureInputs) missing(index ocispec.Index, has func(ocispec.Descriptor) bool,
	read func(ocispec.Descriptor) ([]byte, error)) (signatureInput, bool) {
	hasBlob := func(d ocispec.Descriptor) bool {
		key := sizedDigest{d.Digest, d.Size}
		if c.arrived[key] {
			return true
		}
		if !has(d) {
			return false
		}
		c.arrived[key] = true
		return true
	}
	var bundles []digest.Digest
	bundleSeen := make(map[digest.Digest]bool)
	for _, d := range index.Manifests {
		if d.Size > MaxManifestSize || checkDescriptor(d) != nil {
			return signatureInput{}, false
		}
		if !hasBlob(d) {
			return signatureInput{desc: d, description: describeEntry(d) + " that index.json lists"}, true
		}
		if d.MediaType == ocispec.MediaTypeImageIndex {
			if !bundleSeen[d.Digest] && c.isBundle(d, read) {
				bundleSeen[d.Digest] = true
				bundles = append(bundles, d.Digest)
			}
			continue
		}
		if d.MediaType != ocispec.MediaTypeImageManifest || delta.IsDeltaEntry(d) {
			continue
		}
		input, missing, ok := c.missingSignatureBundle(d, hasBlob, read)
		if missing || !ok {
			return input, missing
		}
	}
	// Only the referrers tag of the bundle index counts, as in the
	// signature check, so the tag of any other digest adds no input.
	for _, b := range bundles {
		tagged, ok := c.taggedSignatures(index, b, read)
		if !ok {
			return signatureInput{}, false
		}
		for _, t := range tagged {
			if !hasBlob(t.desc) {
				return signatureInput{desc: t.desc, description: "the signature manifest that referrers tag index " +
					t.tagIndex.String() + " lists"}, true
			}
			input, missing, ok := c.missingSignatureBundle(t.desc, hasBlob, read)
			if missing || !ok {
				return input, missing
			}
		}
	}
	return signatureInput{}, false
}

// isBundle reports whether the arrived image index d decodes as a bundle
// index. One that cannot be read is not, and findBundle reports it.
func (c *SignatureInputs) isBundle(d ocispec.Descriptor, read func(ocispec.Descriptor) ([]byte, error)) bool {
	if isBundle, ok := c.bundles[d.Digest]; ok {
		return isBundle
	}
	b, err := read(d)
	if err != nil {
		return false
	}
	_, _, err = oci.ParseBundleIndex(b)
	c.bundles[d.Digest] = err == nil
	return err == nil
}

// missingSignatureBundle returns the signature bundle of the arrived
// manifest d when it is a signature manifest whose bundle has not arrived.
// ok is false when d cannot be read, which ends the wait, because the
// import then rejects the kit for it.
func (c *SignatureInputs) missingSignatureBundle(d ocispec.Descriptor, has func(ocispec.Descriptor) bool,
	read func(ocispec.Descriptor) ([]byte, error)) (input signatureInput, missing, ok bool) {
	bundle, known := c.signatureBundles[d.Digest]
	if !known {
		b, err := read(d)
		if err != nil {
			return signatureInput{}, false, false
		}
		parsed, _, err := sign.ParseReferrerManifest(b)
		if err == nil && parsed.Size <= MaxManifestSize {
			bundle = &parsed
		}
		c.signatureBundles[d.Digest] = bundle
	}
	if bundle == nil || has(*bundle) {
		return signatureInput{}, false, true
	}
	return signatureInput{desc: *bundle, description: "the signature bundle of signature manifest " + d.Digest.String()}, true, true
}

// taggedSignatures returns the signature manifests that the arrived
// referrers tag indexes of the bundle index list, each digest once and
// without invalid descriptors. A tag index that cannot be decoded adds
// none, because the signature check reports it. ok is false when a tag
// index cannot be read.
func (c *SignatureInputs) taggedSignatures(index ocispec.Index, bundle digest.Digest,
	read func(ocispec.Descriptor) ([]byte, error)) (tagged []taggedSignature, ok bool) {
	if tagged, ok := c.tagged[bundle]; ok {
		return tagged, true
	}
	seen := make(map[digest.Digest]bool)
	tagged = []taggedSignature{}
	for _, d := range layout.ReferrersTagEntries(index, bundle) {
		raw, err := read(d)
		if err != nil {
			return nil, false
		}
		refs, err := layout.ParseReferrersTagIndex(raw)
		if err != nil {
			continue
		}
		for _, r := range refs {
			if r.Size > MaxManifestSize || checkDescriptor(r) != nil || r.Digest == bundle || seen[r.Digest] {
				continue
			}
			seen[r.Digest] = true
			tagged = append(tagged, taggedSignature{desc: r, tagIndex: d.Digest})
		}
	}
	c.tagged[bundle] = tagged
	return tagged, true
}

// describeEntry names the kind of an entry of index.json for messages.
func describeEntry(d ocispec.Descriptor) string {
	switch {
	case d.ArtifactType == oci.ArtifactTypeBundle:
		return "the bundle index"
	case d.ArtifactType == oci.MediaTypeSigstoreBundle:
		return "the signature manifest"
	case delta.IsDeltaEntry(d):
		return "the delta manifest"
	case d.MediaType == ocispec.MediaTypeImageIndex:
		return "the image index"
	}
	return "the manifest"
}
