package layout

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

func FuzzTarReader(f *testing.F) {
	valid := validLayoutTar(f)
	f.Add(valid)
	f.Add(gzipBytes(f, valid))
	f.Add(zstdBytes(f, valid))
	f.Add(valid[:len(valid)/2])
	f.Add(buildTar(f, tarEntry{name: "../evil", typeflag: tar.TypeReg, body: []byte("x")}))
	f.Add(buildTar(f, tarEntry{name: "index.json", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}))
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxEntries: 100, MaxBlobSize: 1 << 20, MaxTotalSize: 4 << 20, MaxIndexSize: 64 << 10}
		tr, err := NewTarReader(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		defer tr.Close()
		for {
			e, err := tr.Next()
			if err != nil {
				return
			}
			if e.Kind == Blob && e.Digest.Validate() != nil {
				t.Fatalf("blob entry %q has invalid digest %q", e.Name, e.Digest)
			}
			n, err := io.Copy(io.Discard, e.Reader)
			if err == nil && n != e.Size {
				t.Fatalf("entry %q read %d bytes, header says %d", e.Name, n, e.Size)
			}
		}
	})
}

// FuzzParseReferrersTagIndex checks that the referrers tag index parser,
// which reads an index from an untrusted kit, fails with ErrInvalidKit or
// returns at most MaxReferrersTagManifests signature manifests, each of a
// digest of its own.
func FuzzParseReferrersTagIndex(f *testing.F) {
	sig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSigstoreBundle,
		Digest: digest.FromString("signature"), Size: 9}
	sbom := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSPDX,
		Digest: digest.FromString("sbom"), Size: 4}
	valid := mustJSON(f, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{sig, sbom, sig}})
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"schemaVersion":"2","mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		descs, err := ParseReferrersTagIndex(raw)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("error %v does not wrap ErrInvalidKit", err)
			}
			return
		}
		if len(descs) > MaxReferrersTagManifests {
			t.Fatalf("%d manifests, over the limit of %d", len(descs), MaxReferrersTagManifests)
		}
		seen := map[digest.Digest]bool{}
		for _, d := range descs {
			if d.MediaType != ocispec.MediaTypeImageManifest {
				t.Fatalf("returned %s of media type %q", d.Digest, d.MediaType)
			}
			if seen[d.Digest] {
				t.Fatalf("returned %s twice", d.Digest)
			}
			seen[d.Digest] = true
		}
	})
}
