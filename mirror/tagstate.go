package mirror

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// tagState is what a tag named when a push or mirror started, before the
// referrers went up and the tag was moved. Errors use it to tell the
// operator whether the tag moved.
type tagState struct {
	// ref is REGISTRY/REPOSITORY:TAG.
	ref string
	tag string
	// previous is the digest the tag named, or "" when it did not exist.
	previous digest.Digest
}

// resolveTag returns what tag names in repo now.
func resolveTag(ctx context.Context, repo *remote.Repository, log *slog.Logger, tag string) (tagState, error) {
	state := tagState{ref: repo.Reference.Registry + "/" + repo.Reference.Repository + ":" + tag, tag: tag}
	var current ocispec.Descriptor
	err := withRetry(ctx, log, "resolve tag "+tag, func(int) error {
		var err error
		current, err = repo.Resolve(ctx, tag)
		return err
	})
	switch {
	case isNotFound(err):
		return state, nil
	case err != nil:
		return state, fmt.Errorf("resolving tag %s in %s: %w", tag, repo.Reference, err)
	}
	state.previous = current.Digest
	return state, nil
}

// names reports whether the tag named d when the push started.
func (s tagState) names(d digest.Digest) bool { return s.previous == d }

// notMoved adds to err, a failure before the tag was set, that the tag
// still names what it named before.
func (s tagState) notMoved(err error, target digest.Digest) error {
	switch s.previous {
	case "":
		return fmt.Errorf("%w; tag %s was not created, because the tag is set only after the signatures and other "+
			"referrers are in place", err, s.ref)
	case target:
		return fmt.Errorf("%w; tag %s named %s already before this run", err, s.ref, target)
	}
	return fmt.Errorf("%w; tag %s was not moved and still names %s, because the tag is set only after the "+
		"signatures and other referrers are in place", err, s.ref, s.previous)
}

// afterTagFailure describes the tag after setting it to target failed.
// It resolves the tag once more, because a registry may have applied the
// request before the connection broke.
func (s tagState) afterTagFailure(ctx context.Context, repo *remote.Repository, target digest.Digest) string {
	current, err := repo.Resolve(ctx, s.tag)
	switch {
	case err == nil && current.Digest == target:
		return fmt.Sprintf("the registry moved tag %s to %s nevertheless", s.ref, target)
	case err == nil:
		return fmt.Sprintf("tag %s was not moved and still names %s", s.ref, current.Digest)
	case isNotFound(err):
		return fmt.Sprintf("tag %s was not created", s.ref)
	}
	return fmt.Sprintf("whether tag %s moved is unknown, because resolving it failed too (%v)", s.ref, err)
}
