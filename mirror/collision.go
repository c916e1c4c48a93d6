package mirror

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// dockerDefaultTag is the tag that Docker tools read into a reference
// without a tag or digest, so scanner means scanner:latest.
const dockerDefaultTag = "latest"

// TargetCollisionError reports two images whose references name the same
// repository and tag although their digests differ. Unless Untagged is
// set, mirror would push both to that tag, so the second push would move
// the tag away from the first image.
type TargetCollisionError struct {
	// First and Second are the two image references, in kit order.
	First, Second string
	// FirstDigest and SecondDigest are the digests of the two images.
	FirstDigest, SecondDigest string
	// Target is REPOSITORY:TAG without the registry host or prefix.
	Target string
	// Untagged is the reference of the pair that has no tag and no
	// digest, or "". Docker reads it with the tag latest, but mirror
	// pushes it by digest, so the mirror overwrites nothing. Yet a pull
	// of that reference gets the other image.
	Untagged string
}

func (e *TargetCollisionError) Error() string {
	if e.Untagged != "" {
		return fmt.Sprintf("image references %q (%s) and %q (%s) both name %s, because Docker reads a reference "+
			"without a tag or digest, such as %q, with the tag %s; stella ouk mirror pushes %q by digest only, "+
			"so a pull of it gets another image than the kit holds",
			e.First, e.FirstDigest, e.Second, e.SecondDigest, e.Target, e.Untagged, dockerDefaultTag, e.Untagged)
	}
	return fmt.Sprintf("image references %q (%s) and %q (%s) both mirror to %s, so one would overwrite the other",
		e.First, e.FirstDigest, e.Second, e.SecondDigest, e.Target)
}

// CheckTargetCollisions returns the first *TargetCollisionError that
// FindTargetCollisions finds, or an error for an invalid reference.
func CheckTargetCollisions(children []ocispec.Descriptor) error {
	collisions, err := FindTargetCollisions(children)
	if err != nil {
		return err
	}
	if len(collisions) > 0 {
		return collisions[0]
	}
	return nil
}

// FindTargetCollisions returns, in kit order, each image child of a
// bundle index whose reference names the same repository and tag as an
// earlier image child with another digest. Two references to one digest
// are no collision, since both pushes leave the tag on the same image. A
// reference with a digest and no tag goes by its digest and so never
// collides. A reference without a tag or digest counts with the tag
// latest, as Docker reads it (see TargetCollisionError.Untagged). Children
// that are not images are skipped. An invalid reference returns an error.
func FindTargetCollisions(children []ocispec.Descriptor) ([]*TargetCollisionError, error) {
	type seen struct{ ref, digest string }
	// The first tagged and the first untagged reference of each target are
	// kept apart, so that a pair of tagged references still counts as a
	// collision at the mirror target after an untagged one.
	tagged, untaggedRefs := map[string]seen{}, map[string]seen{}
	var out []*TargetCollisionError
	for _, child := range children {
		if child.Annotations[oci.AnnotationRole] != oci.RoleImage {
			continue
		}
		ref := child.Annotations[oci.AnnotationImageRef]
		repository, tag, err := ImageTarget(ref)
		if err != nil {
			return nil, fmt.Errorf("%w in the kit", err)
		}
		isUntagged := tag == ""
		if isUntagged {
			if strings.Contains(ref, "@") {
				continue
			}
			tag = dockerDefaultTag
		}
		target := repository + ":" + tag
		current := seen{ref: ref, digest: child.Digest.String()}
		for _, prev := range []seen{tagged[target], untaggedRefs[target]} {
			if prev.ref == "" || prev.digest == current.digest {
				continue
			}
			collision := &TargetCollisionError{First: prev.ref, Second: ref, FirstDigest: prev.digest,
				SecondDigest: current.digest, Target: target}
			if untagged(prev.ref) {
				collision.Untagged = prev.ref
			} else if isUntagged {
				collision.Untagged = ref
			}
			out = append(out, collision)
			break
		}
		slots := tagged
		if isUntagged {
			slots = untaggedRefs
		}
		if _, found := slots[target]; !found {
			slots[target] = current
		}
	}
	return out, nil
}

// untagged reports whether the valid image reference ref has neither a
// tag nor a digest.
func untagged(ref string) bool {
	if strings.Contains(ref, "@") {
		return false
	}
	_, tag, err := ImageTarget(ref)
	return err == nil && tag == ""
}
