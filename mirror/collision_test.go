package mirror

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	internalerrdef "stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

func imageChild(ref string, hex byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex,
		Digest:      digest.Digest("sha256:" + strings.Repeat(string(hex), 64)),
		Annotations: map[string]string{oci.AnnotationRole: oci.RoleImage, oci.AnnotationImageRef: ref}}
}

// requireMirrorRejectsKit runs MirrorImages on bundle, with and without
// DryRun, and fails unless each run returns ErrInvalidKit with every string
// of wants in its message, lists no image and opens no repository. problem
// describes the invalid kit for the failure message.
func requireMirrorRejectsKit(t *testing.T, bundle ocispec.Index, target, problem string, wants []string) {
	t.Helper()
	for _, dryRun := range []bool{true, false} {
		pushed := false
		opts := MirrorOptions{DryRun: dryRun}
		opts.Repository = func(string) (*remote.Repository, error) {
			pushed = true
			return nil, errors.New("no registry in this test")
		}
		images, err := MirrorImages(context.Background(), memory.New(), bundle, target, opts)
		if err == nil {
			t.Fatalf("dry run %v: MirrorImages accepted %s", dryRun, problem)
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry run %v: error %q does not contain %s", dryRun, err, want)
			}
		}
		if !errors.Is(err, internalerrdef.ErrInvalidKit) {
			t.Errorf("dry run %v: error %v is not ErrInvalidKit", dryRun, err)
		}
		if len(images) != 0 {
			t.Errorf("dry run %v: %d images listed, want none", dryRun, len(images))
		}
		if pushed {
			t.Errorf("dry run %v: a repository was opened, want none", dryRun)
		}
	}
}

// A kit built before stella read two-part references the way Docker does
// can carry two images that now go to one tag.
func TestMirrorRejectsTargetCollision(t *testing.T) {
	bundle := ocispec.Index{Manifests: []ocispec.Descriptor{
		imageChild("registry.example.test/stella-ops/scanner:0.1.0", 'a'),
		imageChild("stella-ops/scanner:0.1.0", 'b'),
	}}
	requireMirrorRejectsKit(t, bundle, "reg.example.test/site/", "two images on one tag", []string{
		`"registry.example.test/stella-ops/scanner:0.1.0"`, `"stella-ops/scanner:0.1.0"`,
		"reg.example.test/site/stella-ops/scanner:0.1.0", "sha256:aaaa", "sha256:bbbb", "stella ouk build",
	})
}

func TestTargetCollisionSameDigest(t *testing.T) {
	same := []ocispec.Descriptor{
		imageChild("registry.example.test/stella-ops/scanner:0.1.0", 'a'),
		imageChild("stella-ops/scanner:0.1.0", 'a'),
		imageChild("other.example.test/stella-ops/scanner", 'b'),
	}
	if err := CheckTargetCollisions(same); err != nil {
		t.Errorf("CheckTargetCollisions with one digest per tag: %v, want nil", err)
	}
}

// Docker reads scanner:0.1.0 as docker.io/library/scanner:0.1.0, so these
// references all mirror to library/scanner:0.1.0.
func TestTargetCollisionOnePartReference(t *testing.T) {
	refs := []string{"scanner:0.1.0", "library/scanner:0.1.0", "docker.io/library/scanner:0.1.0",
		"docker.io/scanner:0.1.0", "index.docker.io/scanner:0.1.0", "example.test/library/scanner:0.1.0"}
	for i, first := range refs {
		for _, second := range refs[i+1:] {
			err := CheckTargetCollisions([]ocispec.Descriptor{imageChild(first, 'a'), imageChild(second, 'b')})
			var collision *TargetCollisionError
			if !errors.As(err, &collision) {
				t.Errorf("CheckTargetCollisions(%q, %q) = %v, want a collision", first, second, err)
				continue
			}
			if collision.Target != "library/scanner:0.1.0" {
				t.Errorf("CheckTargetCollisions(%q, %q) target %q, want library/scanner:0.1.0", first, second, collision.Target)
			}
		}
	}
	other := []ocispec.Descriptor{imageChild("scanner:0.1.0", 'a'), imageChild("example.test/scanner:0.1.0", 'b')}
	if err := CheckTargetCollisions(other); err != nil {
		t.Errorf("CheckTargetCollisions with scanner and library/scanner: %v, want nil", err)
	}
}
