package vulndb

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
)

// Limits of the mass-removal check of RemovalPolicy: a build may remove at
// most half of its base's records, and bases smaller than
// MassRemovalMinRecords are not checked, because removing a few records of
// a small DB is ordinary feed churn.
const (
	MassRemovalMinRecords = 100
	massRemovalPercent    = 50
)

// RemovalPolicy guards a build with a base DB against removing records by
// accident, such as when a feed's folder is not mounted. Build checks it
// before any layer is written and with or without Rollup.
type RemovalPolicy struct {
	// DropSources names sources that contributed records to the base DB
	// and are left out of this build on purpose, so their records are
	// removed. A name is a feed kind ("osv", "ghsa", "nvd") or
	// "regional:NAME". By default a build that lacks such a source fails
	// with an error wrapping errdef.ErrSourceMissing.
	DropSources []string
	// AllowMassRemoval permits removing more than half of the records of a
	// base DB of at least MassRemovalMinRecords records. By default such a
	// build fails with an error wrapping errdef.ErrMassRemoval.
	AllowMassRemoval bool
}

// validate rejects a dropped source that is also read, or a policy
// without a base to apply to.
func (p RemovalPolicy) validate(feeds []Feed, hasBase bool) error {
	if !hasBase && (len(p.DropSources) > 0 || p.AllowMassRemoval) {
		return fmt.Errorf("a removal policy applies only to a build with a base DB; set BuildOptions.Base: %w",
			errdef.ErrInvalidArgument)
	}
	read := feedSources(feeds)
	for _, name := range p.DropSources {
		if read[name] {
			return fmt.Errorf("source %q is both read and dropped; give it either as a feed or as a dropped source: %w",
				name, errdef.ErrInvalidArgument)
		}
	}
	return nil
}

// check compares the base's live records with the new build's records.
func (p RemovalPolicy) check(base map[string]baseRecord, recs []Record, feeds []Feed, log *slog.Logger) error {
	if err := p.checkSources(base, feeds, log); err != nil {
		return err
	}
	if p.AllowMassRemoval || len(base) < MassRemovalMinRecords {
		return nil
	}
	live := 0
	for i := range recs {
		if _, ok := base[recs[i].ID]; ok {
			live++
		}
	}
	removed := len(base) - live
	if removed*100 > len(base)*massRemovalPercent {
		return fmt.Errorf("this build would remove %d of the base DB's %d records, more than %d%%; "+
			"check that every feed is complete: %w", removed, len(base), massRemovalPercent, errdef.ErrMassRemoval)
	}
	return nil
}

// checkSources rejects a build that lacks a source of the base's records
// and does not drop it.
func (p RemovalPolicy) checkSources(base map[string]baseRecord, feeds []Feed, log *slog.Logger) error {
	counts := map[string]int{}
	for _, r := range base {
		for _, s := range r.sources {
			counts[s]++
		}
	}
	read := feedSources(feeds)
	dropped := map[string]bool{}
	for _, name := range p.DropSources {
		dropped[name] = true
		if counts[name] == 0 {
			log.Warn("dropped source contributed no records to the base DB", "source", name)
		}
	}
	var missing []string
	for name, n := range counts {
		if !read[name] && !dropped[name] {
			missing = append(missing, fmt.Sprintf("%s (%d %s)", name, n, plural(n, "record", "records")))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("the base DB has records from %s, which this build does not read, "+
		"so their records would be removed: %w", strings.Join(missing, ", "), errdef.ErrSourceMissing)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// feedSources returns the set of source names of feeds.
func feedSources(feeds []Feed) map[string]bool {
	out := map[string]bool{}
	for _, f := range feeds {
		out[f.source()] = true
	}
	return out
}

// recordSources returns the source names in a record's provenance, each once.
func recordSources(r *Record) []string {
	var out []string
	for _, p := range r.Sources() {
		name := sourceName(p.Feed, p.Catalogue)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// sourceName names a source the way the command line does: the feed kind,
// or "regional:NAME" for a regional catalogue.
func sourceName(kind, catalogue string) string {
	if kind == FeedRegional {
		return kind + ":" + catalogue
	}
	return kind
}

// maxNamedEmptyFiles bounds the files without records that an empty-feed
// error names.
const maxNamedEmptyFiles = 3

// emptyFeedError describes a feed that yielded no valid record. skipped
// counts its malformed records, and emptyFiles lists its files that decoded
// to no record at all.
func emptyFeedError(f Feed, skipped int, emptyFiles []string) error {
	var content string
	switch {
	case skipped > 0:
		content = fmt.Sprintf("only malformed records (%d skipped)", skipped)
		if len(emptyFiles) > 0 {
			content += fmt.Sprintf(" and %d JSON files without records", len(emptyFiles))
		}
	case len(emptyFiles) == 1:
		content = fmt.Sprintf("no records: file %s contains an empty list of records", emptyFiles[0])
	case len(emptyFiles) > 1:
		names := emptyFiles[:min(len(emptyFiles), maxNamedEmptyFiles)]
		content = fmt.Sprintf("no records: its %d JSON files contain empty lists of records (%s",
			len(emptyFiles), strings.Join(names, ", "))
		if len(emptyFiles) > len(names) {
			content += ", …"
		}
		content += ")"
	default:
		content = "no JSON files"
	}
	format := "OSV JSON records"
	if f.Kind == FeedNVD {
		format = "NVD CVE API 2.0 JSON pages"
	}
	return fmt.Errorf("%s feed %s contains %s; check that the path is mounted and contains %s, "+
		"or leave the feed out: %w", f.source(), f.Path, content, format, errdef.ErrEmptyFeed)
}
