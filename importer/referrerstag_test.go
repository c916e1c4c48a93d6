package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// taggedKit is a signed kit whose index.json lists its signature manifest
// only through a referrers tag index, as a layout folder that
// `regctl image copy --referrers` wrote from a registry does.
type taggedKit struct {
	entries []tarEntry
	bundle  digest.Digest
	// signature is the signature manifest, and signatureBundle the blob of
	// the signature that it names.
	signature       ocispec.Descriptor
	signatureBundle []byte
}

// newTaggedKit builds a signed kit and takes its signature manifest and its
// referrers tag index out of index.json, so that each test adds the tag
// index that it needs.
func newTaggedKit(f *fixture, version string, seq int64) taggedKit {
	f.t.Helper()
	entries := readTarEntries(f.t.(*testing.T), f.kit(version, seq))
	var index ocispec.Index
	for _, e := range entries {
		if e.name == "index.json" {
			if err := json.Unmarshal(e.data, &index); err != nil {
				f.t.Fatal(err)
			}
		}
	}

	// The signature manifest leaves index.json, as in a regctl copy.
	k := taggedKit{entries: entries}
	var withoutSignature []ocispec.Descriptor
	for _, d := range index.Manifests {
		if layout.IsReferrersTagEntry(d) {
			k.removeBlob(d.Digest)
			continue
		}
		switch d.ArtifactType {
		case oci.MediaTypeSigstoreBundle:
			k.signature = d
			continue
		case oci.ArtifactTypeBundle:
			k.bundle = d.Digest
		}
		withoutSignature = append(withoutSignature, d)
	}
	if k.signature.Digest == "" || k.bundle == "" {
		f.t.Fatalf("kit index.json lacks the bundle index or the signature manifest: %+v", index.Manifests)
	}
	sig, _, err := parseReferrer(k.blob(f.t, k.signature.Digest))
	if err != nil {
		f.t.Fatal(err)
	}
	k.signatureBundle = k.blob(f.t, sig)

	index.Manifests = withoutSignature
	k.setIndex(f.t, index)
	return k
}

func parseReferrer(raw []byte) (digest.Digest, digest.Digest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) != 1 || m.Subject == nil {
		return "", "", errors.New("not a signature manifest")
	}
	return m.Layers[0].Digest, m.Subject.Digest, nil
}

func (k *taggedKit) blob(t testing.TB, d digest.Digest) []byte {
	t.Helper()
	for _, e := range k.entries {
		if e.name == "blobs/sha256/"+d.Encoded() {
			return e.data
		}
	}
	t.Fatalf("kit lacks blob %s", d)
	return nil
}

func (k *taggedKit) index(t testing.TB) ocispec.Index {
	t.Helper()
	var index ocispec.Index
	if err := json.Unmarshal(k.indexJSON(t), &index); err != nil {
		t.Fatal(err)
	}
	return index
}

func (k *taggedKit) indexJSON(t testing.TB) []byte {
	t.Helper()
	for _, e := range k.entries {
		if e.name == "index.json" {
			return e.data
		}
	}
	t.Fatal("kit lacks index.json")
	return nil
}

func (k *taggedKit) setIndex(t testing.TB, index ocispec.Index) {
	t.Helper()
	raw, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range k.entries {
		if e.name == "index.json" {
			k.entries[i].data = raw
		}
	}
}

// removeBlob removes the blob d from the kit, because a kit file that
// carries a blob that nothing in index.json reaches is rejected.
func (k *taggedKit) removeBlob(d digest.Digest) {
	k.entries = slices.DeleteFunc(k.entries, func(e tarEntry) bool { return e.name == "blobs/sha256/"+d.Encoded() })
}

// addBlob inserts raw after index.json, where a kit carries its small
// blobs, unless the kit has it.
func (k *taggedKit) addBlob(raw []byte) digest.Digest {
	d := digest.FromBytes(raw)
	name := "blobs/sha256/" + d.Encoded()
	for _, e := range k.entries {
		if e.name == name {
			return d
		}
	}
	for i, e := range k.entries {
		if e.name == "index.json" {
			k.entries = append(k.entries[:i+1], append([]tarEntry{{name: name, data: raw}}, k.entries[i+1:]...)...)
			break
		}
	}
	return d
}

