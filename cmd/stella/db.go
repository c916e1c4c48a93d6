package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
)

func newDBCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Look up vulnerabilities in the active kit's database",
	}
	cmd.AddCommand(newDBLookupCommand(g), newDBStatusCommand(g))
	return groupCommand(cmd)
}

// activeDB is the vulnerability DB of the active kit, pinned so that gc and
// later activations leave it readable until release is called.
type activeDB struct {
	db      *vulndb.DB
	kit     cas.KitRecord
	release func()
	// guard releases the pin when a signal or a closed stdout ends the
	// process before release is called.
	guard *pinGuard
}

// afterPin, when not nil, runs at the end of openActiveDB while the kit is
// pinned. End-to-end tests set it to pause a lookup or scan there, and the
// stella binary leaves it nil.
var afterPin func(ctx context.Context)

// beforePin, when not nil, runs in openActiveDB after it reads the active
// kit and before it pins the kit. End-to-end tests set it to pause a
// lookup there, and the stella binary leaves it nil.
var beforePin func(ctx context.Context)

// noActiveKitError is the error of a command that reads the active kit's
// DB in a store without an active kit.
type noActiveKitError struct {
	// msg, when set, replaces the message, for a command that names more
	// ways out, such as a kit of the history.
	msg string
}

func (e noActiveKitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return "no kit is active in this store; import one with `stella ouk import KIT`"
}

// Is makes the error an errdef.ErrNotFound, for the reason of a JSON
// failure object, without adding the kind's text to the message.
func (noActiveKitError) Is(target error) bool { return target == errdef.ErrNotFound }

// openActiveDB pins the active kit, unless the store is open read-only,
// and opens its DB. Until release is called, a signal or a closed stdout
// that ends the process releases the pin first (see pinGuard).
func openActiveDB(ctx context.Context, g *globalOptions, store *cas.Store) (*activeDB, error) {
	active, unpin, err := pinActiveKit(ctx, g, store)
	if err != nil {
		return nil, err
	}
	var guard *pinGuard
	if g.svc == nil {
		guard = guardPin(ctx, unpin)
	} else {
		// In the store service a signal stops the service, which
		// cancels the command and releases its pin in order.
		guard = inertPinGuard()
	}
	release := func() {
		// Unpin before the guard stops, so that a signal in between still
		// reaches the guard, which unpins again without harm.
		unpin()
		guard.stop()
	}
	db, err := openKitDB(ctx, store, active)
	if err != nil {
		release()
		return nil, err
	}
	if afterPin != nil {
		afterPin(ctx)
	}
	return &activeDB{db: db, kit: active, release: release, guard: guard}, nil
}

// pinActiveKit reads the active kit and pins it, unless the store is open
// read-only, and returns the function that removes the pin.
func pinActiveKit(ctx context.Context, g *globalOptions, store *cas.Store) (cas.KitRecord, func(), error) {
	for {
		active, err := store.Active(ctx)
		if errors.Is(err, errdef.ErrNotFound) {
			return active, nil, noActiveKitError{}
		}
		if err != nil {
			return active, nil, fmt.Errorf("reading the active kit: %w", err)
		}
		if store.ReadOnly() {
			// A store open read-only cannot record a pin. Its lock keeps
			// every writer of this host, gc and import included, out of the
			// store until it is closed, so the kit stays readable without one.
			return active, func() {}, nil
		}
		if beforePin != nil {
			beforePin(ctx)
		}
		var unpin func()
		if g.svc != nil && g.request != nil {
			// On a volume short of space, the service writes no pin (see
			// service.pinKit).
			unpin, err = g.svc.pinKit(ctx, active.Digest, g.pinHolder(), g.request.id)
		} else {
			unpin, err = store.PinProcess(ctx, active.Digest, g.pinHolder())
		}
		if err != nil {
			return active, nil, fmt.Errorf("pinning kit %s: %w", active.Version, err)
		}
		// In the store service an import and gc may run between reading
		// the active kit and pinning it, and gc may have removed the kit
		// by then. The kit that is still active after the pin is safe,
		// because gc keeps the active kit.
		now, err := store.Active(ctx)
		if err != nil || now.Digest == active.Digest {
			return active, unpin, nil
		}
		unpin()
	}
}

// openKitDB opens the vulnerability DB of a kit in the store.
func openKitDB(ctx context.Context, store *cas.Store, kit cas.KitRecord) (*vulndb.DB, error) {
	idx, _, err := readStoredBundle(ctx, store, kit.Digest)
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, store, idx)
	if err != nil {
		return nil, fmt.Errorf("opening the DB of kit %s: %w", kit.Version, err)
	}
	return db, nil
}

