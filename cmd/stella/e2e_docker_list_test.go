package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	dockerManifestType     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestListType = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// dockerListImage writes an OCI layout folder whose index.json names a
// Docker manifest list, as skopeo copies of Docker images keep it, with
// the platforms linux/amd64 and linux/arm/v7. It returns the folder.
func dockerListImage(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "docker-image")
	blobs := filepath.Join(out, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBlob := func(mediaType string, data []byte) ocispec.Descriptor {
		t.Helper()
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	marshal := func(v any) []byte {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	var manifests []ocispec.Descriptor
	for _, p := range []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		config := writeBlob("application/vnd.docker.container.image.v1+json", marshal(map[string]any{
			"os": p.OS, "architecture": p.Architecture, "variant": p.Variant,
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}},
		}))
		layer := writeBlob("application/vnd.docker.image.rootfs.diff.tar.gzip",
			[]byte("layer of "+p.Architecture+p.Variant))
		manifest := writeBlob(dockerManifestType, marshal(map[string]any{
			"schemaVersion": 2, "mediaType": dockerManifestType,
			"config": config, "layers": []ocispec.Descriptor{layer},
		}))
		platform := p
		manifest.Platform = &platform
		manifests = append(manifests, manifest)
	}
	list := writeBlob(dockerManifestListType, marshal(map[string]any{
		"schemaVersion": 2, "mediaType": dockerManifestListType, "manifests": manifests,
	}))
	index := marshal(map[string]any{"schemaVersion": 2, "manifests": []ocispec.Descriptor{list}})
	if err := os.WriteFile(filepath.Join(out, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBuildDockerManifestListPlatforms checks that the kit's SBOM, inspect
// and status list the platforms, with variant, of an image whose top level
// is a Docker manifest list.
func TestBuildDockerManifestListPlatforms(t *testing.T) {
	e := newEnv(t)
	ref := "registry.example.test/stella-ops/scanner:0.1.0"
	kit := e.buildKit("kit.tar", "--image", ref+"="+dockerListImage(t, e.dir))
	const want = "linux/amd64, linux/arm/v7"

	k := &kitParts{entries: readTar(t, kit)}
	_, bundle := k.bundle(t)
	var sbomText string
	for _, c := range bundle.Manifests {
		if c.Annotations["org.stellaops.ouk.role"] != "sbom" {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(k.blob(t, c.Digest.String()), &m); err != nil {
			t.Fatal(err)
		}
		sbomText = string(k.blob(t, m.Layers[0].Digest.String()))
	}
	if !strings.Contains(sbomText, "image "+ref+"; platforms: "+want) {
		t.Errorf("SBOM does not list the platforms %s:\n%s", want, sbomText)
	}

	inspect := e.must("ouk", "inspect", kit)
	if !strings.Contains(inspect, "image       "+ref+" ["+want+"]") {
		t.Errorf("inspect does not list the platforms %s:\n%s", want, inspect)
	}

	e.must("ouk", "import", "--key", e.pub, kit)
	images := e.status().Active.Images
	if len(images) != 1 || strings.Join(images[0].Platforms, ", ") != want {
		t.Errorf("status images = %+v, want one image with platforms %s", images, want)
	}
}
