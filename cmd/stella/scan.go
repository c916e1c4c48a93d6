package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	packageurl "github.com/package-url/packageurl-go"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
)

// scanReport is the result of `stella scan`.
type scanReport struct {
	SBOM     string `json:"sbom"`
	Format   string `json:"format"`
	Kit      kitRef `json:"kit"`
	Packages int    `json:"packages"`
	// DBRecords is the number of records in the kit's DB. At 0 no package
	// can match, so an empty findings list does not mean the SBOM is clean.
	DBRecords int       `json:"dbRecords"`
	Findings  []finding `json:"findings"`
	Skipped   []skipped `json:"skipped"`
	// Notes lists identifiers that were not looked up, such as a purl of a
	// type with no OSV ecosystem, for packages that were matched by another.
	Notes []scanNote `json:"notes"`
	// VersionMismatches lists packages whose purl or CPE names a version
	// other than the SBOM's version field. The identifier's version was
	// looked up, and so was the SBOM's: a record that affects only the
	// SBOM's version is a finding marked possibly affected.
	VersionMismatches []versionMismatch `json:"versionMismatches"`
	Quota             *quota.State      `json:"quota,omitempty"`
}

// versionMismatch is a package whose purl or CPE names another version
// than its SBOM version field.
type versionMismatch struct {
	Package     string `json:"package"`
	SBOMVersion string `json:"sbomVersion"`
	// Identifier is the purl or CPE, as the SBOM writes it.
	Identifier string `json:"identifier"`
	// Version is the identifier's version, which was looked up.
	Version string `json:"version"`
}

// scanNote is an identifier of a scanned package that was not looked up.
type scanNote struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Note    string `json:"note"`
}

// kitRef names the kit a scan or DB status read from.
type kitRef struct {
	Digest  string `json:"digest"`
	Version string `json:"version"`
	// Expires is the kit's signed expiry time, left out when it never
	// expires, and Expired is set when that time has passed.
	Expires time.Time `json:"expires,omitzero"`
	Expired bool      `json:"expired"`
}

type finding struct {
	Package string `json:"package"`
	// Version is the version that was looked up: the one that the purl or
	// CPE names, else the SBOM's version field.
	Version string `json:"version"`
	// SBOMVersion is the SBOM's version field when it differs from Version.
	SBOMVersion string `json:"sbomVersion,omitempty"`
	// PURL is the purl whose lookup gave the finding, as the SBOM writes
	// it, and CPE the CPE that was looked up, with the SBOM's version put
	// in where the scan did so. MatchBy names the kind ("purl" or "cpe").
	// A record that several identifiers of the package return is one
	// finding. It names the first identifier that confirms the record or,
	// when none does, the first that returns it possibly affected.
	PURL    string   `json:"purl,omitempty"`
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// Summary is the record's summary or, for a record without one (such
	// as an NVD record), its details on one line.
	Summary string `json:"summary,omitempty"`
	// Severity is the score of the record's first severity, such as a
	// CVSS vector. The merge sorts a record's severities by type.
	Severity string `json:"severity,omitempty"`
	findingSeverity
	// MatchBy is "purl" or "cpe", the kind of identifier whose lookup
	// found the record.
	MatchBy string `json:"matchedBy"`
	CPE     string `json:"cpe,omitempty"`
	// PossiblyAffected is the reason the lookup could not decide whether
	// the record affects the package (vulndb.Record.PossiblyAffected). It
	// is set only when nothing else in the record decides, because the
	// package could then not be ruled out.
	PossiblyAffected string `json:"possiblyAffected,omitempty"`
}

type skipped struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

func newScanCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var qf quotaFlags
	var sbomPath, sortBy string
	cmd := &cobra.Command{
		Use:   "scan --sbom FILE",
		Short: "Report the vulnerabilities of every package in an SBOM, from the active kit",
		Long: `Read an SPDX JSON or CycloneDX JSON SBOM, look up every package by each of
its purls and CPEs in the active kit's DB, and report the findings.
SPDX 2.2 and 2.3 (2.1 is read too) and CycloneDX 1.2 to 1.7 are accepted.
A purl or CPE without a version is looked up at the SBOM's version of the
package. When a purl or CPE names another version than the SBOM's, its own
version is looked up, and the scan lists it as a version mismatch below the
table (versionMismatches in JSON). The SBOM's version is
looked up too, and a record that affects only the SBOM's version is listed
as possibly affected.
Packages with neither purl nor CPE, or with none that can be looked up, are
listed as skipped. A purl or CPE that cannot be looked up while another
identifier of the package could is listed as a note. An NVD record that
affects a product only on a platform, such as an operating system, is a
finding when a package of the SBOM matches the platform by CPE, and is
marked possibly affected otherwise.

The SEVERITY column gives the CVSS base score and rating, such as
"9.8 CRITICAL", computed from the record's CVSS v3.x vector, else its
CVSS v4.0 vector, else the source's rating word (GHSA's MODERATE shows as
MEDIUM), else the score of its CVSS v2.0 vector. --sort severity lists the
highest rating and score first.

Scans count against a daily fair-use quota. Over the limit a scan is slowed
down by default, never rejected. The setting quota.slowdownFraction in
<store>/config.yaml sets the delay, and 0 turns it off. See stella quota
status. An SBOM that lists no packages prints a warning and does not
count. A scan of a store that this user cannot write, such as one on a
read-only mount, prints a warning and does not count.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if sbomPath == "" {
				return usagef("give the SBOM to scan with --sbom FILE")
			}
			if sortBy != sortByPackage && sortBy != sortBySeverity {
				return usagef("--sort is %q; use %s or %s", sortBy, sortByPackage, sortBySeverity)
			}
			rep, delay, err := runScan(cmd, g, &qf, sbomPath)
			if err != nil {
				return err
			}
			if sortBy == sortBySeverity {
				sortFindingsBySeverity(rep.Findings)
			}
			if err := sleepContext(cmd.Context(), delay); err != nil {
				if rep.counted() {
					return &countedScanInterruptedError{err: err}
				}
				return err
			}
			err = writeScanReport(cmd.Context(), cmd.OutOrStdout(), rep, out.json())
			if err != nil && rep.counted() && errors.Is(err, context.Canceled) {
				return &countedScanInterruptedError{err: err, writingReport: true}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&sbomPath, "sbom", "", "SBOM file, SPDX 2.2/2.3 JSON or CycloneDX 1.2-1.7 JSON, or - for standard input")
	// The client of a store service of another user reads the SBOM
	// itself and sends it as standard input, with its name for the report.
	cmd.Flags().StringVar(&g.sbomLabel, "sbom-label", "", "name of the SBOM that --sbom - reads, for the report")
	_ = cmd.Flags().MarkHidden("sbom-label")
	cmd.Flags().StringVar(&sortBy, "sort", sortByPackage,
		"order of the findings: package (by package, then record ID) or severity (highest rating and score first)")
	qf.register(cmd)
	out.register(cmd)
	return cmd
}

// runScan looks every package up, counts the scan and releases the store
// before the caller sleeps off any quota delay, so that waiting scans are
// not held up by it.
func runScan(cmd *cobra.Command, g *globalOptions, qf *quotaFlags, path string) (*scanReport, time.Duration, error) {
	start := time.Now()
	ctx := cmd.Context()
	var format string
	var pkgs []sbom.Package
	var err error
	if path == "-" {
		// The client of a store service of another user sends its SBOM
		// file as standard input, and errors name that file as they would
		// in a scan of its own.
		name := "standard input"
		if g.sbomLabel != "" {
			name = g.sbomLabel
		}
		format, pkgs, err = parseSBOMReader(ctx, name, cmd.InOrStdin())
	} else {
		format, pkgs, err = parseSBOM(ctx, path)
	}
	if err != nil {
		return nil, 0, err
	}

	log := g.logger(cmd.ErrOrStderr())
	opening := time.Now()
	store, dir, err := g.openExistingStoreForScan(ctx, log, g.lockWait)
	if err != nil {
		return nil, 0, err
	}
	defer store.Close()
	// The slowdown over the quota is a fraction of the scan's own running
	// time, so the time to open the store, which includes any wait for
	// another process to release it, is left out.
	openTime := time.Since(opening)
	// A settings file that the quota step would reject stops the scan
	// before the lookups rather than after them.
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, 0, err
	}
	if _, err := cfg.quotaPolicy(); err != nil {
		return nil, 0, err
	}
	a, err := openActiveDB(ctx, g, store)
	if err != nil {
		return nil, 0, err
	}
	defer a.release()
	g.warnIfExpired(cmd.ErrOrStderr(), a.kit, time.Now())
	records := a.db.Records()
	if records == 0 && !g.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the DB of the active kit %s has no records, so no package can match "+
			"and 0 findings does not mean the SBOM is clean; import a kit built with --feed\n", printable(a.kit.Version))
	}

	reportedPath := path
	if path == "-" && g.sbomLabel != "" {
		reportedPath = g.sbomLabel
	}
	rep := &scanReport{SBOM: reportedPath, Format: format, Packages: len(pkgs), DBRecords: records,
		Kit:      newKitRef(a.kit, time.Now()),
		Findings: []finding{}, Skipped: []skipped{}, Notes: []scanNote{}, VersionMismatches: []versionMismatch{}}
	// The CPEs of all packages, as they are looked up, decide the platform
	// criteria of NVD configurations, such as an application that is
	// vulnerable only on an operating system that the SBOM also lists.
	lookups := make([][]identifierLookup, len(pkgs))
	var cpes []string
	for i, p := range pkgs {
		lookups[i] = packageLookups(p)
		for _, l := range lookups[i] {
			// A CPE with a guessed version names no platform for certain.
			if l.by == "cpe" && l.err == nil && (l.versionDoubt == "" || l.query == l.written) {
				cpes = append(cpes, l.query)
			}
		}
	}
	present := vulndb.NewCPESet(cpes)
	for i, p := range pkgs {
		if err := ctx.Err(); err != nil {
			// Interrupted: main prints the failure, and the deferred
			// release drops the pin first.
			return nil, 0, err
		}
		res, err := scanPackage(a.db, p, lookups[i], present)
		if err != nil {
			return nil, 0, err
		}
		if res.skip != "" {
			rep.Skipped = append(rep.Skipped, skipped{Package: p.Name, Version: p.Version, Reason: res.skip})
		}
		for _, n := range res.notes {
			rep.Notes = append(rep.Notes, scanNote{Package: p.Name, Version: p.Version, Note: n})
		}
		rep.Findings = append(rep.Findings, res.findings...)
		rep.VersionMismatches = append(rep.VersionMismatches, res.mismatches...)
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		if rep.Findings[i].Package != rep.Findings[j].Package {
			return rep.Findings[i].Package < rep.Findings[j].Package
		}
		return rep.Findings[i].ID < rep.Findings[j].ID
	})

	if len(pkgs) == 0 {
		if !g.quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: SBOM %s lists no packages, so nothing was scanned; "+
				"check that the SBOM tool cataloged the image or folder. The scan does not count against the quota.\n", path)
		}
		return rep, 0, nil
	}
	warnings := cmd.ErrOrStderr()
	if g.quiet {
		// The JSON report still carries the quota state.
		warnings = io.Discard
	}
	q, id, err := qf.identify(g, store, dir, log, warnings)
	if err != nil {
		return nil, 0, err
	}
	dec, err := q.Record(id)
	if errors.Is(err, quota.ErrReadOnly) {
		rep.Quota = uncountedState(q, id, g.writeSpaceShortfall(store), dir, warnings)
		return rep, 0, nil
	}
	if err != nil {
		fmt.Fprintf(warnings, "warning: counting the scan failed: %v\n", err)
		warnQuotaDamaged(warnings, q.Damaged())
		return rep, 0, nil
	}
	warnQuotaDamaged(warnings, dec.State.Damaged)
	if dec.Reminder != "" {
		fmt.Fprintln(warnings, dec.Reminder)
	}
	rep.Quota = &dec.State
	scanTime := time.Since(start) - openTime
	delay := dec.Delay(scanTime)
	if delay > 0 {
		log.Info("slowing the scan down over the daily quota", "scanTime", scanTime, "storeOpen", openTime, "delay", delay)
	}
	return rep, delay, nil
}

// uncountedState prints a warning that the scan was not counted, because
// the store in the folder dir is open read-only or, when lowSpace is not
// nil, its volume lacks space, and returns today's quota state with that
// reason, or nil when the state cannot be read.
func uncountedState(q *quota.Quota, id quota.Identity, lowSpace error, dir string, warnings io.Writer) *quota.State {
	cause := "a read-only mount, or a store this user may not write"
	if lowSpace != nil {
		cause = "its volume lacks the free space or inodes to open it for writing"
	}
	reason := fmt.Sprintf("the scan was not counted against the quota because store %s is read-only here (%s)", dir, cause)
	fmt.Fprintln(warnings, "warning: "+reason)
	st, err := q.Status(id)
	if err != nil {
		fmt.Fprintf(warnings, "warning: reading the quota failed: %v\n", err)
		warnQuotaDamaged(warnings, q.Damaged())
		return nil
	}
	warnQuotaDamaged(warnings, st.Damaged)
	st.NotCounted = reason
	return &st
}

// packageScan is the outcome of scanning one package.
type packageScan struct {
	findings []finding
	// skip is the reason no identifier of the package could be looked up,
	// or "".
	skip string
	// notes name identifiers that could not be looked up while another
	// identifier of the package could.
	notes []string
	// mismatches are the identifiers that were looked up at another
	// version than the SBOM's.
	mismatches []versionMismatch
}

// scanPackage returns the findings of one package, or why it was skipped.
// lookups are the package's identifiers from packageLookups, and present
// contains the CPEs of every package of the SBOM.
func scanPackage(db *vulndb.DB, p sbom.Package, lookups []identifierLookup, present *vulndb.CPESet) (packageScan, error) {
	if len(p.PURLs) == 0 && len(p.CPEs) == 0 {
		return packageScan{skip: "no purl and no CPE"}, nil
	}
	if p.Version == "" && p.VersionRange != "" && !slices.ContainsFunc(p.PURLs, purlHasVersion) {
		// Without a version, every record of the package would match,
		// whatever the range accepts.
		return packageScan{skip: fmt.Sprintf("gives the version range %q in place of a version, as a CycloneDX "+
			"external component does, so no installed version can be looked up; scan the SBOM of the system "+
			"that provides it", p.VersionRange)}, nil
	}
	seen := map[string]int{} // record ID to its finding in out
	var out []finding
	// keep records a finding, once per record. A confirmed finding
	// replaces one that another lookup could only find possibly affected.
	keep := func(f finding) {
		i, ok := seen[f.ID]
		switch {
		case !ok:
			seen[f.ID] = len(out)
			out = append(out, f)
		case out[i].PossiblyAffected != "" && f.PossiblyAffected == "":
			out[i] = f
		}
	}
	// newFinding returns the finding of record r, which the lookup of
	// query, the identifier of l at version, found.
	newFinding := func(r vulndb.Record, l identifierLookup, version, query string) finding {
		f := finding{Package: p.Name, Version: version, ID: r.ID,
			Aliases: r.Aliases, Summary: summaryLine(r), Severity: severityOf(r),
			findingSeverity: newFindingSeverity(r), MatchBy: l.by,
			PossiblyAffected: r.PossiblyAffected()}
		if l.by == "purl" {
			f.PURL = l.written
		} else {
			f.CPE = query
		}
		if p.Version != version {
			f.SBOMVersion = p.Version
		}
		return f
	}
	// add records the findings of one lookup.
	add := func(recs []vulndb.Record, l identifierLookup) {
		version := l.shownVersion(p.Version)
		for _, r := range recs {
			f := newFinding(r, l, version, l.query)
			switch {
			case l.versionDoubt != "" && (f.PossiblyAffected != "" || l.query != l.written):
				// A record that affects every version stays confirmed
				// when the CPE is looked up without a version.
				reason := l.versionDoubt
				if f.PossiblyAffected != "" {
					reason += ", and " + f.PossiblyAffected
				}
				f.PossiblyAffected = reason
			case f.PossiblyAffected == "":
				f.PossiblyAffected = l.unversioned
			}
			keep(f)
		}
	}
	// A package counts as scanned when one of its identifiers could be
	// looked up. Otherwise the reasons explain why it was skipped.
	var reasons []string
	var looked []identifierLookup
	// An invalid query (a malformed purl or CPE, a purl type with no OSV
	// ecosystem) is a reason to skip. Any other error, such as a damaged
	// store, stops the scan. A version that is not valid in its ecosystem
	// still matches records that list it exactly, and records with ranges
	// for the package as possibly affected, so LookupPURL, not a check
	// beforehand, decides about it.
	invalidQuery := func(err error) bool {
		return errors.Is(err, errdef.ErrInvalidArgument) || errors.Is(err, errdef.ErrNotFound)
	}
	for _, l := range lookups {
		if l.err != nil {
			reasons = append(reasons, l.err.Error())
			continue
		}
		var recs []vulndb.Record
		var err error
		if l.by == "purl" {
			recs, err = db.LookupPURL(l.query)
		} else {
			recs, err = db.LookupCPEOn(l.query, present)
		}
		switch {
		case invalidQuery(err):
			reasons = append(reasons, l.explain(err, p.Version))
		case err != nil:
			return packageScan{}, err
		default:
			looked = append(looked, l)
			add(recs, l)
			sbomRecs, err := lookUpSBOMVersion(db, p, l, present, recs)
			if err != nil {
				return packageScan{}, err
			}
			// lookUpSBOMVersion returns records only when this query
			// could be written.
			sbomQuery, _ := l.withSBOMVersion(p.Version)
			for _, r := range sbomRecs {
				f := newFinding(r, l, p.Version, sbomQuery)
				f.PossiblyAffected = fmt.Sprintf("the SBOM's version %s is affected, but the %s's version %s is not; "+
					"correct the SBOM so that the two agree", p.Version, identifierNoun(l.by), l.version)
				keep(f)
			}
		}
	}
	if len(looked) > 0 {
		return packageScan{findings: out, notes: reasons, mismatches: versionMismatches(p, looked)}, nil
	}
	return packageScan{findings: out, skip: strings.Join(reasons, "; ")}, nil
}

// lookUpSBOMVersion looks up the identifier of l at the SBOM's version of
// p when the identifier names another version. It returns the records
// that affect the SBOM's version for certain and are not among recs, the
// records of the identifier's version. The SBOM's version may be the right
// one, so the scan reports such records instead of dropping them.
//
// Records that the SBOM's version only possibly matches are left out,
// because a version field that contains no version would make every range
// possibly affected. An SBOM version that the lookup rejects gives no
// records, and the version mismatch line still reports the disagreement.
func lookUpSBOMVersion(db *vulndb.DB, p sbom.Package, l identifierLookup, present *vulndb.CPESet,
	recs []vulndb.Record) ([]vulndb.Record, error) {
	if p.Version == "" || l.version == "" || l.sameVersion(p.Version) {
		return nil, nil
	}
	query, err := l.withSBOMVersion(p.Version)
	if err != nil {
		return nil, nil
	}
	var sbomRecs []vulndb.Record
	if l.by == "purl" {
		sbomRecs, err = db.LookupPURL(query)
	} else {
		sbomRecs, err = db.LookupCPEOn(query, present)
	}
	switch {
	case errors.Is(err, errdef.ErrInvalidArgument) || errors.Is(err, errdef.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	found := map[string]bool{}
	for _, r := range recs {
		found[r.ID] = true
	}
	var out []vulndb.Record
	for _, r := range sbomRecs {
		if r.PossiblyAffected() == "" && !found[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// identifierNoun names an identifier kind in messages: "purl" or "CPE".
func identifierNoun(by string) string {
	if by == "cpe" {
		return "CPE"
	}
	return by
}

// identifierLookup is one purl or CPE of a package, as it is looked up.
type identifierLookup struct {
	// by is "purl" or "cpe".
	by string
	// written is the identifier as the SBOM writes it, and query is the
	// identifier that is looked up: written, or written with the SBOM's
	// version put in when written names none.
	written, query string
	// version is the version that the identifier names, or the SBOM's
	// version put in, or "" when it has neither or names NA. The version
	// of an rpm purl with an epoch qualifier starts with the epoch, as it
	// is looked up ("1:3.0.7-27.el9").
	version string
	// epoch is the epoch qualifier of an rpm purl, or "".
	epoch string
	// unversioned is the reason for the records that the lookup could not
	// check against a version, because the package has none, or "".
	unversioned string
	// versionDoubt is the reason the lookup could not use the SBOM's
	// version, or "". The scan marks every finding of the lookup that
	// depends on the version as possibly affected with it.
	versionDoubt string
	// err is the reason the query could not be made, or nil.
	err error
}

// packageLookups returns the lookups of a package's purls and CPEs. A
// purl or CPE that names no version is looked up at the SBOM's version,
// since without one it would match every record of the product. One that
// names a version is looked up at that version, because a purl or CPE
// identifies the package more precisely than a free-form version field.
func packageLookups(p sbom.Package) []identifierLookup {
	var out []identifierLookup
	for _, purl := range p.PURLs {
		l := identifierLookup{by: "purl", written: purl, query: purl}
		switch {
		case purlHasVersion(purl):
			l.version, l.epoch = purlVersion(purl)
			if l.epoch != "" && l.version != "" {
				l.version = l.epoch + ":" + l.version
			}
		case p.Version != "":
			l.query, l.version = withPURLVersion(purl, p.Version), p.Version
		default:
			l.unversioned = "the SBOM gives no version for the package, so no record could be checked against one"
		}
		out = append(out, l)
	}
	for _, c := range p.CPEs {
		l := identifierLookup{by: "cpe", written: c, query: c}
		version, isAny, err := vulndb.CPEVersion(c)
		switch {
		case err != nil:
			// LookupCPEOn rejects the CPE with its reason.
		case isAny && p.Version != "":
			query, err := vulndb.WithCPEVersion(c, p.Version)
			if err == nil {
				l.query, l.version = query, p.Version
				break
			}
			out = append(out, unwritableVersionLookups(c, p.Version, err)...)
			continue
		case isAny:
			// LookupCPEOn marks the records that limit the version as
			// possibly affected.
		case version != "-":
			// A CPE with version "-" (NA) names a product without
			// versions, and it is looked up as it is.
			l.version = version
		}
		out = append(out, l)
	}
	return out
}

// unwritableVersionLookups returns the lookups of cpe, a CPE with version
// "*", whose SBOM version, such as "1.1.1k (FIPS)", cannot be written into
// it for the reason err. The CPE is looked up as it is, and at the leading
// part of the version that a CPE can hold, such as "1.1.1k", when there is
// one. Every finding that depends on the version is possibly affected.
func unwritableVersionLookups(cpe, version string, err error) []identifierLookup {
	doubt := fmt.Sprintf("the SBOM's version %q could not be used: %v", version, err)
	out := []identifierLookup{{by: "cpe", written: cpe, query: cpe, versionDoubt: doubt}}
	if lead := leadingVersion(version); lead != "" {
		if query, err := vulndb.WithCPEVersion(cpe, lead); err == nil {
			l := identifierLookup{by: "cpe", written: cpe, query: query, versionDoubt: fmt.Sprintf(
				"the SBOM's version %q could not be written into a CPE, so its leading part %s was looked up", version, lead)}
			out = append([]identifierLookup{l}, out...)
		}
	}
	return out
}

// leadingVersion returns the leading part of version that looks like a
// version a CPE can hold, such as "1.1.1k" of "1.1.1k (FIPS)": a digit
// followed by letters, digits and dots. It returns "" when version does
// not start with a digit or the part is all of version.
func leadingVersion(version string) string {
	n := 0
	for n < len(version) {
		c := version[n]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.') {
			break
		}
		n++
	}
	lead := strings.TrimRight(version[:n], ".")
	if lead == "" || lead[0] < '0' || lead[0] > '9' || lead == version {
		return ""
	}
	return lead
}

// shownVersion returns the version to report for the lookup's findings:
// the SBOM's version when the identifier names it too or names none, and
// the identifier's version otherwise.
func (l identifierLookup) shownVersion(sbomVersion string) string {
	if l.version == "" || l.sameVersion(sbomVersion) {
		return sbomVersion
	}
	return l.version
}

// sameVersion reports whether v is the identifier's version. Versions
// agree when the order of the purl's ecosystem, or the CPE version order,
// compares them equal, such as Go "v1.4.0" and "1.4.0" or PyPI
// "1.0.post1" and "1.0.POST1". SBOM tools write an rpm package's epoch in
// the version field ("1:3.0.7-27.el9"), but some leave it out. Syft writes
// the Go standard library's version as "go1.22.4" in the version field and
// as "1.22.4" in its purl and CPE. A purl may also carry "go1.22.4" or
// "v1.22.4", so the prefix is dropped on either side.
func (l identifierLookup) sameVersion(v string) bool {
	own := l.version
	if v == own {
		return true
	}
	v, own = withoutGoPrefix(v), withoutGoPrefix(own)
	switch {
	case v == own:
		return true
	case l.by == "cpe":
		return vulndb.SameCPEVersion(v, own)
	case l.epoch != "" && vulndb.SamePURLVersion(l.written, l.epoch+":"+v, own):
		return true
	}
	return vulndb.SamePURLVersion(l.written, v, own)
}

// withoutGoPrefix returns v without the "go" of a Go toolchain version
// such as "go1.22.4", and other versions as they are.
func withoutGoPrefix(v string) string {
	toolchain, ok := strings.CutPrefix(v, "go")
	if ok && toolchain != "" && toolchain[0] >= '0' && toolchain[0] <= '9' {
		return toolchain
	}
	return v
}

// withSBOMVersion returns the identifier with the SBOM's version in place
// of its own, to look up when the two disagree. It returns an error when
// the version cannot be written into the identifier.
func (l identifierLookup) withSBOMVersion(sbomVersion string) (string, error) {
	if l.by == "cpe" {
		return vulndb.WithCPEVersion(l.written, sbomVersion)
	}
	purl, rest := l.written, ""
	if i := strings.IndexAny(purl, "?#"); i >= 0 {
		purl, rest = purl[:i], purl[i:]
	}
	if i := strings.LastIndex(purl, "@"); i >= 0 {
		purl = purl[:i]
	}
	return withPURLVersion(purl+rest, sbomVersion), nil
}

// explain returns the reason the lookup failed with err, naming the
// SBOM's version when the scan put it into the identifier.
func (l identifierLookup) explain(err error, sbomVersion string) string {
	if l.query == l.written {
		return err.Error()
	}
	return fmt.Sprintf("%v (%s is %s with the SBOM's version %q put in)", err, l.query, l.written, sbomVersion)
}

// versionMismatches returns the identifiers of p that name another version
// than the SBOM's, once for each such version. lookups are the identifiers
// that were looked up. One that was not, such as a pkg:oci purl whose
// version is an image digest, is no mismatch, since no finding depends on
// its version.
func versionMismatches(p sbom.Package, lookups []identifierLookup) []versionMismatch {
	if p.Version == "" {
		return nil
	}
	var out []versionMismatch
	seen := map[string]bool{}
	for _, l := range lookups {
		if l.err != nil || l.version == "" || l.sameVersion(p.Version) || seen[l.version] {
			continue
		}
		seen[l.version] = true
		out = append(out, versionMismatch{Package: p.Name, SBOMVersion: p.Version, Identifier: l.written, Version: l.version})
	}
	return out
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
	w = textWriter{w}
	fmt.Fprintf(w, "Scanned %d %s of %s against kit %s: %d %s, %d skipped\n",
		rep.Packages, plural(rep.Packages, "package", "packages"), rep.SBOM, rep.Kit.Version,
		len(rep.Findings), plural(len(rep.Findings), "finding", "findings"), len(rep.Skipped))
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tID\tSEVERITY\tALIASES\tSUMMARY")
		for _, f := range rep.Findings {
			summary := f.Summary
			if f.PossiblyAffected != "" {
				summary = "(possibly) " + summary
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(f.Package), oneLine(f.Version), oneLine(f.ID),
				f.severityColumn(), oneLine(strings.Join(f.Aliases, ",")), oneLine(truncate(summary, 60)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, f := range rep.Findings {
		if f.PossiblyAffected != "" {
			fmt.Fprintf(w, "possibly affected %s by %s: %s\n", nameVersion(f.Package, f.Version), oneLine(f.ID),
				oneLine(f.PossiblyAffected))
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", nameVersion(s.Package, s.Version), oneLine(s.Reason))
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s: %s\n", nameVersion(n.Package, n.Version), oneLine(n.Note))
	}
	for _, m := range rep.VersionMismatches {
		fmt.Fprintf(w, "version mismatch %s: %s names version %s, which was looked up, and records that affect only "+
			"the SBOM's version %s are listed as possibly affected; correct the SBOM so that the two agree\n",
			nameVersion(m.Package, m.SBOMVersion), oneLine(m.Identifier), oneLine(m.Version), oneLine(m.SBOMVersion))
	}
	return nil
}

// nameVersion joins a package name and version, leaving out an empty version.
// Both are put on one line, since they come from the SBOM.
func nameVersion(name, version string) string {
	if version == "" {
		return oneLine(name)
	}
	return oneLine(name + " " + version)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// summaryLine returns a record's summary or, for a record without one
// (such as an NVD record), its details on one line.
func summaryLine(r vulndb.Record) string {
	if r.Summary != "" {
		return strings.Join(strings.Fields(r.Summary), " ")
	}
	return strings.Join(strings.Fields(r.Details), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// withPURLVersion returns purl, which names no version, with version
// added before its qualifiers and subpath. The version is percent-encoded
// as the purl specification requires: every byte other than ASCII letters,
// digits and "-", ".", "_", "~" and ":" is written as %XX, so an "@" in
// the version cannot read as a second version separator.
func withPURLVersion(purl, version string) string {
	rest := ""
	if i := strings.IndexAny(purl, "?#"); i >= 0 {
		purl, rest = purl[:i], purl[i:]
	}
	var b strings.Builder
	b.WriteString(purl)
	b.WriteByte('@')
	for i := 0; i < len(version); i++ {
		c := version[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(rest)
	return b.String()
}

// purlVersion returns the decoded version of a purl and, for an rpm purl,
// its epoch qualifier. A purl that does not parse gives "", and its lookup
// rejects it with the reason.
func purlVersion(purl string) (version, epoch string) {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return "", ""
	}
	if p.Type == "rpm" {
		epoch = p.Qualifiers.Map()["epoch"]
	}
	return p.Version, epoch
}

// purlHasVersion reports whether a package URL names a version. The
// qualifiers and subpath may contain "@", the name part may not.
func purlHasVersion(purl string) bool {
	if i := strings.IndexAny(purl, "?#"); i >= 0 {
		purl = purl[:i]
	}
	return strings.Contains(purl, "@")
}

// whileReadingSBOM, when not nil, runs in the first read of the SBOM file
// of a scan. End-to-end tests set it to hold a scan while it parses its
// SBOM, and the stella binary leaves it nil.
var whileReadingSBOM func(ctx context.Context)

// beforeScanReport, when not nil, runs once the report of a scan is
// rendered and before it is written. End-to-end tests set it to hold a
// scan there, and the stella binary leaves it nil.
var beforeScanReport func(ctx context.Context)

// parseSBOM reads the SBOM at path as sbom.ParseFile does, and stops with
// ctx's error once ctx is cancelled.
func parseSBOM(ctx context.Context, path string) (format string, pkgs []sbom.Package, err error) {
	f, err := sbom.OpenFile(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if whileReadingSBOM != nil {
		r = &hookedFile{File: f, hook: func() { whileReadingSBOM(ctx) }}
	}
	return parseSBOMReader(ctx, path, r)
}

// parseSBOMReader parses the SBOM that r reads, named name in errors.
func parseSBOMReader(ctx context.Context, name string, r io.Reader) (format string, pkgs []sbom.Package, err error) {
	format, pkgs, err = sbom.ParseContext(ctx, r)
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		// The SBOM is the caller's input, not a kit, so a size over the
		// limit exits with the usage code, not with "kit rejected".
		return "", nil, usagef("reading %s: %v", name, err)
	}
	if err != nil {
		err = fmt.Errorf("reading %s: %w", name, err)
		// What the file holds is at fault, not the reading of it.
		if ctx.Err() == nil && !errors.As(err, new(*fs.PathError)) && !errors.As(err, new(syscall.Errno)) {
			return "", nil, invalidSBOMError{err: err}
		}
		return "", nil, err
	}
	return format, pkgs, nil
}

// invalidSBOMError is the error of an SBOM whose content cannot be read,
// such as one that is not JSON, is cut off, or is of another format. Its
// failure reason is invalid-sbom.
type invalidSBOMError struct{ err error }

func (e invalidSBOMError) Error() string { return e.err.Error() }
func (e invalidSBOMError) Unwrap() error { return e.err }

// hookedFile is an SBOM file that runs hook before its first Read or
// ReadAt. It embeds the *os.File, so sbom.ParseContext still finds its Stat
// and Seek methods and reads the file in place, as in the stella binary.
type hookedFile struct {
	*os.File
	hook func()
}

func (h *hookedFile) runHook() {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
}

func (h *hookedFile) Read(p []byte) (int, error) {
	h.runHook()
	return h.File.Read(p)
}

func (h *hookedFile) ReadAt(p []byte, off int64) (int, error) {
	h.runHook()
	return h.File.ReadAt(p, off)
}

// reportChunkSize is the maximum number of bytes in one write of a scan
// report, so that an interrupt stops the output of a large report soon.
const reportChunkSize = 64 << 10

// writeScanReport renders rep as JSON or text and writes it to w in
// chunks. Once ctx is cancelled it stops and returns ctx's error, so an
// interrupt before the first chunk leaves stdout empty. An error writing
// text is left to main, which checks every write to stdout.
func writeScanReport(ctx context.Context, w io.Writer, rep *scanReport, asJSON bool) error {
	var report []byte
	if asJSON {
		var err error
		if report, err = encodeJSON(rep); err != nil {
			return err
		}
	} else {
		var buf bytes.Buffer
		if err := printScan(&buf, rep); err != nil {
			return err
		}
		report = buf.Bytes()
	}
	if beforeScanReport != nil {
		beforeScanReport(ctx)
	}
	for len(report) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(report), reportChunkSize)
		if _, err := w.Write(report[:n]); err != nil {
			if asJSON {
				return fmt.Errorf("writing JSON output: %w", err)
			}
			return nil
		}
		report = report[n:]
	}
	return nil
}

// counted reports whether the scan was counted against the quota.
func (rep *scanReport) counted() bool {
	return rep.Quota != nil && rep.Quota.NotCounted == ""
}

// countedScanInterruptedError is the error of a scan that a signal stopped
// after the scan was counted, while the quota slowed it down or, with
// writingReport set, while it wrote its report. It wraps the context
// error, for exit code 130.
type countedScanInterruptedError struct {
	err           error
	writingReport bool
}

func (e *countedScanInterruptedError) Error() string { return e.err.Error() }
func (e *countedScanInterruptedError) Unwrap() error { return e.err }

// sleepContext waits for d, or until ctx is cancelled, and then returns
// ctx's error, so that Ctrl-C ends the slowdown of a scan over its quota.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
