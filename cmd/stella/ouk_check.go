package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/sign"
)

// checkOptions are the flags of `stella ouk check`.
type checkOptions struct {
	keys []string
	all  bool
	out  outputFlag
}

// Kinds of problem that `stella ouk check` reports.
const (
	problemDamaged   = "damaged"
	problemMissing   = "missing"
	problemIndex     = "index"
	problemSignature = "signature"
	problemError     = "error"
)

// checkReport is the result of `stella ouk check`.
type checkReport struct {
	Store string `json:"store"`
	// Status is "passed" when no problem was found, else "failed".
	Status string     `json:"status"`
	Kits   []kitCheck `json:"kits"`
	// OtherBlobs counts the blobs of no kit that --all read.
	OtherBlobs *blobCount `json:"otherBlobs,omitempty"`
	// NotReached groups by reason the blobs that --all read and that no
	// kit check reached, although a kit references them or may.
	NotReached []notReachedBlobs `json:"notReached,omitempty"`
	// TableKeys is the number of keys that Pebble's consistency check of
	// every table read, with --all.
	TableKeys int64          `json:"tableKeys,omitempty"`
	Problems  []checkProblem `json:"problems"`
}

// kitCheck is the outcome of the checks of one kit.
type kitCheck struct {
	Digest   string `json:"digest"`
	Version  string `json:"version"`
	Sequence int64  `json:"sequence"`
	Active   bool   `json:"active"`
	// Blobs and Bytes count the blobs of the kit's graph that were read
	// and their size. A blob that an earlier kit of the same check shares
	// is counted but not read again.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// DBLayers and IndexKeys count the DB layers whose lookup index was
	// read and the keys read.
	DBLayers  int   `json:"dbLayers"`
	IndexKeys int64 `json:"indexKeys"`
	// Signature is "passed", "failed" or "skipped".
	Signature string `json:"signature"`
	SignedBy  string `json:"signedBy,omitempty"`
	// Skipped is the reason a kit of the history was not checked, such as
	// one that gc removed in part.
	Skipped string `json:"skipped,omitempty"`
	// Unreached lists the blobs below each damaged or missing manifest or
	// index of the kit, which the check could not reach and did not read.
	Unreached []unreachedBlobs `json:"unreached,omitempty"`
}

// notReachedBlobs is a number of blobs that --all read outside the kit
// checks, with the reason no kit check reached them.
type notReachedBlobs struct {
	Reason string `json:"reason"`
	Blobs  int    `json:"blobs"`
	Bytes  int64  `json:"bytes"`
}

