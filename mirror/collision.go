package mirror

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// TargetCollisionError reports two images that mirror would push to the
// same repository and tag although their digests differ, so the second
// push would move the tag away from the first image.
type TargetCollisionError struct {
	// First and Second are the two image references, in kit order.
	First, Second string
	// FirstDigest and SecondDigest are the digests of the two images.
	FirstDigest, SecondDigest string
	// Target is REPOSITORY:TAG without the registry host or prefix.
	Target string
}

func (e *TargetCollisionError) Error() string {
	return fmt.Sprintf("image references %q (%s) and %q (%s) both mirror to %s, so one would overwrite the other",
		e.First, e.FirstDigest, e.Second, e.SecondDigest, e.Target)
}

// CheckTargetCollisions returns a *TargetCollisionError for the first two
// image children of a bundle index that mirror to the same repository and
// tag with different digests. Two references to one digest are no
// collision, since both pushes leave the tag on the same image. An image
// without a tag goes by its digest and so never collides. Children that
// are not images are skipped.
func CheckTargetCollisions(children []ocispec.Descriptor) error {
	type seen struct{ ref, digest string }
	byTarget := map[string]seen{}
	for _, child := range children {
		if child.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		ref := child.Annotations[oci.AnnotationImageRef]
		repository, tag, err := ImageTarget(ref)
		if err != nil {
			return fmt.Errorf("%w in the kit", err)
		}
		if tag == "" {
			continue
		}
		target := repository + ":" + tag
		prev, found := byTarget[target]
		if !found {
			byTarget[target] = seen{ref: ref, digest: child.Digest.String()}
			continue
		}
		if prev.digest != child.Digest.String() {
			return &TargetCollisionError{First: prev.ref, Second: ref, FirstDigest: prev.digest,
				SecondDigest: child.Digest.String(), Target: target}
		}
	}
	return nil
}
