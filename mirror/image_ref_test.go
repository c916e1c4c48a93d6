package mirror

import (
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	internalerrdef "stella-ops.org/ouk/internal/errdef"
)

// A kit edited by hand can carry an image reference that build rejects.
func TestMirrorRejectsInvalidImageRef(t *testing.T) {
	bundle := ocispec.Index{Manifests: []ocispec.Descriptor{
		imageChild("registry.example.test/stella-ops/scanner:0.1.0", 'a'),
		imageChild("registry.example.test/x//scanner:0.1.0", 'b'),
	}}
	for _, dryRun := range []bool{true, false} {
		pushed := false
		opts := MirrorOptions{DryRun: dryRun}
		opts.Repository = func(string) (*remote.Repository, error) {
			pushed = true
			return nil, errors.New("no registry in this test")
		}
		images, err := MirrorImages(context.Background(), memory.New(), bundle, "reg.example.test/site", opts)
		if err == nil {
			t.Fatalf("dry run %v: MirrorImages accepted an invalid image reference", dryRun)
		}
		for _, want := range []string{`"registry.example.test/x//scanner:0.1.0"`, "sha256:bbbb", "stella ouk build", "pushed nothing"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry run %v: error %q does not contain %s", dryRun, err, want)
			}
		}
		if !errors.Is(err, internalerrdef.ErrInvalidKit) {
			t.Errorf("dry run %v: error %v is not ErrInvalidKit", dryRun, err)
		}
		if len(images) != 0 || pushed {
			t.Errorf("dry run %v: %d images listed, repository opened %v; want nothing", dryRun, len(images), pushed)
		}
	}
}
