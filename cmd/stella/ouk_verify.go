package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// verifyReport is the result of `stella ouk verify`.
type verifyReport struct {
	Kit     string `json:"kit"`
	Digest  string `json:"digest,omitempty"`
	Version string `json:"version,omitempty"`
	// Contents is the check of every blob's digest and size, apart from
	// the signatures.
	Contents check `json:"contents"`
	Detached check `json:"detached"`
	Embedded check `json:"embedded"`
	// DeltaManifest is the check of a delta's own signature, on the
	// manifest that names its base; import needs it too. Full kits have
	// none.
	DeltaManifest *check `json:"deltaManifest,omitempty"`
	// Warnings lists problems that do not fail the verification, such as
	// a creation time ahead of the host's clock.
	Warnings []string `json:"warnings,omitempty"`
	// Notes lists facts about a passed check that the operator may not
	// expect, such as a key from the store's keys folder that verified the
	// kit but was not given with --key.
	Notes []string `json:"notes,omitempty"`
}

type check struct {
	// Status is "passed", "failed" or "skipped".
	Status string `json:"status"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason,omitempty"`
	// order is set when the contents are intact but their order keeps
	// import from reading the file.
	order bool
	// cause is the sentinel error of failed contents, such as
	// errdef.ErrInvalidKit for a missing blob, where nil counts as
	// errdef.ErrDigestMismatch, or the error of a failed detached
	// signature.
	cause error
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	var keys []string
	var sigPath string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "verify --key PUB [--signature SIG] KIT",
		Short: "Check a kit's detached signature and the signature inside it",
		Long: `Check the detached signature (when --signature is given) and the signature
referrer inside the kit against the trusted keys: those given with --key and
the *.pub files in the store's keys folder. Every blob's digest and size
are checked first, so a damaged copy is reported as damaged rather than as
a bad signature.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if err := checkLocalKitArg("verify", args[0]); err != nil {
				return err
			}
			if err := checkKitPath(args[0]); err != nil {
				return err
			}
			if err := layout.CheckKitType(args[0]); err != nil {
				return err
			}
			dir, err := g.storeDir()
			if err != nil {
				return err
			}
			trusted, err := trustedKeys(g.logger(cmd.ErrOrStderr()), dir, keys)
			if err != nil {
				return err
			}
			if len(trusted) == 0 {
				return usagef("no trusted key; pass --key cosign.pub or put it in %s/keys", dir)
			}
			if sigPath != "" {
				info, err := os.Stat(sigPath)
				if err != nil {
					return fmt.Errorf("reading the detached signature: %w; give %s", err, sigFileWant)
				}
				if info.IsDir() {
					return fmt.Errorf("reading the detached signature: %s is a folder; give %s", sigPath, sigFileWant)
				}
				if err := regfile.Check(sigPath, sigFileWant); err != nil {
					return err
				}
			}
			rep := verifyReport{Kit: args[0]}
			rep.Detached = verifyDetached(trusted, args[0], sigPath)
			kit, openErr := build.OpenKit(cmd.Context(), args[0])
			if openErr != nil {
				rep.Contents = check{Status: "failed", Reason: openErr.Error()}
				rep.Embedded = check{Status: "skipped", Reason: "the kit could not be read"}
			} else {
				rep.Contents = verifyContents(cmd.Context(), kit, args[0])
				rep.Embedded = verifyEmbedded(cmd.Context(), trusted, kit, &rep)
				rep.DeltaManifest = verifyDeltaManifest(cmd.Context(), trusted, kit)
				// A bundle index that cannot be read fails the checks above,
				// which report why, so only a readable one is checked here.
				if bundle, err := kit.BundleIndex(cmd.Context()); err == nil {
					imageWarnings := warnImageRefs(g.logger(cmd.ErrOrStderr()), bundle.Manifests)
					if out.json() {
						rep.Warnings = append(rep.Warnings, imageWarnings...)
					}
				}
				if warning := importer.CheckCreated(kit.Meta, time.Now()); warning != "" {
					rep.Warnings = append(rep.Warnings, warning)
				}
			}
			rep.Notes = storeKeyNotes(rep, keys, dir)
			if !g.quiet {
				for _, note := range rep.Notes {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", note)
				}
			}
			if out.json() {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				if rep.Version != "" {
					fmt.Fprintf(w, "Kit %s (%s)\n", rep.Version, rep.Digest)
				}
				printCheck(w, "Contents", rep.Contents)
				printCheck(w, "Detached signature", rep.Detached)
				printCheck(w, "Signature in kit", rep.Embedded)
				if rep.DeltaManifest != nil {
					printCheck(w, "Signature of the delta manifest", *rep.DeltaManifest)
				}
				for _, warning := range rep.Warnings {
					fmt.Fprintf(w, "Warning: %s\n", warning)
				}
			}
			if openErr != nil {
				if errors.Is(openErr, fs.ErrPermission) {
					return kitReadError(args[0], openErr)
				}
				if errors.As(openErr, new(*layout.SignatureFileError)) {
					// The error starts with the hint that this is a
					// signature or key file, which is likely right.
					return openErr
				}
				if errors.As(openErr, new(*layout.MissingFileError)) {
					// The error names the missing file and the next step.
					return openErr
				}
				// Most reasons name the kit already, so the message names
				// it only when the reason does not.
				subject := "kit " + args[0]
				if strings.Contains(openErr.Error(), args[0]) {
					subject = "the kit"
				}
				if errors.Is(openErr, io.ErrUnexpectedEOF) || layout.HasDamagedIndexAdvice(openErr.Error()) {
					// The reason of a truncated kit or a damaged index.json
					// already gives the next step.
					return fmt.Errorf("%s is damaged or not a kit: %w", subject, openErr)
				}
				return fmt.Errorf("%s is damaged or not a kit; copy the file again, or get a new copy from the connected side: %w", subject, openErr)
			}
			if rep.Contents.order {
				return fmt.Errorf("kit %s cannot be imported as a file: %s: %w", args[0], rep.Contents.Reason, errdef.ErrInvalidKit)
			}
			if rep.Contents.Status == "failed" {
				cause := rep.Contents.cause
				if cause == nil {
					cause = errdef.ErrDigestMismatch
				}
				return fmt.Errorf("kit %s is damaged: %s; copy it again, or get a new copy from the connected side: %w",
					args[0], rep.Contents.Reason, cause)
			}
			deltaFailed := rep.DeltaManifest != nil && rep.DeltaManifest.Status == "failed"
			var malformed *sign.MalformedSignatureError
			if rep.Detached.Status == "failed" && errors.As(rep.Detached.cause, &malformed) {
				return fmt.Errorf("kit %s did not verify: %s is not a detached signature, because %s; give %s for this kit: %w",
					args[0], sigPath, malformed.Problem, sigFileWant, errdef.ErrSignature)
			}
			if rep.Detached.Status == "failed" {
				advice := fmt.Sprintf("check that %s is the detached signature of this kit file", sigPath)
				switch {
				case rep.Embedded.Status == "passed" && !deltaFailed:
					advice += ", or leave out --signature, because the signature inside the kit verified"
				case rep.Embedded.Status == "failed":
					// Both signatures failing points at the key rather
					// than at the signature file.
					advice = "the signature inside the kit did not verify with the trusted keys either, so the " +
						"likely cause is the key: give the public key of the kit's builder with --key, or " +
						"check that " + sigPath + " is the detached signature of this kit file"
				}
				return fmt.Errorf("kit %s did not verify: %w; %s", args[0], errdef.ErrSignature, advice)
			}
			if damage := new(layout.UnknownEntryError); errors.As(rep.Embedded.cause, &damage) {
				return fmt.Errorf("kit %s is damaged: %w", args[0], damage)
			}
			if rep.Embedded.Status == "failed" || deltaFailed {
				return fmt.Errorf("kit %s did not verify: %w", args[0], errdef.ErrSignature)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted public key file (repeatable)")
	cmd.Flags().StringVar(&sigPath, "signature", "", "detached signature file written by stella ouk sign or cosign sign-blob")
	out.register(cmd)
	return cmd
}

// storeKeyNotes returns a note for each key that passed a check of rep but
// was not given with --key: a *.pub file of the store's keys folder, which
// verify trusts too. It returns none when no --key was given.
func storeKeyNotes(rep verifyReport, keyFiles []string, storeDir string) []string {
	if len(keyFiles) == 0 {
		return nil
	}
	givenKeys := map[string]bool{}
	for _, f := range keyFiles {
		givenKeys[f] = true
		if abs, err := filepath.Abs(f); err == nil {
			givenKeys[abs] = true
		}
	}
	checks := []check{rep.Detached, rep.Embedded}
	if rep.DeltaManifest != nil {
		checks = append(checks, *rep.DeltaManifest)
	}
	var notes []string
	noted := map[string]bool{}
	for _, c := range checks {
		if c.Status != "passed" || c.Key == "" || givenKeys[c.Key] || noted[c.Key] {
			continue
		}
		noted[c.Key] = true
		notes = append(notes, fmt.Sprintf("the kit verified with %s, a key from the store's keys folder %s that was not given "+
			"with --key. verify trusts the store's keys too, so to check the kit against the --key keys alone, "+
			"run verify with --store set to a folder that has no keys folder",
			c.Key, filepath.Join(storeDir, storeKeysDir)))
	}
	return notes
}

// sigFileWant describes the file that --signature names, for errors.
const sigFileWant = "the .sig file that stella ouk sign or cosign sign-blob wrote"

func verifyDetached(keys []sign.TrustedKey, kit, sigPath string) check {
	if sigPath == "" {
		return check{Status: "skipped", Reason: "no --signature given"}
	}
	sig, err := regfile.ReadFile(sigPath, sigFileWant)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	f, err := layout.OpenRegular(kit)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	defer f.Close()
	key, err := sign.VerifyBlob(keys, f, sig)
	if err != nil {
		return check{Status: "failed", Reason: err.Error(), cause: err}
	}
	return check{Status: "passed", Key: key.Source}
}

func verifyEmbedded(ctx context.Context, keys []sign.TrustedKey, k *build.Kit, rep *verifyReport) check {
	rep.Digest, rep.Version = k.Bundle.Digest.String(), k.Meta.Version
	subject, err := content.FetchAll(ctx, k.Source, k.Bundle)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	var reasons []error
	var manifests []ocispec.Descriptor
	for _, d := range k.Index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageManifest {
			manifests = append(manifests, d)
		}
	}
	// A layout folder that `regctl image copy --referrers` wrote lists the
	// signatures in a referrers tag index instead of index.json. A kit that
	// stella wrote lists them in both places, and manifests keeps each from
	// counting twice.
	fetch := func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
		return content.FetchAll(ctx, k.Source, d)
	}
	tagged, problems := importer.ReferrersTagSignatures(ctx, fetch, k.Index, k.Bundle.Digest, manifests)
	for _, p := range problems {
		reasons = append(reasons, p)
	}
	for _, d := range tagged {
		if d.Size < 0 || d.Size > importer.MaxManifestSize {
			reasons = append(reasons, fmt.Errorf("signature manifest %s declares %d bytes, outside 0 to %d: %w",
				d.Digest, d.Size, importer.MaxManifestSize, errdef.ErrInvalidKit))
			continue
		}
		manifests = append(manifests, d)
	}
	for _, d := range manifests {
		raw, err := content.FetchAll(ctx, k.Source, d)
		if err != nil {
			reasons = append(reasons, err)
			continue
		}
		bundleDesc, subj, err := sign.ParseReferrerManifest(raw)
		if err != nil {
			continue
		}
		if subj.Digest != k.Bundle.Digest {
			// A signature of another kit, as in a mixed-up copy, is named
			// as such, since "no signature" would send the operator to the
			// builder for a signed kit. A signature of another manifest of
			// the kit, such as the delta manifest, is checked on its own.
			listed := slices.ContainsFunc(k.Index.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == subj.Digest })
			if !listed {
				reasons = append(reasons, fmt.Errorf("%s: signature is for %s, not this kit", d.Digest, subj.Digest))
			}
			continue
		}
		bundle, err := content.FetchAll(ctx, k.Source, bundleDesc)
		if err != nil {
			reasons = append(reasons, err)
			continue
		}
		key, err := sign.VerifyManifest(keys, k.Bundle, subject, bundle)
		if err == nil {
			return check{Status: "passed", Key: key.Source}
		}
		reasons = append(reasons, err)
	}
	if len(reasons) == 0 {
		// A damaged media type in the entry of the signature manifest
		// hides the signature, so it is reported as damage, not as an
		// unsigned kit.
		if err := layout.FindUnknownEntry(k.Index, k.IndexAdvice); err != nil {
			return check{Status: "failed", Reason: err.Error(), cause: err}
		}
		return check{Status: "failed", Reason: "the kit carries no signature"}
	}
	return check{Status: "failed", Reason: errors.Join(reasons...).Error()}
}

// verifyDeltaManifest checks the signature of a delta's manifest, as
// import does, and returns nil for a full kit. A kit that carries every
// blob its delta manifest omits is a full kit: import ignores its delta
// manifest, and so does verify.
func verifyDeltaManifest(ctx context.Context, keys []sign.TrustedKey, k *build.Kit) *check {
	info, err := delta.FindDelta(ctx, k.Source, k.Index, k.Bundle.Digest)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	if err != nil {
		return &check{Status: "failed", Reason: err.Error()}
	}
	fetch := func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
		if d.Size < 0 || d.Size > importer.MaxManifestSize {
			return nil, fmt.Errorf("%s declares %d bytes, outside 0 to %d: %w", d.Digest, d.Size, importer.MaxManifestSize, errdef.ErrInvalidKit)
		}
		return content.FetchAll(ctx, k.Source, d)
	}
	key, err := delta.VerifySignature(ctx, fetch, k.Index, k.Bundle.Digest, info, keys)
	if errors.Is(err, delta.ErrNoSignature) {
		return &check{Status: "failed", Reason: "the delta manifest carries no signature; import rejects such a delta. " +
			"Write the delta again with --key, or pass --insecure-skip-signature to import"}
	}
	if err != nil {
		return &check{Status: "failed", Reason: err.Error()}
	}
	return &check{Status: "passed", Key: key.Source}
}

// verifyContents checks the digest and size of every blob the kit's index
// reaches. A kit file was checked entry by entry as OpenKit read it, so
// only a layout folder is read again here.
func verifyContents(ctx context.Context, k *build.Kit, path string) check {
	info, err := os.Stat(path)
	if err != nil {
		return check{Status: "failed", Reason: err.Error()}
	}
	if !info.IsDir() {
		if problem := streamOrderProblem(path); problem != "" {
			return check{Status: "failed", Reason: problem, order: true}
		}
		return check{Status: "passed", Reason: fmt.Sprintf("%d blobs match their digests", len(k.Sizes))}
	}
	// A delta folder lacks the blobs that its delta manifest declares
	// omitted, which its base supplies on import.
	omitted := map[digest.Digest]bool{}
	if info, err := delta.FindDelta(ctx, k.Source, k.Index, k.Bundle.Digest); err == nil {
		for _, o := range info.Config.Omitted {
			omitted[o.Digest] = true
		}
	}
	seen := map[digest.Digest]bool{}
	left := 0
	var walk func(d ocispec.Descriptor) *check
	walk = func(d ocispec.Descriptor) *check {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if omitted[d.Digest] {
			if ok, err := k.Source.Exists(ctx, d); err == nil && !ok {
				left++
				return nil
			}
		}
		if !oci.IsManifest(d.MediaType) {
			// The folder's storage checks size and digest as the blob is
			// read (layout.OpenDir).
			rc, err := k.Source.Fetch(ctx, d)
			if err != nil {
				return contentsFailure("blob", d, err)
			}
			defer rc.Close()
			if _, err := io.Copy(io.Discard, rc); err != nil {
				return contentsFailure("blob", d, err)
			}
			return nil
		}
		raw, err := content.FetchAll(ctx, k.Source, d)
		if err != nil {
			return contentsFailure("manifest", d, err)
		}
		links, err := oci.ParseLinks(d, raw)
		if err != nil && layout.IsReferrersTagEntry(d) {
			// The signature check reports a tag index that does not
			// decode, as a signature that did not verify.
			return nil
		}
		if err != nil {
			return &check{Status: "failed", Reason: err.Error()}
		}
		children := append(links.Manifests, links.Layers...)
		if links.Config != nil {
			children = append(children, *links.Config)
		}
		for _, c := range children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range k.Index.Manifests {
		if failed := walk(d); failed != nil {
			return *failed
		}
	}
	reason := fmt.Sprintf("%d blobs match their digests", len(seen)-left)
	if left > 0 {
		reason += fmt.Sprintf("; %d more are left out, as the delta manifest declares", left)
	}
	return check{Status: "passed", Reason: reason}
}

// contentsFailure returns the failed contents check for the blob or
// manifest d of a layout folder, whose reading returned err. It names a
// missing or damaged blob once, without the text that each wrapping of err
// repeats.
func contentsFailure(kind string, d ocispec.Descriptor, err error) *check {
	reason, cause := fmt.Sprintf("%s %s: %v", kind, d.Digest, err), error(nil)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		reason = fmt.Sprintf("%s %s (%d bytes) is missing from the folder", kind, d.Digest, d.Size)
		cause = errdef.ErrInvalidKit
	case errors.Is(err, content.ErrTrailingData):
		reason = fmt.Sprintf("%s %s is larger than the %d bytes that its descriptor declares", kind, d.Digest, d.Size)
		cause = errdef.ErrSizeMismatch
	case errors.Is(err, io.ErrUnexpectedEOF):
		reason = fmt.Sprintf("%s %s is shorter than the %d bytes that its descriptor declares", kind, d.Digest, d.Size)
		cause = errdef.ErrSizeMismatch
	case errors.Is(err, errdef.ErrDigestMismatch), errors.Is(err, content.ErrMismatchedDigest):
		reason = fmt.Sprintf("%s %s does not match its digest", kind, d.Digest)
	}
	return &check{Status: "failed", Reason: reason, cause: cause}
}

func printCheck(w interface{ Write([]byte) (int, error) }, name string, c check) {
	// The reason and the key can repeat a file name.
	c.Reason, c.Key = escapeControl(c.Reason), escapeControl(c.Key)
	switch c.Status {
	case "passed":
		if c.Key == "" {
			fmt.Fprintf(w, "%s: passed (%s)\n", name, c.Reason)
			return
		}
		fmt.Fprintf(w, "%s: passed (key %s)\n", name, c.Key)
	case "skipped":
		fmt.Fprintf(w, "%s: skipped (%s)\n", name, c.Reason)
	default:
		fmt.Fprintf(w, "%s: FAILED: %s\n", name, c.Reason)
	}
}

// streamOrderProblem returns why import, which reads a kit file as a
// stream, would reject the file for the order or the set of its entries,
// or "". It replays the rules of import into a store without the kit (see
// streamOrder). A store that already contains the kit's manifests lets import
// pass such a file, so the messages refer to a store without the kit.
func streamOrderProblem(path string) string {
	f, err := layout.OpenRegular(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	tr, err := layout.NewTarReader(f, layout.Limits{})
	if err != nil {
		return ""
	}
	defer tr.Close()
	o := &streamOrder{arrived: map[digest.Digest]bool{}, manifests: map[digest.Digest][]byte{},
		inputs: importer.NewSignatureInputs()}
	for {
		e, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return o.strayProblem()
		}
		if err != nil {
			return ""
		}
		switch e.Kind {
		case layout.IndexJSON:
			o.index = &ocispec.Index{}
			if json.NewDecoder(e.Reader).Decode(o.index) != nil {
				return ""
			}
			o.checkReady()
		case layout.Blob:
			if problem := o.admit(e); problem != "" {
				return problem
			}
			var raw []byte
			if e.Size <= importer.MaxManifestSize {
				if raw, err = io.ReadAll(e.Reader); err != nil {
					return ""
				}
			} else {
				tr.SkipBlob()
			}
			o.add(e, raw)
		}
	}
}

// streamOrder replays what import of a kit file into a store without the
// kit admits. Until the signature can be checked (importer.
// SignatureInputs.Ready), it stores no blob over the manifest size limit,
// and at most importer.MaxUnsignedBytes in importer.MaxUnsignedBlobs
// blobs. After that it stores a large blob only when the manifests that
// came before it reach it from index.json, and blobs they do not reach
// count against the same budget. At the end, every blob must be reached.
type streamOrder struct {
	index     *ocispec.Index
	arrived   map[digest.Digest]bool
	manifests map[digest.Digest][]byte // arrived blobs that are JSON objects
	ready     bool
	// inputs keeps what the readiness checks after earlier blobs decoded.
	inputs *importer.SignatureInputs
	// reach caches reachedFrom until the next manifest arrives.
	reach         map[digest.Digest]bool
	unsigned      int64
	unsignedBlobs int
}

// reached returns the blobs that index.json reaches through the arrived
// manifests.
func (o *streamOrder) reached() map[digest.Digest]bool {
	if o.reach == nil {
		o.reach = reachedFrom(*o.index, o.manifests)
	}
	return o.reach
}

// inGraph reports whether import would take the blob d as part of the
// signed kit.
func (o *streamOrder) inGraph(d digest.Digest) bool {
	return o.ready && o.reached()[d]
}

// admit returns why import rejects the blob of entry e at its place, or "".
func (o *streamOrder) admit(e *layout.Entry) string {
	if o.inGraph(e.Digest) {
		return ""
	}
	if e.Size > importer.MaxManifestSize {
		switch {
		case o.index == nil:
			return fmt.Sprintf("blob %s (%d bytes) comes before index.json, so import, which reads a kit file as a "+
				"stream, rejects this file; a kit written by `stella ouk build` lists index.json first. %s",
				e.Digest, e.Size, reorderAdvice)
		case !o.ready:
			return fmt.Sprintf("blob %s (%d bytes) comes before the manifests that index.json lists or their "+
				"signatures, so import of this file into a store without the kit fails before it can check the "+
				"signature; `stella ouk build` writes those first. %s", e.Digest, e.Size, reorderAdvice)
		}
		return fmt.Sprintf("blob %s (%d bytes) is not reached from index.json by the manifests before it: either "+
			"the manifest that lists it comes later or nothing lists it. Import of this file into a store without "+
			"the kit rejects it as a blob outside the signed kit; `stella ouk build` writes every manifest before "+
			"the larger blobs. %s", e.Digest, e.Size, reorderAdvice)
	}
	if o.unsignedBlobs >= importer.MaxUnsignedBlobs || o.unsigned+e.Size > importer.MaxUnsignedBytes {
		return fmt.Sprintf("blob %s comes after %d bytes in %d blobs that import cannot yet place in the signed kit, "+
			"over its limit of %d bytes or %d blobs, so import of this file into a store without the kit rejects "+
			"it; `stella ouk build` writes index.json, the manifests and their signatures before other blobs. %s",
			e.Digest, o.unsigned, o.unsignedBlobs, importer.MaxUnsignedBytes, importer.MaxUnsignedBlobs, reorderAdvice)
	}
	return ""
}

// add records the blob of entry e, whose bytes are raw when it is at most
// the manifest size limit, as import stores it.
func (o *streamOrder) add(e *layout.Entry, raw []byte) {
	if !o.inGraph(e.Digest) {
		o.unsigned += e.Size
		o.unsignedBlobs++
	}
	o.arrived[e.Digest] = true
	// Manifests, indexes and configs are JSON objects. Layers in other
	// forms are not kept.
	if len(raw) > 0 && raw[0] == '{' {
		o.manifests[e.Digest] = raw
		o.reach = nil
	}
	o.checkReady()
}

// checkReady notes when import could check the signature.
func (o *streamOrder) checkReady() {
	if o.ready || o.index == nil {
		return
	}
	has := func(d ocispec.Descriptor) bool { return o.arrived[d.Digest] }
	read := func(d ocispec.Descriptor) ([]byte, error) {
		if b, ok := o.manifests[d.Digest]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	o.ready = o.inputs.Ready(*o.index, has, read)
}

// strayProblem returns why import rejects a complete file for a blob that
// nothing in index.json reaches, or "".
func (o *streamOrder) strayProblem() string {
	if o.index == nil {
		return ""
	}
	reached := o.reached()
	var stray []digest.Digest
	for d := range o.arrived {
		if !reached[d] {
			stray = append(stray, d)
		}
	}
	if len(stray) == 0 {
		return ""
	}
	slices.Sort(stray)
	return fmt.Sprintf("the file carries %d %s that nothing in index.json references, such as %s, which import "+
		"rejects; get the kit again from its builder", len(stray), plural(len(stray), "blob", "blobs"), stray[0])
}

// reachedFrom returns the digests that the entries of index reach through
// the manifests and indexes among manifests, the entries included.
func reachedFrom(index ocispec.Index, manifests map[digest.Digest][]byte) map[digest.Digest]bool {
	reached := map[digest.Digest]bool{}
	queue := slices.Clone(index.Manifests)
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if reached[d.Digest] {
			continue
		}
		reached[d.Digest] = true
		raw, ok := manifests[d.Digest]
		if !ok {
			continue
		}
		var m struct {
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if m.Config != nil {
			queue = append(queue, *m.Config)
		}
		queue = append(queue, m.Layers...)
		queue = append(queue, m.Manifests...)
	}
	return reached
}

// reorderAdvice is the next step for a kit file in an order that import
// rejects.
const reorderAdvice = "Extract the file and import the layout folder, or copy the kit again from its builder"
