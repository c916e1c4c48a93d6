package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
)

// scanReport is the result of `stella scan`.
type scanReport struct {
	SBOM     string       `json:"sbom"`
	Format   string       `json:"format"`
	Kit      kitRef       `json:"kit"`
	Packages int          `json:"packages"`
	Findings []finding    `json:"findings"`
	Skipped  []skipped    `json:"skipped"`
	Quota    *quota.State `json:"quota,omitempty"`
}

type kitRef struct {
	Digest  string `json:"digest"`
	Version string `json:"version"`
}

type finding struct {
	Package  string   `json:"package"`
	Version  string   `json:"version"`
	PURL     string   `json:"purl,omitempty"`
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Severity string   `json:"severity,omitempty"`
	MatchBy  string   `json:"matchedBy"`
}

type skipped struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

func newScanCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var qf quotaFlags
	var sbomPath string
	cmd := &cobra.Command{
		Use:   "scan --sbom FILE",
		Short: "Report the vulnerabilities of every package in an SBOM, from the active kit",
		Long: `Read an SPDX 2.3 JSON or CycloneDX 1.5+ JSON SBOM, look up every package by
its purl, and by CPE where it has one, in the active kit's DB, and report the
findings. Packages with neither are listed as skipped.

Scans count against a daily fair-use quota. Over the limit a scan is slowed
down, never refused; see stella quota status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if sbomPath == "" {
				return usagef("give the SBOM to scan with --sbom FILE")
			}
			rep, delay, err := runScan(cmd, g, &qf, sbomPath)
			if err != nil {
				return err
			}
			time.Sleep(delay)
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			return printScan(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().StringVar(&sbomPath, "sbom", "", "SBOM file, SPDX 2.3 JSON or CycloneDX JSON")
	qf.register(cmd)
	out.register(cmd)
	return cmd
}

// runScan looks every package up, counts the scan and releases the store
// before the caller sleeps off any quota delay, so that waiting scans are
// not held up by it.
func runScan(cmd *cobra.Command, g *globalOptions, qf *quotaFlags, path string) (*scanReport, time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening SBOM: %w", err)
	}
	format, pkgs, err := sbom.Parse(f)
	f.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("reading SBOM %s: %w", path, err)
	}

	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	store, dir, err := g.openExistingStore(ctx, log, g.lockWait)
	if err != nil {
		return nil, 0, err
	}
	defer store.Close()
	a, err := openActiveDB(ctx, store)
	if err != nil {
		return nil, 0, err
	}
	defer a.release()

	rep := &scanReport{SBOM: path, Format: format, Packages: len(pkgs),
		Kit:      kitRef{Digest: a.kit.Digest.String(), Version: a.kit.Version},
		Findings: []finding{}, Skipped: []skipped{}}
	for _, p := range pkgs {
		found, skip, err := scanPackage(a.db, p)
		if err != nil {
			return nil, 0, err
		}
		if skip != "" {
			rep.Skipped = append(rep.Skipped, skipped{Package: p.Name, Version: p.Version, Reason: skip})
		}
		rep.Findings = append(rep.Findings, found...)
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		if rep.Findings[i].Package != rep.Findings[j].Package {
			return rep.Findings[i].Package < rep.Findings[j].Package
		}
		return rep.Findings[i].ID < rep.Findings[j].ID
	})

	q, id, err := qf.identify(store, dir, log, cmd.ErrOrStderr())
	if err != nil {
		return nil, 0, err
	}
	dec, err := q.Record(id)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: counting the scan failed: %v\n", err)
		return rep, 0, nil
	}
	if dec.Reminder != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), dec.Reminder)
	}
	rep.Quota = &dec.State
	return rep, dec.Delay(time.Since(start)), nil
}

// scanPackage returns the findings of one package, or why it was skipped.
func scanPackage(db *vulndb.DB, p sbom.Package) ([]finding, string, error) {
	if p.PURL == "" && len(p.CPEs) == 0 {
		return nil, "no purl and no CPE", nil
	}
	seen := map[string]bool{}
	var out []finding
	add := func(recs []vulndb.Record, by string) {
		for _, r := range recs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			out = append(out, finding{Package: p.Name, Version: p.Version, PURL: p.PURL, ID: r.ID,
				Aliases: r.Aliases, Summary: r.Summary, Severity: severityOf(r), MatchBy: by})
		}
	}
	// A package counts as scanned when one of its identifiers could be
	// looked up. Otherwise the reasons explain why it was skipped.
	var reasons []string
	looked := false
	if p.PURL != "" {
		recs, err := db.LookupPURL(p.PURL)
		if err != nil {
			reasons = append(reasons, err.Error())
		} else {
			looked = true
			add(recs, "purl")
		}
	}
	for _, c := range p.CPEs {
		recs, err := db.LookupCPE(c)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		looked = true
		add(recs, "cpe")
	}
	if looked {
		return out, "", nil
	}
	return out, strings.Join(reasons, "; "), nil
}

// severityOf returns the first severity score of a record, such as a CVSS
// vector, or "".
func severityOf(r vulndb.Record) string {
	if len(r.Severity) == 0 {
		return ""
	}
	return r.Severity[0].Score
}

func printScan(w io.Writer, rep *scanReport) error {
	fmt.Fprintf(w, "Scanned %d packages of %s against kit %s: %d findings, %d skipped\n",
		rep.Packages, rep.SBOM, rep.Kit.Version, len(rep.Findings), len(rep.Skipped))
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tID\tALIASES\tSUMMARY")
		for _, f := range rep.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Package, f.Version, f.ID,
				strings.Join(f.Aliases, ","), truncate(f.Summary, 60))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s %s: %s\n", s.Package, s.Version, s.Reason)
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
