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

// CheckStored applies the signature and expiry checks of an import to the
// stored kit with bundle digest bundle, before a rollback makes it active
// again. The sequence is not checked, because a rollback to an older kit
// is the operator's explicit choice.
//
// It verifies the signature manifests in the store whose subject is the
// bundle index, which an import stores with the kit and gc keeps with it,
// against opts.Keys. lastSigner is the key source that the history
// recorded for the kit, or empty, and a rejection names it.
// InsecureSkipSignature and AllowExpired override the checks with a
// warning in the result. CheckStored changes nothing in the store.
func CheckStored(ctx context.Context, opts Options, bundle digest.Digest, lastSigner string) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSession(opts)
	bm, err := s.readStoredBundle(ctx, bundle)
	if err != nil {
		return nil, err
	}
	s.setKit(bm)
	if err := s.checkStoredSignature(ctx, bm, lastSigner); err != nil {
		return nil, err
	}
	warning, err := CheckExpiry(bm.meta, s.opts.Now(), s.opts.AllowExpired, "activate", "activating")
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
func (s *session) checkStoredSignature(ctx context.Context, bm *bundleMeta, lastSigner string) error {
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
	failure := check.Failure(s.opts.Keys, s.keysDir())
	if s.opts.InsecureSkipSignature {
		s.warn("activating kit " + bm.meta.Version + " without a valid signature (--insecure-skip-signature): " + failure)
		return nil
	}

	if len(candidates) == 0 {
		return fmt.Errorf("kit %s (%s): the store contains no signature of it, as for a kit imported with "+
			"--insecure-skip-signature, so no trusted key vouches for it; pass --insecure-skip-signature to "+
			"activate it anyway: %w", bm.meta.Version, bm.desc.Digest, errdef.ErrSignature)
	}

	// A key that came from the keys folder was removed from there, which
	// revokes it. Any other key came with --key and is missing now.
	fromKeysDir := s.opts.KeysDir != "" && filepath.Dir(lastSigner) == filepath.Clean(s.opts.KeysDir)
	if len(s.opts.Keys) == 0 && lastSigner != "" && !fromKeysDir {
		return fmt.Errorf("kit %s (%s) was last activated with the key %s, and no key is trusted now: pass that "+
			"key with --key, as the import did, or put it into %s, so that every command trusts it; "+
			"--insecure-skip-signature activates the kit without a check: %w",
			bm.meta.Version, bm.desc.Digest, lastSigner, s.keysDir(), errdef.ErrSignature)
	}

	key := "its signing key"
	if lastSigner != "" {
		key = "the key it was last activated with, " + lastSigner + ","
	}
	return fmt.Errorf("kit %s (%s) cannot be activated again, because %s is no longer trusted: %s. "+
		"If that key was removed to revoke it, keep this kit inactive and import a newer kit. Otherwise put "+
		"the public key back into %s or pass it with --key, or pass --insecure-skip-signature to activate the "+
		"kit anyway: %w", bm.meta.Version, bm.desc.Digest, key, failure, s.keysDir(), errdef.ErrSignature)
}

// keysDir returns the folder of trusted keys that messages name.
func (s *session) keysDir() string {
	if s.opts.KeysDir == "" {
		return "$STELLA_HOME/keys"
	}
	return s.opts.KeysDir
}
