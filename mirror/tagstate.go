package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// tagState is the digest that a tag named when a push or mirror started,
// before the referrers went up and the tag was moved. Errors use it to
// report to the operator whether the tag moved.
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
		return state, &TagStateError{Err: fmt.Errorf("resolving tag %s in %s: %w", tag, repo.Reference, err),
			State: fmt.Sprintf("tag %s was left as it was, because the tag is set only after this lookup, "+
				"the signatures and the other referrers", state.ref)}
	}
	state.previous = current.Digest
	return state, nil
}

// untouchedTagState describes tag in repo after a failure before any
// request that sets it, such as during the blob upload of a kit file. It
// reads the tag back to name the digest the tag names. The read-back is
// sent once, without retries, because the registry has just failed, and
// gets a few seconds of its own, so that it still runs after an interrupt
// cancelled ctx.
func untouchedTagState(ctx context.Context, repo *remote.Repository, tag string) string {
	const reason = ", because the tag is set only after the blobs, signatures and other referrers are in place"
	ref := repo.Reference.Registry + "/" + repo.Reference.Repository + ":" + tag
	lookupCtx, cancel := context.WithTimeout(withoutRetries(context.WithoutCancel(ctx)), 5*time.Second)
	defer cancel()
	current, err := repo.Resolve(lookupCtx, tag)
	switch {
	case err == nil:
		return fmt.Sprintf("tag %s was not moved and still names %s%s", ref, current.Digest, reason)
	case isNotFound(err):
		return fmt.Sprintf("tag %s does not exist and was not created%s", ref, reason)
	}
	return fmt.Sprintf("tag %s was left as it was%s", ref, reason)
}

// names reports whether the tag named d when the push started.
func (s tagState) names(d digest.Digest) bool { return s.previous == d }

// TagStateError is a push or mirror that failed, or was interrupted,
// before or while it set a tag. Its message states whether the tag moved.
type TagStateError struct {
	Err error
	// State describes the tag after the failure, such as "tag
	// reg/repo:latest was not moved and still names sha256:…".
	State string
}

func (e *TagStateError) Error() string { return e.Err.Error() + "; " + e.State }
func (e *TagStateError) Unwrap() error { return e.Err }

// notMoved adds to err, a failure before the tag was set, that the tag
// still names what it named before.
func (s tagState) notMoved(err error, target digest.Digest) error {
	const reason = ", because the tag is set only after the signatures and other referrers are in place"
	switch s.previous {
	case "":
		return &TagStateError{Err: err, State: fmt.Sprintf("tag %s was not created%s", s.ref, reason)}
	case target:
		return &TagStateError{Err: err, State: fmt.Sprintf("tag %s named %s already before this run", s.ref, target)}
	}
	return &TagStateError{Err: err, State: fmt.Sprintf("tag %s was not moved and still names %s%s", s.ref, s.previous, reason)}
}

// tagFailed adds to err, a failure to set the tag to target after the
// referrers went up, what the tag names now. It resolves the tag once
// more, because a registry may have applied the request before the
// connection broke. The lookup is sent once, without retries, and gets a
// few seconds of its own, so that it still runs after an interrupt
// cancelled ctx.
func (s tagState) tagFailed(ctx context.Context, repo *remote.Repository, err error, target digest.Digest) error {
	lookupCtx, cancel := context.WithTimeout(withoutRetries(context.WithoutCancel(ctx)), 5*time.Second)
	defer cancel()
	current, resolveErr := repo.Resolve(lookupCtx, s.tag)
	check := "check it with `" + digestCommand(repo, s.ref) + "`"
	var state string
	switch {
	case resolveErr == nil && current.Digest == target:
		state = fmt.Sprintf("the referrers are in place, and the registry moved tag %s to %s nevertheless", s.ref, target)
	case resolveErr == nil && !tagResponded(ctx, err):
		state = fmt.Sprintf("the referrers are in place, and tag %s still named %s when it was read back, but the "+
			"request that moves it to %s was sent and got no response, so the registry may still move it; %s",
			s.ref, current.Digest, target, check)
	case isNotFound(resolveErr) && !tagResponded(ctx, err):
		state = fmt.Sprintf("the referrers are in place, and tag %s did not exist when it was read back, but the "+
			"request that creates it for %s was sent and got no response, so the registry may still create it; %s",
			s.ref, target, check)
	case resolveErr == nil:
		state = fmt.Sprintf("the referrers are in place, and tag %s was not moved and still names %s", s.ref, current.Digest)
	case isNotFound(resolveErr):
		state = fmt.Sprintf("the referrers are in place, and tag %s was not created", s.ref)
	default:
		state = fmt.Sprintf("the referrers are in place, and whether tag %s moved is unknown, because resolving it "+
			"failed too (%s); %s", s.ref, describeResolveError(resolveErr), check)
	}
	return &TagStateError{Err: err, State: state}
}

// tagResponded reports whether err, a failure to set a tag, carries the
// registry's response to the request. Without one, such as after an
// interrupt or a timeout while the request was in flight, the registry
// may still apply the request after stella reads the tag back.
func tagResponded(ctx context.Context, err error) bool {
	var response *errcode.ErrorResponse
	return ctx.Err() == nil && errors.As(err, &response)
}

// digestCommand returns a crane command that prints the digest ref names,
// with --insecure for a registry served over plain HTTP.
func digestCommand(repo *remote.Repository, ref string) string {
	if repo.PlainHTTP {
		return "crane digest --insecure " + ref
	}
	return "crane digest " + ref
}

// describeResolveError formats err, a failed read-back of a tag, with the
// registry's status when the registry responded.
func describeResolveError(err error) string {
	var response *errcode.ErrorResponse
	if errors.As(err, &response) {
		return fmt.Sprintf("the registry responded %d %s", response.StatusCode, http.StatusText(response.StatusCode))
	}
	return err.Error()
}
