package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// kitChildManifest returns the bundle index of the kit raw and the first
// image manifest that the bundle index lists.
func kitChildManifest(t *testing.T, raw []byte) (ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	entries := readTarEntries(t, raw)
	blobs := map[string][]byte{}
	var index ocispec.Index
	for _, e := range entries {
		blobs[e.name] = e.data
		if e.name == "index.json" {
			if err := json.Unmarshal(e.data, &index); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		var bundle ocispec.Index
		if err := json.Unmarshal(blobs["blobs/sha256/"+d.Digest.Encoded()], &bundle); err != nil {
			t.Fatal(err)
		}
		for _, c := range bundle.Manifests {
			if c.MediaType == ocispec.MediaTypeImageManifest {
				return d, ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}
			}
		}
	}
	t.Fatal("no child manifest of the bundle index")
	return ocispec.Descriptor{}, ocispec.Descriptor{}
}

// withReferrerOf returns raw with a referrer of subject, an image manifest
// with one layer of data, listed in index.json, and the descriptors of the
// referrer and its layer.
func withReferrerOf(t *testing.T, raw []byte, subject ocispec.Descriptor, data []byte) ([]byte, ocispec.Descriptor,
	ocispec.Descriptor) {
	t.Helper()
	layer := ocispec.Descriptor{MediaType: "application/vnd.in-toto+json", Digest: digest.FromBytes(data),
		Size: int64(len(data))}
	return withListedManifest(t, raw, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.in-toto+json",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &subject,
	}, data)
}

// A referrer of a manifest of the kit, such as an attestation of an image,
// stays in the store whether or not the store held that manifest before
// the import. A kit imported again and a newer kit that shares the
// manifest are such imports.
func TestImportKeepsReferrerOfStoredManifest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	plain := f.kit("1.0.0", 1)
	_, child := kitChildManifest(t, plain)
	withRef, ref, layer := withReferrerOf(t, plain, child, []byte(`{"attestation":"of the DB manifest"}`))

	fresh := newFixture(t)
	fresh.keys = f.keys
	if _, err := ImportStream(ctx, bytes.NewReader(withRef), fresh.opts()); err != nil {
		t.Fatal(err)
	}
	again := newFixture(t)
	again.keys = f.keys
	if _, err := ImportStream(ctx, bytes.NewReader(plain), again.opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportStream(ctx, bytes.NewReader(withRef), again.opts()); err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*fixture{"new store": fresh, "store that held the kit": again} {
		for _, d := range []ocispec.Descriptor{ref, layer} {
			if ok, err := g.store.Exists(ctx, d); err != nil || !ok {
				t.Errorf("%s: the store lacks %s of the referrer of %s (%v)", name, d.Digest, child.Digest, err)
			}
		}
	}
}
