package layout

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

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

// FuzzLoadImageArchive checks that an oci-archive given to the build as an
// image either loads, with a manifest or index whose bytes match its
// descriptor, or fails with an error that names the file.
func FuzzLoadImageArchive(f *testing.F) {
	valid := validLayoutTar(f)
	f.Add(valid, "registry.example/scanner:1.0")
	f.Add(gzipBytes(f, valid), "registry.example/scanner")
	f.Add(zstdBytes(f, valid), "registry.example/scanner:2.0")
	f.Add(valid[:len(valid)-1024], "registry.example/scanner:1.0")
	index, entries := sampleLayout(f)
	index.Manifests = append(index.Manifests, index.Manifests[0])
	index.Manifests[1].Annotations = map[string]string{ocispec.AnnotationRefName: "2.0"}
	f.Add(buildTar(f, append([]tarEntry{file("oci-layout", layoutFileContent),
		file("index.json", mustJSON(f, index))}, entries[2:]...)...), "registry.example/scanner@"+
		index.Manifests[0].Digest.String())
	f.Fuzz(func(t *testing.T, data []byte, ref string) {
		path := filepath.Join(t.TempDir(), "image.tar")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		desc, src, err := LoadImage(context.Background(), path, ref)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the archive: %v", err)
			}
			return
		}
		defer src.(io.Closer).Close()
		if err := desc.Digest.Validate(); err != nil {
			t.Fatalf("loaded a descriptor of invalid digest %q", desc.Digest)
		}
		// The storage checks each blob against its descriptor, so a
		// manifest that the archive lacks or that does not match is an
		// error here, never wrong bytes.
		if raw, err := content.FetchAll(context.Background(), src, desc); err == nil &&
			digest.FromBytes(raw) != desc.Digest {
			t.Fatalf("fetched %s as bytes of digest %s", desc.Digest, digest.FromBytes(raw))
		}
	})
}
