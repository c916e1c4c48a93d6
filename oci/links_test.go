package oci

import (
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

func TestParseLinksIndexAndManifest(t *testing.T) {
	d := ocispec.Descriptor{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
	l, err := ParseLinks(d, []byte(`{"config":{"digest":"sha256:aa","size":2},"layers":[{"digest":"sha256:bb","size":3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if l.Config == nil || l.Config.Digest != "sha256:aa" {
		t.Errorf("config = %v, want sha256:aa", l.Config)
	}
	if len(l.Layers) != 1 || l.Layers[0].Digest != "sha256:bb" {
		t.Errorf("layers = %v, want one, sha256:bb", l.Layers)
	}
	l, err = ParseLinks(d, []byte(`{"manifests":[{"digest":"sha256:cc","size":4}]}`))
	if err != nil || len(l.Manifests) != 1 {
		t.Errorf("index manifests = %v, %v; want one", l.Manifests, err)
	}
	if _, err := ParseLinks(d, []byte(`{"layers":`)); !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("malformed manifest: error = %v, want ErrInvalidKit", err)
	}
}

func TestIsIndex(t *testing.T) {
	for mediaType, want := range map[string]bool{
		ocispec.MediaTypeImageIndex:                                 true,
		"application/vnd.docker.distribution.manifest.list.v2+json": true,
		ocispec.MediaTypeImageManifest:                              false,
		"application/vnd.docker.distribution.manifest.v2+json":      false,
		"": false,
	} {
		if got := IsIndex(mediaType); got != want {
			t.Errorf("IsIndex(%q) = %v, want %v", mediaType, got, want)
		}
	}
}

func TestPlatformStringVariant(t *testing.T) {
	for _, c := range []struct {
		platform ocispec.Platform
		want     string
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "linux/arm/v6"},
	} {
		if got := PlatformString(c.platform); got != c.want {
			t.Errorf("PlatformString(%+v) = %q, want %q", c.platform, got, c.want)
		}
	}
}
