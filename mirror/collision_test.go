package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Docker reads a reference without a tag or digest with the tag latest, so
// scanner and scanner:latest name one image for Docker tools.
func TestTargetCollisionUntaggedReference(t *testing.T) {
	for _, tc := range []struct{ first, second, untagged string }{
		{"scanner", "scanner:latest", "scanner"},
		{"docker.io/library/scanner:latest", "scanner", "scanner"},
		{"example.test/stella-ops/scanner", "stella-ops/scanner:latest", "example.test/stella-ops/scanner"},
		{"scanner", "docker.io/library/scanner", "scanner"},
	} {
		err := CheckTargetCollisions([]ocispec.Descriptor{imageChild(tc.first, 'a'), imageChild(tc.second, 'b')})
		var collision *TargetCollisionError
		if !errors.As(err, &collision) {
			t.Errorf("CheckTargetCollisions(%q, %q) = %v, want a collision", tc.first, tc.second, err)
			continue
		}
		if collision.Untagged != tc.untagged {
			t.Errorf("CheckTargetCollisions(%q, %q) untagged %q, want %q", tc.first, tc.second, collision.Untagged, tc.untagged)
		}
		if !strings.HasSuffix(collision.Target, ":latest") {
			t.Errorf("CheckTargetCollisions(%q, %q) target %q, want a :latest target", tc.first, tc.second, collision.Target)
		}
	}
	// A digest reference without a tag names no tag for Docker either.
	byDigest := "scanner@sha256:" + strings.Repeat("a", 64)
	if err := CheckTargetCollisions([]ocispec.Descriptor{imageChild(byDigest, 'a'), imageChild("scanner:latest", 'b')}); err != nil {
		t.Errorf("CheckTargetCollisions with a digest reference: %v, want nil", err)
	}
}

// A tagged pair after an untagged reference still collides at the mirror
// target, which mirror must reject.
func TestTargetCollisionTaggedAfterUntagged(t *testing.T) {
	collisions, err := FindTargetCollisions([]ocispec.Descriptor{imageChild("scanner", 'a'),
		imageChild("scanner:latest", 'b'), imageChild("docker.io/scanner:latest", 'c')})
	if err != nil {
		t.Fatal(err)
	}
	if len(collisions) != 2 {
		t.Fatalf("FindTargetCollisions found %d collisions, want 2: %v", len(collisions), collisions)
	}
	if collisions[1].Untagged != "" || collisions[1].First != "scanner:latest" {
		t.Errorf("second collision %+v, want scanner:latest and docker.io/scanner:latest at the target", collisions[1])
	}
}

// Mirror pushes an untagged reference by digest, so a kit that pairs it
// with the latest tag of another image is mirrored with a warning.
func TestMirrorWarnsUntaggedCollision(t *testing.T) {
	store := memory.New()
	bundle := ocispec.Index{Manifests: []ocispec.Descriptor{
		storedImageChild(t, store, "scanner", 1), storedImageChild(t, store, "scanner:latest", 2)}}
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	images, err := MirrorImages(context.Background(), store, bundle, "reg.example.test/site",
		MirrorOptions{DryRun: true, Logger: log})
	if err != nil {
		t.Fatalf("MirrorImages: %v", err)
	}
	if len(images) != 2 {
		t.Errorf("MirrorImages listed %d images, want 2", len(images))
	}
	for _, want := range []string{`\"scanner\"`, "scanner:latest", "by digest only", "level=WARN"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logged.String())
		}
	}
}

// storedImageChild stores an empty image index that n makes unique in
// store and returns its descriptor as an image child with reference ref.
func storedImageChild(t *testing.T, store *memory.Store, ref string, n int) ocispec.Descriptor {
	t.Helper()
	raw := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[],"annotations":{"n":"%d"}}`,
		ocispec.MediaTypeImageIndex, n))
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := store.Push(context.Background(), desc, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	desc.Annotations = map[string]string{oci.AnnotationRole: oci.RoleImage, oci.AnnotationImageRef: ref}
	return desc
}