// withActiveDB opens the existing store, pins the active kit, warns on
// stderr when it has expired, runs fn on its DB, and releases the pin and
// the store.
func (g *globalOptions) withActiveDB(cmd *cobra.Command, fn func(*activeDB) error) error {
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	store, _, err := g.openExistingStoreForReading(ctx, log, g.lockWait)
	if err != nil {
		return err
	}
	defer store.Close()

	start := time.Now()
	a, err := openActiveDB(ctx, g, store)
	if err != nil {
		return err
	}
	defer a.release()
	st := a.db.Status()
	log.Info("opened DB", "kit", a.kit.Version, "layers", len(st.Layers), "records", st.Records,
		"duration", time.Since(start).Round(time.Microsecond))
	g.warnIfExpired(cmd.ErrOrStderr(), a.kit, time.Now())

	// When the reader of stdout has gone, as after `| head -1`, the first
	// failed write ends the process as SIGPIPE would, with the pin
	// released.
	stdout := cmd.OutOrStdout()
	cmd.SetOut(&pipeWriter{w: stdout, broken: func() { a.guard.end(syscall.SIGPIPE) }})
	defer cmd.SetOut(stdout)
	if err := ctx.Err(); err != nil {
		// Interrupted while opening the DB: no result, so main prints
		// the failure.
		return err
	}
	return fn(a)
}

// warnIfExpired prints one warning line to w when kit is past its signed
// expiry time at now, unless --quiet is given.
func (g *globalOptions) warnIfExpired(w io.Writer, kit cas.KitRecord, now time.Time) {
	if g.quiet || !kitExpired(kit, now) {
		return
	}
	fmt.Fprintf(w, "warning: the active kit %s expired at %s, so its vulnerability data may be out of date; "+
		"import a newer kit with `stella ouk import KIT`\n",
		printable(kit.Version), kit.Expires.UTC().Format(time.RFC3339))
}

// kitExpired reports whether kit has an expiry time and now is after it.
func kitExpired(kit cas.KitRecord, now time.Time) bool {
	return !kit.Expires.IsZero() && now.After(kit.Expires)
}

// newKitRef describes kit in the JSON of scan and db status.
func newKitRef(kit cas.KitRecord, now time.Time) kitRef {
	return kitRef{Digest: kit.Digest.String(), Version: kit.Version,
		Expires: kit.Expires, Expired: kitExpired(kit, now)}
}

// dbStatusReport is the JSON of `stella db status`: the DB status fields,
// and the kit they belong to.
type dbStatusReport struct {
	vulndb.Status
	Kit kitRef `json:"kit"`
}

func newDBStatusCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the active DB: build time, sources, record counts and layers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			return g.withActiveDB(cmd, func(a *activeDB) error {
				st := a.db.Status()
				if out.json() {
					return writeJSON(cmd.OutOrStdout(), dbStatusReport{Status: st, Kit: newKitRef(a.kit, time.Now())})
				}
				return printDBStatus(cmd.OutOrStdout(), a.kit, st, time.Now())
			})
		},
	}
	out.register(cmd)
	return cmd
}

func newDBLookupCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var purl, cpe string
	cmd := &cobra.Command{
		Use:   "lookup [ID | --purl PURL | --cpe CPE]",
		Short: "Find records by ID or alias, or the records that affect a package",
		Example: `  stella db lookup CVE-2021-23337
  stella db lookup --purl pkg:npm/lodash@4.17.20
  stella db lookup --cpe cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			given := len(args)
			if cmd.Flags().Changed("purl") {
				given++
			}
			if cmd.Flags().Changed("cpe") {
				given++
			}
			if given != 1 {
				return usagef("give exactly one of ID, --purl or --cpe")
			}
			if err := checkLookupNotEmpty(cmd, args); err != nil {
				return err
			}
			// Spaces around a value copied from a report are no part of
			// it, as for an ID; a dash copied from a document may be a
			// typographic one.
			purl = strings.TrimSpace(purl)
			if len(args) == 1 {
				args[0] = asciiDashes(args[0])
			}
			if err := validateLookupQuery(purl, cpe); err != nil {
				return err
			}
			log := g.logger(cmd.ErrOrStderr())
			return g.withActiveDB(cmd, func(a *activeDB) error {
				var recs []vulndb.Record
				var err error
				start := time.Now()
				switch {
				case purl != "":
					recs, err = a.db.LookupPURL(purl)
				case cpe != "":
					recs, err = a.db.LookupCPE(cpe)
				default:
					recs, err = a.db.Lookup(args[0])
				}
				log.Info("looked up records", "purl", purl, "cpe", cpe, "id", strings.Join(args, ""),
					"records", len(recs), "duration", time.Since(start).Round(time.Microsecond))
				if err != nil {
					return err
				}
				if out.json() {
					rated := make([]any, len(recs))
					for i, r := range recs {
						rated[i] = vulndb.LookupOutput(vulndb.WithSeverityRating(r))
					}
					return writeJSON(cmd.OutOrStdout(), rated)
				}
				return printRecords(cmd.OutOrStdout(), recs)
			})
		},
	}
	cmd.Flags().StringVar(&purl, "purl", "",
		"package URL, such as pkg:npm/lodash@4.17.20; without @VERSION every version matches")
	cmd.Flags().StringVar(&cpe, "cpe", "", "CPE 2.3 name, or a CPE 2.2 URI such as cpe:/a:VENDOR:PRODUCT:VERSION")
	out.register(cmd)
	return cmd
}

// checkLookupNotEmpty rejects an empty ID, --purl or --cpe, as an unset
// shell variable gives, with a usage error that names it.
func checkLookupNotEmpty(cmd *cobra.Command, args []string) error {
	for _, flag := range []struct{ name, example string }{
		{"purl", "pkg:npm/lodash@4.17.20"},
		{"cpe", "cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*"},
	} {
		if f := cmd.Flags().Lookup(flag.name); f.Changed && strings.TrimSpace(f.Value.String()) == "" {
			return usagef("--%s is empty; give a value such as %s", flag.name, flag.example)
		}
	}
	if len(args) == 1 && strings.TrimSpace(args[0]) == "" {
		return usagef("the record ID is empty; give an ID or alias such as CVE-2021-23337")
	}
	return nil
}

// validateLookupQuery rejects a malformed --purl or --cpe, or a purl type
// the DB cannot look up, as a command-line error.
func validateLookupQuery(purl, cpe string) error {
	var err error
	switch {
	case purl != "":
		err = vulndb.ValidatePURL(purl)
	case cpe != "":
		err = vulndb.ValidateCPE(cpe)
	}
	if err != nil {
		return usagef("%v", err)
	}
	return nil
}

func printRecords(w io.Writer, recs []vulndb.Record) error {
	w = textWriter{w}
	if len(recs) == 0 {
		fmt.Fprintln(w, "No record found.")
		return nil
	}
	for i, r := range recs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s", oneLine(r.ID))
		if len(r.Aliases) > 0 {
			fmt.Fprintf(w, " (%s)", oneLine(strings.Join(r.Aliases, ", ")))
		}
		fmt.Fprintln(w)
		if r.Summary != "" {
			fmt.Fprintf(w, "  summary    %s\n", oneLine(r.Summary))
		} else if r.Details != "" {
			// NVD records carry a description but no summary.
			details := strings.Join(strings.Fields(r.Details), " ")
			if short := truncate(details, 100); short != details {
				details = short + " (full text with -o json)"
			}
			fmt.Fprintf(w, "  details    %s\n", details)
		}
		printRecordSeverity(w, r)
		if r.Modified != "" {
			fmt.Fprintf(w, "  modified   %s\n", r.Modified)
		}
		if r.Withdrawn != "" {
			fmt.Fprintf(w, "  withdrawn  %s\n", r.Withdrawn)
		}
		for _, a := range r.Affected {
			fmt.Fprintf(w, "  affects    %s\n", describeAffected(a))
		}
		if p := r.PossiblyAffected(); p != "" {
			fmt.Fprintf(w, "  possibly   affected: %s\n", p)
		}
		for _, c := range r.CPECriteria() {
			fmt.Fprintf(w, "  cpe        %s\n", c)
		}
		for _, p := range r.Sources() {
			src := p.Feed
			if p.Catalogue != "" {
				src += ":" + p.Catalogue
			}
			fmt.Fprintf(w, "  source     %s %s (modified %s)\n", src, p.ID, p.Modified)
		}
	}
	return nil
}

// describeAffected renders an OSV affected entry on one line, such as
// "npm/lodash <4.17.21". Events are sorted in the order lookups walk them,
// whatever order the record gives. GIT ranges bound commits, not versions,
// and lookups do not match them, so they are only counted, as "1 GIT
// commit range". An entry whose package lacks its ecosystem or name ends
// with a note that no purl lookup or scan matches it.
func describeAffected(a vulndb.Affected) string {
	s := describeVersions(a)
	if a.Unresolved() {
		s += " (unresolved-package: no purl lookup or scan matches it)"
	}
	return s
}

// describeVersions renders the package and the affected versions of an
// entry for describeAffected.
func describeVersions(a vulndb.Affected) string {
	s := describePackage(a.Package)
	var parts []string
	gitRanges, versionRanges := 0, 0
	for _, r := range a.Ranges {
		if r.Type == "GIT" {
			gitRanges++
			continue
		}
		versionRanges++
		parts = append(parts, describeRange(a.Package.Ecosystem, r)...)
	}
	if len(a.Versions) > 0 {
		parts = append(parts, fmt.Sprintf("%d listed %s", len(a.Versions), plural(len(a.Versions), "version", "versions")))
	}
	commits := "1 GIT commit range"
	if gitRanges > 1 {
		commits = fmt.Sprintf("%d GIT commit ranges", gitRanges)
	}
	switch {
	case len(parts) > 0 && gitRanges > 0:
		return s + " " + strings.Join(parts, ", ") + " (and " + commits + ", not used for version matching)"
	case len(parts) > 0:
		return s + " " + strings.Join(parts, ", ")
	case versionRanges > 0:
		return s + " (no version inside its ranges)"
	case gitRanges > 0:
		return s + " (" + commits + " only, not used for version matching)"
	}
	return s + " (no ranges or versions: only a lookup without a version matches)"
}

// describePackage renders the package of an affected entry as
// ECOSYSTEM/NAME. An entry may have no package, as one that gives only GIT
// ranges may, so the missing parts are named rather than left blank.
func describePackage(p vulndb.Package) string {
	switch {
	case p.Ecosystem == "" && p.Name == "" && p.PURL != "":
		return p.PURL
	case p.Ecosystem == "" && p.Name == "":
		return "(no package)"
	case p.Name == "":
		return p.Ecosystem + "/(no name)"
	case p.Ecosystem == "":
		return "(no ecosystem)/" + p.Name
	}
	return p.Ecosystem + "/" + p.Name
}

// describeRange renders the spans of affected versions of a SEMVER or
// ECOSYSTEM range, such as ">=1.0.0 <2.0.0". A range with limit events
// ends with them, as in ">=1.0.0 (limits <2.0.0, <3.0.0)", since a version
// is in the range only below one of them.
func describeRange(ecosystem string, r vulndb.Range) []string {
	var parts, limits []string
	open, lo := false, ""
	for _, ev := range vulndb.SortEvents(ecosystem, r.Type, r.Events) {
		switch {
		case ev.Introduced != "":
			if !open {
				open, lo = true, ev.Introduced
			}
		case ev.Fixed != "" && open:
			// "introduced 1.0, fixed 1.0" spans no version.
			if ev.Fixed != lo {
				parts = append(parts, rangeText(lo, "<"+ev.Fixed))
			}
			open = false
		case ev.LastAffected != "" && open:
			parts = append(parts, rangeText(lo, "<="+ev.LastAffected))
			open = false
		case ev.Limit == "*":
			limits = append(limits, "")
		case ev.Limit != "":
			limits = append(limits, "<"+ev.Limit)
		}
	}
	if open {
		parts = append(parts, rangeText(lo, ""))
	}
	if len(parts) == 0 || len(limits) == 0 || slices.Contains(limits, "") {
		// A limit "*" sets no bound.
		return parts
	}
	last := len(parts) - 1
	parts[last] += fmt.Sprintf(" (%s %s)", plural(len(limits), "limit", "limits"), strings.Join(limits, ", "))
	return parts
}

func rangeText(introduced, upper string) string {
	if introduced == "" || introduced == "0" {
		if upper == "" {
			return "all versions"
		}
		return upper
	}
	if upper == "" {
		return ">=" + introduced
	}
	return ">=" + introduced + " " + upper
}

func printDBStatus(w io.Writer, kit cas.KitRecord, st vulndb.Status, now time.Time) error {
	fmt.Fprintf(w, "Kit       %s (%s)\n", kit.Version, kit.Digest)
	fmt.Fprintf(w, "Built     %s\n", st.Created.UTC().Format(time.RFC3339))
	switch {
	case kit.Expires.IsZero():
		fmt.Fprintln(w, "Expires   never")
	case kitExpired(kit, now):
		fmt.Fprintf(w, "Expires   %s (EXPIRED: import a newer kit)\n", kit.Expires.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(w, "Expires   %s\n", kit.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Records   %d\n", st.Records)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSOURCE\tSNAPSHOT\tRECORDS\tSKIPPED")
	for _, s := range st.Sources {
		name := s.Kind
		if s.Name != "" {
			name += ":" + s.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", name, s.Snapshot.UTC().Format(time.RFC3339), s.Records, s.Skipped)
	}
	ecos := make([]string, 0, len(st.Ecosystems))
	for e := range st.Ecosystems {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	fmt.Fprintln(tw, "\nECOSYSTEM\tRECORDS")
	for _, e := range ecos {
		fmt.Fprintf(tw, "%s\t%d\n", e, st.Ecosystems[e])
	}
	fmt.Fprintln(tw, "\nLAYER\tKIND\tECOSYSTEM\tRECORDS\tSIZE")
	for _, l := range st.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", l.Digest, l.Kind, l.Ecosystem, l.Records, humanBytes(l.Size))
	}
	return tw.Flush()
}

// pinGuard keeps a pin from outliving the process until stop is called.
// The first SIGINT or SIGTERM only cancels the command's context (see
// main), so the command returns and releases the pin, and main prints the
// failure and exits with exitInterrupted. A second one ends a command that
// has not returned by then, such as one blocked on a full stdout pipe: the
// guard releases the pin and exits with exitInterrupted itself. SIGPIPE,
// as after `stella db lookup ... | head -1`, would end the process and
// leave the pin behind, so the guard releases the pin and exits with 141
// at once. While the guard runs, a write to a closed pipe returns EPIPE
// instead of raising SIGPIPE.
type pinGuard struct {
	release func()
	signals chan os.Signal
	done    chan struct{}
	once    sync.Once
	// mu orders end and stop: after stop, end does nothing, and stop
	// waits while end exits the process.
	mu      sync.Mutex
	stopped bool
}

// guardPin starts a pinGuard for release. ctx is the command's context,
// which main cancels on the first SIGINT or SIGTERM.
func guardPin(ctx context.Context, release func()) *pinGuard {
	// Two slots, so that a second interrupt sent at once is not lost.
	g := &pinGuard{release: release, signals: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(g.signals, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	// An interrupt before the guard started has cancelled ctx already, so
	// the next one is the second.
	interrupted := ctx.Err() != nil
	go func() {
		for {
			select {
			case sig := <-g.signals:
				if sig == syscall.SIGPIPE || interrupted {
					g.end(sig)
					return
				}
				interrupted = true
			case <-g.done:
				return
			}
		}
	}()
	return g
}

// inertPinGuard returns a pinGuard that watches no signal, for a command
// that the store service runs.
func inertPinGuard() *pinGuard {
	g := &pinGuard{release: func() {}, done: make(chan struct{})}
	g.stopped = true
	return g
}

// end releases the pin and exits, unless stop was called first. For
// SIGPIPE it prints nothing and exits with 141. For SIGINT and SIGTERM it
// prints the interrupt line and exits with exitInterrupted.
func (g *pinGuard) end(sig os.Signal) {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.release()
	code := exitInterrupted
	if sig == syscall.SIGPIPE {
		code = exitSignal(sig)
	} else {
		fmt.Fprintln(os.Stderr, readOnlyInterruptedMessage)
	}
	// mu stays locked, so a concurrent stop waits for the exit.
	os.Exit(code)
}

// stop ends the guard; calling it more than once is harmless.
func (g *pinGuard) stop() {
	g.once.Do(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.stopped = true
		signal.Stop(g.signals)
		close(g.done)
	})
}

// pipeWriter calls broken when a write to w fails with EPIPE, which is how
// a write to a closed pipe fails while SIGPIPE is caught.
type pipeWriter struct {
	w      io.Writer
	broken func()
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.broken()
	}
	return n, err
}

// exitSignal returns 128 plus the number of sig, the status a shell reports
// for a process that sig ended: 130 for SIGINT, 141 for SIGPIPE and 143 for
// SIGTERM.
func exitSignal(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitError
}

// asciiDashes replaces the typographic dashes that documents put in IDs
// such as CVE‐2024‐1234, hyphen, non-breaking hyphen, figure dash, en
// dash and minus sign, with the ASCII hyphen that every ID uses.
func asciiDashes(id string) string {
	return strings.NewReplacer("\u2010", "-", "\u2011", "-", "\u2012", "-", "\u2013", "-",
		"\u2212", "-").Replace(id)
}
