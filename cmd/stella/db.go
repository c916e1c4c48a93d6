package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

func newDBCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Look up vulnerabilities in the active kit's database",
	}
	cmd.AddCommand(newDBLookupCommand(g), newDBStatusCommand(g))
	return cmd
}

// activeDB is the vulnerability DB of the active kit, pinned so that gc and
// later activations leave it readable until release is called.
type activeDB struct {
	db      *vulndb.DB
	kit     cas.KitRecord
	release func()
}

// openActiveDB pins the active kit and opens its DB.
func openActiveDB(ctx context.Context, store *cas.Store) (*activeDB, error) {
	active, err := store.Active(ctx)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("no kit is active in this store; import one with `stella ouk import KIT`")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the active kit: %w", err)
	}

	release, err := store.Pin(ctx, active.Digest, fmt.Sprintf("pid-%d", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("pinning kit %s: %w", active.Version, err)
	}
	db, err := openKitDB(ctx, store, active)
	if err != nil {
		release()
		return nil, err
	}
	return &activeDB{db: db, kit: active, release: release}, nil
}

// openKitDB opens the vulnerability DB of a kit in the store.
func openKitDB(ctx context.Context, store *cas.Store, kit cas.KitRecord) (*vulndb.DB, error) {
	desc, err := stat(ctx, store, kit.Digest, ocispec.MediaTypeImageIndex)
	if err != nil {
		return nil, err
	}
	raw, err := fetchSmall(ctx, store, desc)
	if err != nil {
		return nil, err
	}
	idx, _, err := oci.ParseBundleIndex(raw)
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, store, idx)
	if err != nil {
		return nil, fmt.Errorf("opening the DB of kit %s: %w", kit.Version, err)
	}
	return db, nil
}

// withActiveDB opens the existing store, pins the active kit, runs fn on
// its DB, and releases the pin and the store.
func (g *globalOptions) withActiveDB(cmd *cobra.Command, fn func(*activeDB) error) error {
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	store, _, err := g.openExistingStore(ctx, log, g.lockWait)
	if err != nil {
		return err
	}
	defer store.Close()

	start := time.Now()
	a, err := openActiveDB(ctx, store)
	if err != nil {
		return err
	}
	defer a.release()
	st := a.db.Status()
	log.Info("opened DB", "kit", a.kit.Version, "layers", len(st.Layers), "records", st.Records,
		"duration", time.Since(start).Round(time.Microsecond))
	return fn(a)
}

func newDBStatusCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the active DB: build time, sources, record counts and layers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			return g.withActiveDB(cmd, func(a *activeDB) error {
				st := a.db.Status()
				if out.json() {
					return writeJSON(cmd.OutOrStdout(), st)
				}
				return printDBStatus(cmd.OutOrStdout(), a.kit, st)
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
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			given := len(args)
			if purl != "" {
				given++
			}
			if cpe != "" {
				given++
			}
			if given != 1 {
				return usagef("give exactly one of ID, --purl or --cpe")
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
					if recs == nil {
						recs = []vulndb.Record{}
					}
					return writeJSON(cmd.OutOrStdout(), recs)
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
	if len(recs) == 0 {
		fmt.Fprintln(w, "No record found.")
		return nil
	}
	for i, r := range recs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s", r.ID)
		if len(r.Aliases) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(r.Aliases, ", "))
		}
		fmt.Fprintln(w)
		if r.Summary != "" {
			fmt.Fprintf(w, "  summary    %s\n", r.Summary)
		} else if r.Details != "" {
			// NVD records carry a description but no summary.
			fmt.Fprintf(w, "  details    %s\n", truncate(strings.Join(strings.Fields(r.Details), " "), 100))
		}
		if sev := severityOf(r); sev != "" {
			fmt.Fprintf(w, "  severity   %s\n", sev)
		}
		if r.Modified != "" {
			fmt.Fprintf(w, "  modified   %s\n", r.Modified)
		}
		if r.Withdrawn != "" {
			fmt.Fprintf(w, "  withdrawn  %s\n", r.Withdrawn)
		}
		for _, a := range r.Affected {
			fmt.Fprintf(w, "  affects    %s\n", describeAffected(a))
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
// "npm/lodash <4.17.21".
func describeAffected(a vulndb.Affected) string {
	s := a.Package.Ecosystem + "/" + a.Package.Name
	var parts []string
	for _, r := range a.Ranges {
		lo := ""
		for _, ev := range r.Events {
			switch {
			case ev.Introduced != "":
				lo = ev.Introduced
			case ev.Fixed != "":
				parts = append(parts, rangeText(lo, "<"+ev.Fixed))
				lo = ""
			case ev.LastAffected != "":
				parts = append(parts, rangeText(lo, "<="+ev.LastAffected))
				lo = ""
			}
		}
		if lo != "" {
			parts = append(parts, rangeText(lo, ""))
		}
	}
	if len(a.Versions) > 0 {
		parts = append(parts, fmt.Sprintf("%d listed versions", len(a.Versions)))
	}
	if len(parts) == 0 {
		return s + " (all versions)"
	}
	return s + " " + strings.Join(parts, ", ")
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

func printDBStatus(w io.Writer, kit cas.KitRecord, st vulndb.Status) error {
	fmt.Fprintf(w, "Kit       %s (%s)\n", kit.Version, kit.Digest)
	fmt.Fprintf(w, "Built     %s\n", st.Created.UTC().Format(time.RFC3339))
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
