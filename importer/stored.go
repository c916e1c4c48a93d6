package importer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Action is the command's use of a stored kit that passes the checks of
// CheckStored, in the words that its messages use.
type Action struct {
	// Verb is the infinitive, such as "activate".
	Verb string
	// Gerund is the -ing form, such as "activating".
	Gerund string
}

var (
	// ActionActivate is the action of a rollback, which makes the kit
	// active again.
	ActionActivate = Action{Verb: "activate", Gerund: "activating"}
	// ActionMirror is the action of mirror, which pushes the kit's images
	// to a registry and leaves the active kit as it is.
	ActionMirror = Action{Verb: "mirror", Gerund: "mirroring"}
)

// CheckStored applies the signature and expiry checks of an import to the
// stored kit with bundle digest bundle, before action uses it, such as a
// rollback that makes it active again. The sequence is not checked,
// because the operator names the kit on purpose.
//
// It verifies the signature manifests in the store whose subject is the
// bundle index, which an import stores with the kit and gc keeps with it,
// against opts.Keys. lastSigner is the key source that the history
// recorded for the kit, or empty, and a rejection names it.
// InsecureSkipSignature and AllowExpired override the checks with a
// warning in the result. Rejections and warnings name action.
// CheckStored changes nothing in the store.
func CheckStored(ctx context.Context, opts Options, bundle digest.Digest, lastSigner string, action Action) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSession(opts)
	bm, err := s.readStoredBundle(ctx, bundle)
	if err != nil {
		return nil, err
	}
	s.setKit(bm)
	if err := s.checkStoredSignature(ctx, bm, lastSigner, action); err != nil {
		return nil, err
	}
	warning, err := CheckExpiry(bm.meta, s.opts.Now(), s.opts.AllowExpired, action.Verb, action.Gerund)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		s.warn(warning)
	}
	return &s.result, nil
}

// readStoredBundle reads and parses the stored bundle index bundle.
func (s *session) readStoredBundle(ctx context.Context, bundle digest.Digest) (*bundleMeta, error) {
	info, err := s.opts.Store.Stat(ctx, bundle)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", bundle, err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, ArtifactType: oci.ArtifactTypeBundle,
		Digest: bundle, Size: info.Size}
	raw, err := s.readManifest(ctx, desc)
	if err != nil {
		return nil, err
	}
	idx, meta, err := oci.ParseBundleIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", bundle, err)
	}
	return &bundleMeta{desc: desc, index: idx, meta: meta, raw: raw}, nil
}

// checkStoredSignature accepts the stored kit bm when one of its stored
// signature manifests verifies with a trusted key.
func (s *session) checkStoredSignature(ctx context.Context, bm *bundleMeta, lastSigner string, action Action) error {
	parents, err := s.opts.Store.Predecessors(ctx, bm.desc)
	if err != nil {
		return err
	}
	var candidates []ocispec.Descriptor
	for _, p := range parents {
		// verifyReferrer checks that the manifest's subject is the kit.
		if p.MediaType == ocispec.MediaTypeImageManifest && p.ArtifactType == oci.MediaTypeSigstoreBundle {
			candidates = append(candidates, p)
		}
	}

	check := checkCandidates(ctx, s.fetchStored, candidates, bm.desc, bm.raw, s.opts.Keys)
	if check.SignedBy != "" {
		s.result.SignedBy = check.SignedBy
		return nil
	}

	for _, r := range check.Reasons {
		s.opts.Logger.Debug("signature did not verify", "reason", r)
	}
	if check.StoreErr != nil {
		return fmt.Errorf("checking the signature of kit %s: %w", bm.meta.Version, check.StoreErr)
	}
	failure := check.Failure(s.opts.Keys, s.keysDir())
	if s.opts.InsecureSkipSignature {
		s.warn(action.Gerund + " kit " + bm.meta.Version + " without a valid signature (--insecure-skip-signature): " + failure)
		return nil
	}

	if len(candidates) == 0 {
		return fmt.Errorf("kit %s (%s): the store contains no signature of it, as for a kit imported with "+
			"--insecure-skip-signature, or one that gc removed and an interrupted import stored again in "+
			"part, so no trusted key vouches for it. Import the kit's file again to bring back its signature, "+
			"or pass --insecure-skip-signature to %s it anyway: %w", bm.meta.Version, bm.desc.Digest, action.Verb,
			errdef.ErrSignature)
	}

	// A key that came from the keys folder was removed from there, which
	// revokes it. Any other key came with --key and is missing now.
	fromKeysDir := s.opts.KeysDir != "" && filepath.Dir(lastSigner) == filepath.Clean(s.opts.KeysDir)
	if len(s.opts.Keys) == 0 && lastSigner != "" && !fromKeysDir {
		return fmt.Errorf("kit %s (%s) was last activated with the key %s, and no key is trusted now: pass that "+
			"key with --key, as the import did, or put it into %s, so that every command trusts it. "+
			"Pass --insecure-skip-signature to %s the kit without a check: %w",
			bm.meta.Version, bm.desc.Digest, lastSigner, s.keysDir(), action.Verb, errdef.ErrSignature)
	}

	// No stored signature is one of this kit that only the key failed, so
	// a trusted key would not help: the signatures are damaged or belong
	// to another kit, as a kit imported with --insecure-skip-signature may
	// carry.
	if len(s.opts.Keys) > 0 && check.KeyMismatches == 0 {
		return fmt.Errorf("kit %s (%s) has no trusted signature: no signature that the store contains for it is a "+
			"valid signature of this kit (%s), as a kit imported with --insecure-skip-signature may carry, so no "+
			"key would verify it. Import the kit's file again from its builder, or pass --insecure-skip-signature "+
			"to %s it anyway: %w", bm.meta.Version, bm.desc.Digest, failure, action.Verb, errdef.ErrSignature)
	}

	key := "its signing key"
	if lastSigner != "" {
		key = "the key it was last activated with, " + lastSigner + ","
	}
	return fmt.Errorf("kit %s (%s) has no trusted signature, because %s is no longer trusted: %s. "+
		"If that key was removed to revoke it, import a newer kit rather than %s this one. Otherwise put "+
		"the public key back into %s or pass it with --key, or pass --insecure-skip-signature to %s the "+
		"kit anyway: %w", bm.meta.Version, bm.desc.Digest, key, failure, action.Gerund, s.keysDir(), action.Verb,
		errdef.ErrSignature)
}

// keysDir returns the folder of trusted keys that messages name.
func (s *session) keysDir() string {
	if s.opts.KeysDir == "" {
		return "$STELLA_HOME/keys"
	}
	return s.opts.KeysDir
}
