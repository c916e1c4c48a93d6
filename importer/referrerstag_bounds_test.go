package importer

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// repeatTagEntry adds to index.json count more entries of the image index
// entry that has the digest tagIndex.
func (k *taggedKit) repeatTagEntry(t testing.TB, tagIndex digest.Digest, count int) {
	t.Helper()
	index := k.index(t)
	for _, d := range index.Manifests {
		if d.Digest == tagIndex {
			for range count {
				index.Manifests = append(index.Manifests, d)
			}
			k.setIndex(t, index)
			return
		}
	}
	t.Fatalf("index.json lacks %s", tagIndex)
}

// amplifiedTagIndex returns the bytes of a referrers tag index that lists
// the manifest m copies times, followed by last.
func amplifiedTagIndex(t testing.TB, m ocispec.Descriptor, copies int, last ocispec.Descriptor) []byte {
	refs := make([]ocispec.Descriptor, 0, copies+1)
	for range copies {
		refs = append(refs, m)
	}
	return tagIndex(t, append(refs, last)...)
}

// junkManifest adds a small image manifest without a subject, and its
// empty config, to the kit and returns its descriptor.
func (k *taggedKit) junkManifest(t *testing.T) ocispec.Descriptor {
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{}, Annotations: map[string]string{"padding": strings.Repeat("a", 200)}}
	m.SchemaVersion = 2
	raw := mustJSON(t, m)
	k.addBlob(ocispec.DescriptorEmptyJSON.Data)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: k.addBlob(raw), Size: int64(len(raw))}
}

// kitReader returns has and read functions over the blobs of k, and the
// count of reads of each digest.
func (k *taggedKit) kitReader(t testing.TB) (has func(ocispec.Descriptor) bool,
	read func(ocispec.Descriptor) ([]byte, error), reads map[digest.Digest]int) {
	blobs := map[digest.Digest][]byte{}
	for _, e := range k.entries {
		if name, ok := strings.CutPrefix(e.name, "blobs/sha256/"); ok {
			blobs[digest.NewDigestFromEncoded(digest.SHA256, name)] = e.data
		}
	}
	reads = map[digest.Digest]int{}
	has = func(d ocispec.Descriptor) bool {
		_, ok := blobs[d.Digest]
		return ok
	}
	read = func(d ocispec.Descriptor) ([]byte, error) {
		reads[d.Digest]++
		raw, ok := blobs[d.Digest]
		if !ok {
			return nil, os.ErrNotExist
		}
		return raw, nil
	}
	return has, read, reads
}

// While a kit waits for a blob, the check after each arriving blob reads
// each tag index and manifest once in all, however often index.json lists
// the tag index and the tag index lists a manifest.
func TestSignatureInputsReadEachBlobOnce(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	absent := []byte("never arrives")
	absentDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(absent),
		Size: int64(len(absent))}
	junk := k.junkManifest(t)
	raw := amplifiedTagIndex(t, junk, 400, absentDesc)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), raw)
	k.repeatTagEntry(t, digest.FromBytes(raw), 50)
	has, read, reads := k.kitReader(t)
	index := k.index(t)

	inputs := NewSignatureInputs()
	for range 100 {
		input, missing := inputs.missing(index, has, read)
		if !missing {
			t.Fatal("no input missing, want the manifest that never arrives")
		}
		if input.desc.Digest != absentDesc.Digest {
			t.Fatalf("missing input %s, want %s", input.desc.Digest, absentDesc.Digest)
		}
	}
	// The tag index is read twice: once to learn that it is not a bundle
	// index, and once as a tag index.
	for d, n := range reads {
		if d != digest.FromBytes(raw) && n != 1 {
			t.Errorf("read %s %d times, want 1", d, n)
		}
	}
	if n := reads[digest.FromBytes(raw)]; n != 2 {
		t.Errorf("tag index read %d times, want 2", n)
	}
}

// Only the referrers tag of the bundle index adds signature inputs. The
// tag of another image index in index.json lists nothing that the import
// waits for.
func TestSignatureInputsOnlyBundleTag(t *testing.T) {
	absent := []byte("never arrives")
	absentDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(absent),
		Size: int64(len(absent))}
	for _, bundleTag := range []bool{false, true} {
		f := newFixture(t)
		k := newTaggedKit(f, "1.0.0", 1)
		k.addTagIndex(t, layout.ReferrersTag(k.bundle), tagIndex(t, k.signature))
		// tagged is the digest of the bundle's tag index: an image index
		// that index.json lists, but not the bundle index.
		tagged := k.index(t).Manifests[len(k.index(t).Manifests)-1].Digest
		if bundleTag {
			tagged = k.bundle
		}
		k.addTagIndex(t, layout.ReferrersTag(tagged), tagIndex(t, absentDesc))
		has, read, _ := k.kitReader(t)

		ready := NewSignatureInputs().Ready(k.index(t), has, read)
		if ready == bundleTag {
			t.Errorf("tag of the bundle index %v: ready = %v, want %v", bundleTag, ready, !bundleTag)
		}
	}
}