// addTagIndex adds to index.json an image index tagged tag whose bytes are
// raw.
func (k *taggedKit) addTagIndex(t testing.TB, tag string, raw []byte) {
	t.Helper()
	d := k.addBlob(raw)
	index := k.index(t)
	index.Manifests = append(index.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d,
		Size: int64(len(raw)), Annotations: map[string]string{oci.AnnotationRefName: tag}})
	k.setIndex(t, index)
}

// tagIndex returns the bytes of a referrers tag index that lists refs.
func tagIndex(t testing.TB, refs ...ocispec.Descriptor) []byte {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: refs}
	idx.SchemaVersion = 2
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// write writes the kit as a tar file and as a layout folder and returns
// their paths.
func (k *taggedKit) write(t *testing.T, dir, name string) (file, folder string) {
	t.Helper()
	raw := writeTarEntries(t, k.entries)
	file = filepath.Join(dir, name+".tar")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	folder = filepath.Join(dir, name)
	writeLayoutFolder(t, raw, folder)
	return file, folder
}

// importBothWays imports the layout folder into the store of f and the
// kit file, as a stream, into a store of its own with the keys of f. It
// returns the result and error of each import, folder first.
func importBothWays(t *testing.T, f *fixture, file, folder string) (dirRes *Result, dirErr error,
	fileRes *Result, fileErr error) {
	t.Helper()
	ctx := context.Background()
	dirRes, dirErr = ImportDir(ctx, folder, f.opts())
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	g := newFixture(t)
	g.keys = f.keys
	fileRes, fileErr = ImportStream(ctx, bytes.NewReader(raw), g.opts())
	return dirRes, dirErr, fileRes, fileErr
}

func TestReferrersTagSignatureVerifies(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), tagIndex(t, k.signature))
	file, folder := k.write(t, f.dir, "tagged")
	ctx := context.Background()

	for _, path := range []string{file, folder} {
		check, err := CheckKitSignature(ctx, path, k.bundle, f.keys)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if check.SignedBy != f.keys[0].Source {
			t.Errorf("%s: signed by %q, want %q; reasons %v", path, check.SignedBy, f.keys[0].Source, check.Reasons)
		}
	}

	checkSignedImports(t, f, file, folder)
}

// checkSignedImports imports the kit as a folder and as a file and checks
// that both imports succeed, signed by the key of f.
func checkSignedImports(t *testing.T, f *fixture, file, folder string) {
	t.Helper()
	dirRes, dirErr, fileRes, fileErr := importBothWays(t, f, file, folder)
	if dirErr != nil {
		t.Fatalf("importing the folder: %v", dirErr)
	}
	if dirRes.SignedBy != f.keys[0].Source {
		t.Errorf("folder import signed by %q, want %q", dirRes.SignedBy, f.keys[0].Source)
	}
	if fileErr != nil {
		t.Fatalf("importing the file: %v", fileErr)
	}
	if fileRes.SignedBy != f.keys[0].Source {
		t.Errorf("file import signed by %q, want %q", fileRes.SignedBy, f.keys[0].Source)
	}
}