// blobCount is a number of blobs and their size.
type blobCount struct {
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

// checkProblem is one problem that `stella ouk check` found.
type checkProblem struct {
	// Kind is damaged, missing, index, signature or error.
	Kind string `json:"kind"`
	// Kit is the bundle digest of the kit whose check found the problem.
	// It is empty for a blob of no kit and for the table check. A damaged
	// blob that several checked kits contain is one problem of each kit,
	// with the same digest and error, although the check read it once.
	Kit    string `json:"kit,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Role is the blob's place in the kit, such as "layer 1 of image
	// REF (linux/amd64)".
	Role  string `json:"role,omitempty"`
	Error string `json:"error"`
	err   error
}

func newCheckCommand(g *globalOptions) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check [--all] [--key PUB]... [KIT...]",
		Short: "Read every blob and lookup key of the active kit to find damage in the store",
		Long: `Read the blobs of the active kit, or of each KIT named by its bundle digest
(a unique prefix is enough) or version from 'stella ouk history', or by
the keyword active, and check
each against its digest. Also read every key of the lookup index of the
kit's DB, so that the store checks the checksum of each block that holds
them. Report each blob of the kit that the store lacks, with its role in
the kit. Check that the signature stored with the kit still verifies with
a trusted key (--key or a *.pub file in the store's keys folder), as a
rollback does.

An import skips the blobs that the store holds without reading them, and
lookups and scans read only part of the store, so damage such as bit rot
can go unnoticed until a mirror or push needs the kit. Run check after a
disk error, or on a timer. On a terminal, a progress bar shows the bytes
read.

--all also checks every kit of the history that the store still holds,
then every other blob, and then runs Pebble's consistency check over every
table of the store, which reads the whole store once more.

check opens the store read-only and writes nothing to it but the record
that names it as the store's holder, so it works on a read-only mount.
Like a lookup, it holds the store while it runs, and other commands wait
for it unless the store service runs it. In the
service, it pins each kit that it reads, so that gc keeps the kit. The
exit code is 0 when no problem was found, 1 for a damaged store or a
missing blob or lookup index, and 3 when only a signature no longer
verifies.`,
		Example: `  stella ouk check
  stella ouk check --all -o json
  stella ouk check --key cosign.pub sha256:3f2a`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.out.validate(); err != nil {
				return err
			}
			if o.all && len(args) > 0 {
				return usagef("--all checks every kit of the history; give either --all or KIT arguments")
			}
			return runCheck(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file, besides the store's keys folder (repeatable)")
	f.BoolVar(&o.all, "all", false, "check every kit of the history, every other blob and every table of the store")
	o.out.register(cmd)
	return cmd
}

// storeChecker runs the checks of one `stella ouk check`.
type storeChecker struct {
	g        *globalOptions
	store    *cas.Store
	dir      string
	log      *slog.Logger
	keys     []sign.TrustedKey
	history  []cas.KitRecord
	progress *checkProgress
	// read maps each blob that the check read or tried to read to the
	// outcome, so a blob that kits share is read once, and its damage is
	// still a problem of each kit that contains it.
	read   map[digest.Digest]error
	report checkReport
	// unreached maps each blob below a damaged or missing manifest of a
	// checked kit to the reason that the kit's check did not reach it.
	unreached map[digest.Digest]string

	// pinned contains the kits pinned so far, and pins the functions
	// that release the pins. A store open read-only holds no pins.
	pinned map[digest.Digest]bool
	pinMu  sync.Mutex
	pins   []func()
}

func runCheck(cmd *cobra.Command, g *globalOptions, o *checkOptions, args []string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	var lines *terminalLines
	if !g.quiet && isTerminal(stderr) {
		lines = &terminalLines{w: stderr}
		stderr = lines
	}
	log := g.logger(stderr)
	store, dir, err := g.openStoreForCheck(ctx, log)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := trustedKeys(log, dir, o.keys)
	if err != nil {
		return err
	}
	c := &storeChecker{g: g, store: store, dir: dir, log: log, keys: keys, progress: newCheckProgress(lines),
		read: map[digest.Digest]error{}, pinned: map[digest.Digest]bool{}, unreached: map[digest.Digest]string{},
		report: checkReport{Store: dir, Kits: []kitCheck{}, Problems: []checkProblem{}}}
	defer c.progress.close()

	guard := inertPinGuard()
	if g.svc == nil {
		guard = guardPin(ctx, c.unpinAll)
	}
	defer func() {
		c.unpinAll()
		guard.stop()
	}()

	if err := c.run(ctx, o, args); err != nil {
		return err
	}
	c.progress.close()
	if c.report.Status = "passed"; len(c.report.Problems) > 0 {
		c.report.Status = "failed"
	}
	if o.out.json() {
		if err := writeJSON(cmd.OutOrStdout(), c.report); err != nil {
			return err
		}
	} else {
		printCheckReport(cmd.OutOrStdout(), c.report)
	}
	return checkFailure(c.report.Problems)
}

// openStoreForCheck opens the store read-only. A store open for writing
// may start a compaction at open, and one that meets a damaged table makes
// the open wait for minutes, while a check must report the damage. The
// exclusive lock of the read-only open keeps gc and imports of other
// processes out until the check ends, so the check needs no pins there.
// In the store service, the store stays open for writing and the check
// pins each kit that it reads.
func (g *globalOptions) openStoreForCheck(ctx context.Context, log *slog.Logger) (*cas.Store, string, error) {
	if err := g.checkStorePresent(); err != nil {
		return nil, "", err
	}
	return g.openStoreWith(ctx, cas.Options{Logger: log, LockWait: g.lockWait, ReadOnly: true,
		ReadOnlyIfUnwritable: true, MustExist: true})
}

// run checks the kits that args and o select, and with --all the rest of
// the store.
func (c *storeChecker) run(ctx context.Context, o *checkOptions, args []string) error {
	var err error
	if c.history, err = c.store.History(ctx); err != nil {
		return err
	}
	active, err := c.store.Active(ctx)
	hasActive := err == nil
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("reading the active kit: %w", err)
	}

	switch {
	case len(args) > 0:
		targets, err := c.namedKits(args, active, hasActive)
		if err != nil {
			return err
		}
		for _, rec := range targets {
			c.checkKit(ctx, rec, hasActive && rec.Digest == active.Digest, true)
		}
	case !hasActive && !o.all:
		return noActiveKitError{}
	default:
		checked := map[digest.Digest]bool{}
		if hasActive {
			rec, unpin, err := pinActiveKit(ctx, c.g, c.store)
			if err != nil {
				return err
			}
			c.addPin(unpin)
			c.pinned[rec.Digest] = true
			checked[rec.Digest] = true
			c.checkKit(ctx, rec, true, true)
		}
		if o.all {
			for _, rec := range c.history {
				if checked[rec.Digest] {
					continue
				}
				checked[rec.Digest] = true
				c.checkKit(ctx, rec, false, false)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.all {
		return c.checkRest(ctx)
	}
	return nil
}

// namedKits returns the history record of each KIT argument: "active",
// a bundle digest, a unique prefix of one, or a version.
func (c *storeChecker) namedKits(args []string, active cas.KitRecord, hasActive bool) ([]cas.KitRecord, error) {
	var out []cas.KitRecord
	for _, arg := range args {
		if strings.TrimSpace(arg) == "active" {
			// The keyword names the active kit, as in export, delta,
			// push and mirror.
			if !hasActive {
				return nil, noActiveKitError{}
			}
			out = append(out, active)
			continue
		}
		matches := kitsNamed(c.history, arg)
		switch len(matches) {
		case 0:
			return nil, fmt.Errorf("no kit in the history matches %q; run `stella ouk history` to list the kits: %w",
				arg, errdef.ErrNotFound)
		case 1:
			out = append(out, matches[0])
		default:
			return nil, ambiguousKitError(arg, matches)
		}
	}
	return out, nil
}

// checkKit runs every check of the kit rec and adds its outcome to the
// report. A kit that a KIT argument named, or the active kit, is required:
// a blob it lacks is a problem. Any other kit of the history that lacks a
// blob is skipped, because gc removes the kits beyond its --keep count.
func (c *storeChecker) checkKit(ctx context.Context, rec cas.KitRecord, active, required bool) {
	kc := kitCheck{Digest: rec.Digest.String(), Version: rec.Version, Sequence: rec.Sequence, Active: active,
		Signature: "skipped"}
	if !c.pinned[rec.Digest] && !c.store.ReadOnly() {
		unpin, err := c.store.PinProcess(ctx, rec.Digest, c.g.pinHolder())
		if err != nil {
			c.addProblem(checkProblem{Kind: problemError, Kit: kc.Digest,
				Error: fmt.Sprintf("pinning kit %s: %v", printable(rec.Version), err), err: err})
			c.report.Kits = append(c.report.Kits, kc)
			return
		}
		c.addPin(unpin)
		c.pinned[rec.Digest] = true
	}
	if !required {
		complete, err := c.store.KitComplete(ctx, rec.Digest)
		if err == nil && !complete {
			kc.Skipped = "the store no longer holds all of its blobs: gc removes the kits beyond its --keep count"
			c.report.Kits = append(c.report.Kits, kc)
			return
		}
	}
	c.log.Info("checking kit", "version", rec.Version, "digest", rec.Digest)
	graph := c.walkKit(ctx, &kc)
	if graph.db != nil {
		c.checkIndex(ctx, &kc, graph)
	}
	c.checkSignature(ctx, &kc, rec, graph)
	c.report.Kits = append(c.report.Kits, kc)
}

// checkSignature checks the signature that the store holds for the kit,
// as a rollback does. When the walk of the kit's graph found a blob
// missing or damaged, a check that fails for the same reason adds no
// second problem.
func (c *storeChecker) checkSignature(ctx context.Context, kc *kitCheck, rec cas.KitRecord, graph checkedGraph) {
	signer := lastSigner(ctx, c.store, rec.Digest)
	checked, err := importer.CheckStored(ctx, importer.Options{
		Store:        c.store,
		Keys:         c.keys,
		KeysDir:      filepath.Join(c.dir, storeKeysDir),
		AllowExpired: true,
		Logger:       c.log,
	}, rec.Digest, signer, checkAction)
	if err == nil {
		kc.Signature = "passed"
		kc.SignedBy = checked.SignedBy
		return
	}
	if errors.Is(err, errdef.ErrSignature) && c.activatedUnsigned(rec.Digest) {
		// The operator chose to run this kit without a valid signature,
		// and the history records that choice.
		kc.Signature = "skipped"
		return
	}
	kc.Signature = "failed"
	if !graph.complete && !errors.Is(err, errdef.ErrSignature) {
		kc.Signature = "skipped"
		return
	}
	if errors.Is(err, errdef.ErrSignature) && len(c.keys) == 0 && graph.signatures > 0 {
		// The message of CheckStored advises flags of rollback and
		// mirror, which check does not have.
		err = c.noTrustedKeyFailure(kc, signer)
	}
	c.addProblem(checkProblem{Kind: classifyProblem(err, problemSignature), Kit: kc.Digest, Error: err.Error(),
		err: err})
}

// noTrustedKeyFailure returns the failure of the signature check of the kit
// kc when neither --key nor the store's keys folder gave a trusted key.
// signer is the key that last verified the kit, or "".
func (c *storeChecker) noTrustedKeyFailure(kc *kitCheck, signer string) error {
	keysDir := filepath.Join(c.dir, storeKeysDir)
	msg := fmt.Sprintf("kit %s (%s): the check could not verify its signature, because no trusted key was "+
		"given with --key or found in the store's keys folder %s. ", printable(kc.Version), kc.Digest, keysDir)
	switch {
	case signer == "":
		msg += fmt.Sprintf("Pass the public key of the kit's builder with --key, or put it into %s so that "+
			"every command trusts it", keysDir)
	case filepath.Dir(signer) == keysDir:
		msg += fmt.Sprintf("The kit was last activated with the key %s, which is no longer there. If that key "+
			"was removed to revoke it, the kit is no longer trusted. Otherwise put the key back, or pass it "+
			"with --key", printable(signer))
	default:
		msg += fmt.Sprintf("The kit was last activated with the key %s: pass that key with --key, or put it "+
			"into %s so that every command trusts it", printable(signer), keysDir)
	}
	return &noTrustedKeyError{msg: msg}
}

// noTrustedKeyError is a signature check that had no trusted key to verify
// with. It counts as a failed signature check for the exit code, but its
// message does not claim that a verification failed.
type noTrustedKeyError struct {
	msg string
}

func (e *noTrustedKeyError) Error() string { return e.msg }

// Is makes the error match errdef.ErrSignature.
func (e *noTrustedKeyError) Is(target error) bool { return target == errdef.ErrSignature }

// checkAction names, in the signature messages of importer.CheckStored,
// what a kit whose stored signature fails cannot be used for.
var checkAction = importer.Action{Verb: "roll back to or mirror", Gerund: "rolling back to or mirroring"}

// activatedUnsigned reports whether the history records that the kit d was
// activated with --insecure-skip-signature.
func (c *storeChecker) activatedUnsigned(d digest.Digest) bool {
	for _, h := range c.history {
		if h.Digest == d && h.SignedBy == "" && strings.Contains(h.Note, "--insecure-skip-signature") {
			return true
		}
	}
	return false
}

// checkRest reads every stored blob that no checked kit reached, then runs
// Pebble's consistency check over every table.
func (c *storeChecker) checkRest(ctx context.Context) error {
	var rest []cas.BlobInfo
	err := c.store.Blobs(ctx, func(info cas.BlobInfo) error {
		if _, done := c.read[info.Digest]; !done {
			rest = append(rest, info)
		}
		return nil
	})
	if err != nil {
		c.addProblem(checkProblem{Kind: classifyProblem(err, problemError), Error: err.Error(), err: err})
		return nil
	}

	refs, refsErr := c.historyReferences(ctx)
	other := &blobCount{}
	notReached := map[string]*notReachedBlobs{}
	var reasons []string
	for _, info := range rest {
		if err := ctx.Err(); err != nil {
			return err
		}
		desc := ocispec.Descriptor{Digest: info.Digest, Size: info.Size}
		err := c.readBlob(ctx, desc)
		if errors.Is(err, errdef.ErrNotFound) && !errors.Is(err, errdef.ErrStoreDamaged) {
			// No pin keeps a blob of no kit, so gc may have removed it.
			continue
		}

		reason := c.notReachedReason(info.Digest, refs, refsErr)
		role := "a blob of no kit that this check read"
		if reason == "" {
			other.Blobs++
			other.Bytes += info.Size
		} else {
			group := notReached[reason]
			if group == nil {
				group = &notReachedBlobs{Reason: reason}
				notReached[reason] = group
				reasons = append(reasons, reason)
			}
			group.Blobs++
			group.Bytes += info.Size
			role = reason
		}
		if err != nil {
			c.addProblem(checkProblem{Kind: classifyProblem(err, problemError), Digest: info.Digest.String(),
				Role: role, Error: err.Error(), err: err})
		}
	}
	c.report.OtherBlobs = other
	for _, reason := range reasons {
		c.report.NotReached = append(c.report.NotReached, *notReached[reason])
	}

	c.progress.describe("checking every table")
	keys, err := c.store.CheckTables()
	c.report.TableKeys = keys
	if err != nil {
		c.addProblem(checkProblem{Kind: classifyProblem(err, problemError), Error: err.Error(), err: err})
	}
	return nil
}

// historyReferences returns each blob that a kit of the history reaches
// through the store's records of the graph, the referrers of each blob
// included as gc keeps them, mapped to that kit's version. The error
// reports a record that could not be read, below which blobs of a kit may
// hide.
func (c *storeChecker) historyReferences(ctx context.Context) (map[digest.Digest]string, error) {
	refs := map[digest.Digest]string{}
	var firstErr error
	for _, rec := range c.history {
		queue := []digest.Digest{rec.Digest}
		for len(queue) > 0 && ctx.Err() == nil {
			d := queue[0]
			queue = queue[1:]
			if _, done := refs[d]; done {
				continue
			}
			refs[d] = rec.Version
			children, err := c.store.Children(ctx, d)
			if errors.Is(err, errdef.ErrNotFound) {
				continue
			}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("reading the store's record of the blobs below %s of kit %s: %w", d,
					printable(rec.Version), err)
			}
			queue = append(queue, children...)
			referrers, err := c.store.Referrers(ctx, ocispec.Descriptor{Digest: d})
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("listing the referrers of %s of kit %s: %w", d, printable(rec.Version), err)
			}
			for _, r := range referrers {
				queue = append(queue, r.Digest)
			}
		}
	}
	return refs, firstErr
}

// notReachedReason returns why the blob d, which no kit check read, may
// belong to a kit, or "" for a blob of no kit. refs and refsErr are the
// result of historyReferences.
func (c *storeChecker) notReachedReason(d digest.Digest, refs map[digest.Digest]string, refsErr error) string {
	if reason, ok := c.unreached[d]; ok {
		return reason
	}
	// Each reason fits one blob and a group of blobs alike, because the
	// report uses it as a group's reason and as the role of a problem.
	if version, ok := refs[d]; ok {
		return fmt.Sprintf("not reached from a kit: referenced by kit %s of the history, but read by no kit "+
			"check", printable(version))
	}
	if refsErr != nil {
		return fmt.Sprintf("not reached from a kit: possibly part of a kit, because %v", refsErr)
	}
	return ""
}

func (c *storeChecker) addPin(unpin func()) {
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	c.pins = append(c.pins, unpin)
}

// unpinAll releases every pin. Calling it again is harmless.
func (c *storeChecker) unpinAll() {
	c.pinMu.Lock()
	pins := c.pins
	c.pins = nil
	c.pinMu.Unlock()
	for _, unpin := range pins {
		unpin()
	}
}

// addProblem records p in the report and logs it at info level.
func (c *storeChecker) addProblem(p checkProblem) {
	c.log.Info("problem found", "kind", p.Kind, "kit", p.Kit, "digest", p.Digest, "role", p.Role, "error", p.Error)
	c.report.Problems = append(c.report.Problems, p)
}

// classifyProblem returns the kind of problem of err, or fallback when err
// is no damage, missing blob or signature failure.
func classifyProblem(err error, fallback string) string {
	switch {
	case errors.Is(err, errdef.ErrStoreDamaged):
		return problemDamaged
	case errors.Is(err, errdef.ErrSignature):
		return problemSignature
	}
	return fallback
}

// checkFailure returns the error that ends a check that found problems,
// or nil. A damaged store comes first, then a missing blob or lookup
// index, then a signature, so the exit code and the advice that main
// prints fit the worst problem.
func checkFailure(problems []checkProblem) error {
	if len(problems) == 0 {
		return nil
	}
	for _, kind := range []string{problemDamaged, problemMissing, problemIndex, problemError, problemSignature} {
		for _, p := range problems {
			if p.Kind != kind {
				continue
			}
			prefix := "the check found a problem"
			if len(problems) > 1 {
				prefix = fmt.Sprintf("the check found %d problems, the worst first", len(problems))
			}
			return fmt.Errorf("%s: %w", prefix, problemMessage(p))
		}
	}
	return nil
}

// problemMessage returns the error of p with the blob and its role, as
// an error that wraps p's error.
func problemMessage(p checkProblem) error {
	switch {
	case p.Digest != "" && p.Role != "":
		return fmt.Errorf("blob %s (%s): %w", p.Digest, p.Role, p.err)
	case p.Digest != "":
		return fmt.Errorf("blob %s: %w", p.Digest, p.err)
	}
	return p.err
}

// printCheckReport writes the text form of rep.
func printCheckReport(w io.Writer, rep checkReport) {
	fmt.Fprintf(w, "Store %s\n", rep.Store)
	for _, k := range rep.Kits {
		name := fmt.Sprintf("kit %s (%s)", printable(k.Version), k.Digest)
		if k.Active {
			name += ", active"
		}
		if k.Skipped != "" {
			fmt.Fprintf(w, "Skipped %s: %s\n", name, k.Skipped)
			continue
		}
		fmt.Fprintf(w, "Checked %s\n", name)
		fmt.Fprintf(w, "  blobs         %d (%s)\n", k.Blobs, humanBytes(k.Bytes))
		fmt.Fprintf(w, "  lookup index  %d %s in %d DB %s\n", k.IndexKeys, plural(int(k.IndexKeys), "key", "keys"),
			k.DBLayers, plural(k.DBLayers, "layer", "layers"))
		switch {
		case k.SignedBy != "":
			fmt.Fprintf(w, "  signature     %s, by %s\n", k.Signature, printable(k.SignedBy))
		default:
			fmt.Fprintf(w, "  signature     %s\n", k.Signature)
		}
		for _, u := range k.Unreached {
			line := fmt.Sprintf("  not checked   %d %s (%s) below the damaged or missing %s %s, which the "+
				"check could not reach", u.Blobs, plural(u.Blobs, "blob", "blobs"), humanBytes(u.Bytes),
				printable(u.Role), u.Manifest)
			if u.Error != "" {
				line += "; there may be more, because " + printable(u.Error)
			}
			fmt.Fprintln(w, line)
		}
	}
	if rep.OtherBlobs != nil {
		fmt.Fprintf(w, "Checked %d %s of no kit (%s)\n", rep.OtherBlobs.Blobs,
			plural(rep.OtherBlobs.Blobs, "blob", "blobs"), humanBytes(rep.OtherBlobs.Bytes))
	}
	for _, n := range rep.NotReached {
		fmt.Fprintf(w, "Checked %d %s (%s) %s\n", n.Blobs, plural(n.Blobs, "blob", "blobs"), humanBytes(n.Bytes),
			printable(n.Reason))
	}
	if rep.TableKeys > 0 {
		fmt.Fprintf(w, "Checked every table of the store: %d %s\n", rep.TableKeys,
			plural(int(rep.TableKeys), "key", "keys"))
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "No problems found")
		return
	}
	fmt.Fprintf(w, "Problems found: %d\n", len(rep.Problems))
	for _, p := range rep.Problems {
		line := "  " + p.Kind + ": "
		if p.Digest != "" {
			line += "blob " + p.Digest + " "
			role := p.Role
			if p.Kit != "" && len(rep.Kits) > 1 {
				// A damaged blob that kits share is one problem of each.
				role = strings.TrimPrefix(role+" of kit "+printable(kitVersion(rep, p.Kit)), " ")
			}
			if role != "" {
				line += "(" + role + ") "
			}
		}
		fmt.Fprintln(w, line+printable(p.Error))
	}
}

// kitVersion returns the version of the checked kit with the bundle
// digest d, or d when rep has no such kit.
func kitVersion(rep checkReport, d string) string {
	for _, k := range rep.Kits {
		if k.Digest == d {
			return k.Version
		}
	}
	return d
}