// A kit whose index.json lists its tag index many times, and whose tag
// index lists a manifest many times, still imports and verifies.
func TestReferrersTagAmplifiedKitImports(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	raw := amplifiedTagIndex(t, k.junkManifest(t), 400, k.signature)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), raw)
	k.repeatTagEntry(t, digest.FromBytes(raw), 50)
	file, folder := k.write(t, f.dir, "amplified")
	ctx := context.Background()

	check, err := CheckKitSignature(ctx, file, k.bundle, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if check.SignedBy != f.keys[0].Source {
		t.Errorf("check of the file: signed by %q; reasons %v", check.SignedBy, check.Reasons)
	}
	checkSignedImports(t, f, file, folder)
}

// The signature check reads a tag index once however often index.json
// lists it. verify, inspect and mirror read tagged signatures through
// ReferrersTagSignatures too.
func TestReferrersTagSignaturesReadIndexOnce(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	raw := amplifiedTagIndex(t, k.signature, 400, k.signature)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), raw)
	k.repeatTagEntry(t, digest.FromBytes(raw), 50)
	_, read, reads := k.kitReader(t)
	fetch := func(_ context.Context, d ocispec.Descriptor) ([]byte, error) { return read(d) }

	tagged, problems := ReferrersTagSignatures(context.Background(), fetch, k.index(t), k.bundle, nil)
	if len(problems) != 0 {
		t.Errorf("problems %v", problems)
	}
	if len(tagged) != 1 || tagged[0].Digest != k.signature.Digest {
		t.Errorf("tagged signatures %v, want only %s", tagged, k.signature.Digest)
	}
	if n := reads[digest.FromBytes(raw)]; n != 1 {
		t.Errorf("tag index read %d times, want 1", n)
	}
}

// countingSource counts the fetches of each digest from a kit source.
type countingSource struct {
	content.ReadOnlyStorage
	fetches map[digest.Digest]int
}

func (c *countingSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.fetches[d.Digest]++
	return c.ReadOnlyStorage.Fetch(ctx, d)
}

// Import reads nothing that the tag of another digest lists, so such a tag
// index cannot make an unsigned kit store blobs before its signature check.
func TestReferrersTagForeignNotCopied(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	k.addTagIndex(t, layout.ReferrersTag(digest.FromString("another manifest")), tagIndex(t, k.signature))
	_, folder := k.write(t, f.dir, "foreign")
	index, src, err := layout.OpenDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingSource{ReadOnlyStorage: src, fetches: map[digest.Digest]int{}}
	ctx := context.Background()

	_, err = ImportFrom(ctx, counted, index, f.opts())
	if !errors.Is(err, errdef.ErrSignature) {
		t.Errorf("import: err = %v, want ErrSignature", err)
	}
	if n := counted.fetches[k.signature.Digest]; n != 0 {
		t.Errorf("import read signature manifest %s, which only a foreign tag index lists, %d times", k.signature.Digest, n)
	}
}

// Import reads a tag index from the source at most twice, once to learn
// that it is not the bundle index and once to store it, however often
// index.json lists it.
func TestReferrersTagImportReadsSourceOnce(t *testing.T) {
	f := newFixture(t)
	k := newTaggedKit(f, "1.0.0", 1)
	raw := tagIndex(t, k.signature)
	k.addTagIndex(t, layout.ReferrersTag(k.bundle), raw)
	k.repeatTagEntry(t, digest.FromBytes(raw), 50)
	_, folder := k.write(t, f.dir, "repeated")
	index, src, err := layout.OpenDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingSource{ReadOnlyStorage: src, fetches: map[digest.Digest]int{}}

	res, err := ImportFrom(context.Background(), counted, index, f.opts())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.SignedBy != f.keys[0].Source {
		t.Errorf("import signed by %q, want %q", res.SignedBy, f.keys[0].Source)
	}
	if n := counted.fetches[digest.FromBytes(raw)]; n > 2 {
		t.Errorf("import read the tag index %d times, want at most 2", n)
	}
}
