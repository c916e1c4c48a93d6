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
