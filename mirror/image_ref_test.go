package mirror

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A kit edited by hand can carry an image reference that build rejects.
func TestMirrorRejectsInvalidImageRef(t *testing.T) {
	bundle := ocispec.Index{Manifests: []ocispec.Descriptor{
		imageChild("registry.example.test/stella-ops/scanner:0.1.0", 'a'),
		imageChild("registry.example.test/x//scanner:0.1.0", 'b'),
	}}
	requireMirrorRejectsKit(t, bundle, "reg.example.test/site", "an invalid image reference", []string{
		`"registry.example.test/x//scanner:0.1.0"`, "sha256:bbbb", "stella ouk build", "pushed nothing",
	})
}