// A referrers tag index vouches for nothing itself: each signature it
// lists must verify like one that index.json lists, and a tag index that
// cannot be decoded or names another digest leaves the kit unverified.
func TestReferrersTagRejectsUnverified(t *testing.T) {
	cases := map[string]struct {
		edit func(t *testing.T, f *fixture, k *taggedKit)
		// signatures is the count that the check reports, and reason a
		// text of its reasons.
		signatures int
		reason     string
	}{
		"tag of another digest": {
			edit: func(t *testing.T, f *fixture, k *taggedKit) {
				other := digest.FromString("another kit")
				k.addTagIndex(t, layout.ReferrersTag(other), tagIndex(t, k.signature))
			},
			signatures: 0,
		},
		"undecodable tag index": {
			edit: func(t *testing.T, f *fixture, k *taggedKit) {
				k.addTagIndex(t, layout.ReferrersTag(k.bundle), []byte(`{"schemaVersion":2,"manifests":[`))
			},
			signatures: 1,
			reason:     "referrers tag index sha256-",
		},
		"tag index of another media type": {
			edit: func(t *testing.T, f *fixture, k *taggedKit) {
				raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[` +
					string(mustJSON(t, k.signature)) + `]}`)
				k.addTagIndex(t, layout.ReferrersTag(k.bundle), raw)
			},
			signatures: 1,
			reason:     "not 2 and",
		},
		"signature of another kit": {
			edit: func(t *testing.T, f *fixture, k *taggedKit) {
				other := newTaggedKit(f, "2.0.0", 2)
				k.addBlob(other.blob(t, other.signature.Digest))
				k.addBlob(other.signatureBundle)
				k.addTagIndex(t, layout.ReferrersTag(k.bundle), tagIndex(t, other.signature))
			},
			signatures: 1,
			reason:     "not this kit",
		},
		"signature by another key": {
			edit: func(t *testing.T, f *fixture, k *taggedKit) {
				other := newTaggedKit(newFixture(t), "1.0.0", 1)
				if other.bundle != k.bundle {
					t.Skip("the bundle digest depends on the signing key, so no other key signs this kit")
				}
				k.addBlob(other.blob(t, other.signature.Digest))
				k.addBlob(other.signatureBundle)
				k.addTagIndex(t, layout.ReferrersTag(k.bundle), tagIndex(t, other.signature))
			},
			signatures: 1,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			k := newTaggedKit(f, "1.0.0", 1)
			c.edit(t, f, &k)
			file, folder := k.write(t, f.dir, "tagged")
			ctx := context.Background()

			for _, path := range []string{file, folder} {
				check, err := CheckKitSignature(ctx, path, k.bundle, f.keys)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if check.SignedBy != "" {
					t.Errorf("%s: signed by %q", path, check.SignedBy)
				}
				if check.Signatures != c.signatures {
					t.Errorf("%s: %d signatures, want %d; reasons %v", path, check.Signatures, c.signatures, check.Reasons)
				}
				if c.reason != "" && !strings.Contains(strings.Join(check.Reasons, "; "), c.reason) {
					t.Errorf("%s: reasons %v lack %q", path, check.Reasons, c.reason)
				}
			}

			_, dirErr, _, fileErr := importBothWays(t, f, file, folder)
			if !errors.Is(dirErr, errdef.ErrSignature) {
				t.Errorf("folder import: err = %v, want ErrSignature", dirErr)
			}
			if !errors.Is(fileErr, errdef.ErrSignature) {
				t.Errorf("file import: err = %v, want ErrSignature", fileErr)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// An index.json entry marked as the bundle that is no bundle index rejects
// the kit, also when the same image index came earlier without the mark
// and was skipped as not a bundle.
func TestMarkedNonBundleIndexRejected(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), tagIndex(t, k.signature))
	extra := tagIndex(t)
	d := k.addBlob(extra)
	index := k.index(t)
	plain := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(extra))}
	marked := plain
	marked.ArtifactType = oci.ArtifactTypeBundle
	index.Manifests = append(index.Manifests, plain, marked)
	k.setIndex(t, index)
	file, folder := k.write(t, f.dir, "marked")

	_, dirErr, _, fileErr := importBothWays(t, f, file, folder)
	if !errors.Is(dirErr, errdef.ErrInvalidKit) {
		t.Errorf("folder import: %v, want an error wrapping ErrInvalidKit", dirErr)
	}
	if !errors.Is(fileErr, errdef.ErrInvalidKit) {
		t.Errorf("file import: %v, want an error wrapping ErrInvalidKit", fileErr)
	}
}

// A kit that stella writes lists its signature in a referrers tag index
// too. Import reads that index but leaves it out of the store, where
// nothing would reach it and gc would remove it.
func TestImportDropsReferrersTagIndex(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	var index ocispec.Index
	for _, e := range readTarEntries(t, raw) {
		if e.name == "index.json" {
			if err := json.Unmarshal(e.data, &index); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tags []ocispec.Descriptor
	for _, d := range index.Manifests {
		if layout.IsReferrersTagEntry(d) {
			tags = append(tags, d)
		}
	}
	if len(tags) != 1 {
		t.Fatalf("index.json lists %d referrers tag indexes, want 1: %+v", len(tags), index.Manifests)
	}
	folder := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, raw, folder)
	ctx := context.Background()

	for name, run := range map[string]func(*fixture) (*Result, error){
		"folder": func(g *fixture) (*Result, error) { return ImportDir(ctx, folder, g.opts()) },
		"stream": func(g *fixture) (*Result, error) { return ImportStream(ctx, bytes.NewReader(raw), g.opts()) },
	} {
		g := newFixture(t)
		g.keys = f.keys
		res, err := run(g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.SignedBy != f.keys[0].Source {
			t.Errorf("%s: signed by %q, want %q", name, res.SignedBy, f.keys[0].Source)
		}
		if ok, err := g.store.Exists(ctx, tags[0]); err != nil || ok {
			t.Errorf("%s: the store contains the referrers tag index %s (%v), want it dropped", name, tags[0].Digest, err)
		}
		if n := g.blobCount(); res.BlobsStored != n {
			t.Errorf("%s: import reports %d blobs stored, and the store contains %d", name, res.BlobsStored, n)
		}
	}
}

// withStrayManifest returns the kit raw with an image manifest and a layer
// added that index.json lists beside the kit, outside its signed graph,
// and the descriptors of the two.
func withStrayManifest(t *testing.T, raw []byte) ([]byte, ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	layerData := bytes.Repeat([]byte("stray layer "), 4096)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layerData),
		Size: int64(len(layerData))}
	return withListedManifest(t, raw, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.DescriptorEmptyJSON,
		Layers:    []ocispec.Descriptor{layer},
	}, layerData)
}

// withListedManifest returns the kit raw with the image manifest m, whose
// one layer has the bytes layerData, listed in index.json and stored with
// its layer and empty config. It also returns the descriptors of the
// manifest and of its layer.
func withListedManifest(t *testing.T, raw []byte, m ocispec.Manifest, layerData []byte) ([]byte, ocispec.Descriptor,
	ocispec.Descriptor) {
	t.Helper()
	manifestData, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifestData),
		Size: int64(len(manifestData)), ArtifactType: m.ArtifactType}

	entries := readTarEntries(t, raw)
	for i, e := range entries {
		if e.name != "index.json" {
			continue
		}
		var index ocispec.Index
		if err := json.Unmarshal(e.data, &index); err != nil {
			t.Fatal(err)
		}
		index.Manifests = append(index.Manifests, manifest)
		if entries[i].data, err = json.Marshal(index); err != nil {
			t.Fatal(err)
		}
	}
	layer := m.Layers[0]
	entries = append(entries,
		tarEntry{name: "blobs/sha256/" + manifest.Digest.Encoded(), data: manifestData},
		tarEntry{name: "blobs/sha256/" + layer.Digest.Encoded(), data: layerData})
	emptyConfig := "blobs/sha256/" + ocispec.DescriptorEmptyJSON.Digest.Encoded()
	if !slices.ContainsFunc(entries, func(e tarEntry) bool { return e.name == emptyConfig }) {
		entries = append(entries, tarEntry{name: emptyConfig, data: ocispec.DescriptorEmptyJSON.Data})
	}
	return writeTarEntries(t, entries), manifest, layer
}

// No signature covers a manifest that index.json lists beside the kit, so
// the import leaves it and its layer out of the store, where they would
// only take space until the next gc.
func TestImportDropsBlobsOutsideKit(t *testing.T) {
	f := newFixture(t)
	raw, manifest, layer := withStrayManifest(t, f.kit("1.0.0", 1))
	var signatures []ocispec.Descriptor
	for _, e := range readTarEntries(t, raw) {
		if e.name != "index.json" {
			continue
		}
		var index ocispec.Index
		if err := json.Unmarshal(e.data, &index); err != nil {
			t.Fatal(err)
		}
		for _, d := range index.Manifests {
			if d.ArtifactType == oci.MediaTypeSigstoreBundle {
				signatures = append(signatures, d)
			}
		}
	}
	if len(signatures) == 0 {
		t.Fatal("the kit lists no signature manifest in index.json")
	}
	folder := filepath.Join(f.dir, "stray")
	writeLayoutFolder(t, raw, folder)
	ctx := context.Background()

	for name, run := range map[string]func(*fixture) (*Result, error){
		"folder": func(g *fixture) (*Result, error) { return ImportDir(ctx, folder, g.opts()) },
		"stream": func(g *fixture) (*Result, error) { return ImportStream(ctx, bytes.NewReader(raw), g.opts()) },
	} {
		g := newFixture(t)
		g.keys = f.keys
		res, err := run(g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, d := range []ocispec.Descriptor{manifest, layer} {
			if ok, err := g.store.Exists(ctx, d); err != nil || ok {
				t.Errorf("%s: the store contains %s of the stray manifest (%v), want it dropped", name, d.Digest, err)
			}
		}
		// The signature stays, for a later rollback to check.
		for _, d := range signatures {
			if ok, err := g.store.Exists(ctx, d); err != nil || !ok {
				t.Errorf("%s: the store lacks the signature manifest %s (%v)", name, d.Digest, err)
			}
		}
		if n := g.blobCount(); res.BlobsStored != n {
			t.Errorf("%s: import reports %d blobs stored, and the store contains %d", name, res.BlobsStored, n)
		}
		removed, err := g.store.GC(ctx, cas.GCOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if removed.Removed != 0 {
			t.Errorf("%s: a gc dry run after the import would remove %d blobs, want 0", name, removed.Removed)
		}
	}
}

// A referrers tag index that cannot be decoded counts as a signature that
// did not verify. A kit whose signature in index.json verifies therefore
// imports, from a folder as from a file, and leaves no blob of the tag
// index behind.
func TestUndecodableTagIndexBesideVerifiedSignature(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	index := k.index(t)
	index.Manifests = append(index.Manifests, k.signature)
	k.setIndex(t, index)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), []byte(`{"schemaVersion":2,"manifests":[`))
	file, folder := k.write(t, f.dir, "tagged")

	dirRes, dirErr, fileRes, fileErr := importBothWays(t, f, file, folder)
	if dirErr != nil {
		t.Errorf("folder import: %v", dirErr)
	} else if dirRes.SignedBy == "" {
		t.Error("folder import: no key verified the kit")
	}
	if fileErr != nil {
		t.Errorf("file import: %v", fileErr)
	} else if fileRes.SignedBy == "" {
		t.Error("file import: no key verified the kit")
	}
	gc, err := f.store.GC(context.Background(), cas.GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if gc.Removed != 0 {
		t.Errorf("a gc dry run after the folder import would remove %d blobs, want 0", gc.Removed)
	}
}

// A kit imported with --insecure-skip-signature may carry a signature
// manifest of it whose signature belongs to another kit. A later check
// of the stored kit reports that no stored signature is one of this kit,
// rather than that its signing key is no longer trusted.
func TestCheckStoredForgedSignature(t *testing.T) {
	f := newFixture(t)
	a := newTaggedKit(f, "1.0.0", 1)
	b := newTaggedKit(f, "2.0.0", 2)
	var sig ocispec.Manifest
	if err := json.Unmarshal(a.blob(t, a.signature.Digest), &sig); err != nil {
		t.Fatal(err)
	}
	// The kit keeps no blob of its own signature: the forged one names the
	// signature of kit b.
	a.removeBlob(a.signature.Digest)
	a.removeBlob(digest.FromBytes(a.signatureBundle))
	other := a.addBlob(b.signatureBundle)
	sig.Layers[0].Digest = other
	sig.Layers[0].Size = int64(len(b.signatureBundle))
	forged := a.addBlob(mustJSON(t, sig))
	index := a.index(t)
	index.Manifests = append(index.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: forged, Size: int64(len(mustJSON(t, sig))), ArtifactType: a.signature.ArtifactType})
	a.setIndex(t, index)
	file, _ := a.write(t, f.dir, "forged")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := f.opts()
	opts.InsecureSkipSignature = true
	if _, err := ImportStream(ctx, bytes.NewReader(raw), opts); err != nil {
		t.Fatalf("import with --insecure-skip-signature: %v", err)
	}

	_, err = CheckStored(ctx, f.opts(), a.bundle, "", ActionActivate)
	if !errors.Is(err, errdef.ErrSignature) {
		t.Fatalf("check of the stored kit: %v, want ErrSignature", err)
	}
	if !strings.Contains(err.Error(), "is a valid signature of this kit") ||
		strings.Contains(err.Error(), "no longer trusted") {
		t.Errorf("check of the stored kit: %v, want the stored signature named as not one of this kit", err)
	}
}
