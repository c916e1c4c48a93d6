package vulndb

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
)

// Limits of the mass-removal checks of RemovalPolicy. A build may remove
// at most half of its base's records, and at most half of the base's
// records of any one ecosystem or source. A base DB smaller than
// MassRemovalMinRecords, and an ecosystem or source with fewer than
// MassRemovalMinGroupRecords records in the base, is not checked, because
// removing a few such records is ordinary feed churn.
const (
	MassRemovalMinRecords      = 100
	MassRemovalMinGroupRecords = 20
	massRemovalPercent         = 50
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
	// AllowMassRemoval permits the removals that otherwise fail with an
	// error wrapping errdef.ErrMassRemoval. These are more than half of
	// the records of the base DB, or of one of its ecosystems or sources
	// (see MassRemovalMinRecords and MassRemovalMinGroupRecords). They
	// also include records of a base feed input that this build lacks
	// (see checkInputs).
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
// baseInputs are the feeds the base DB was built from, as its config lists
// them, withdrawnIDs the IDs of the records that the feeds withdrew, and
// inputs are this build's feeds.
func (p RemovalPolicy) check(base map[string]baseRecord, baseInputs []SourceInfo, recs []Record,
	withdrawnIDs map[string]bool, inputs []SourceInfo, log *slog.Logger) error {
	if err := p.checkSources(base, inputs, log); err != nil {
		return err
	}
	if p.AllowMassRemoval {
		return nil
	}
	keptIDs := make(map[string]bool, len(recs))
	for i := range recs {
		keptIDs[recs[i].ID] = true
	}
	if err := checkSkippedRemovals(base, keptIDs, readIDs(recs, withdrawnIDs), inputs); err != nil {
		return err
	}
	if err := p.checkInputs(base, keptIDs, baseInputs, inputs); err != nil {
		return err
	}
	return checkMassRemoval(base, keptIDs)
}

// readIDs returns, as aliasIndex keys, the IDs that the build read but
// keeps no record of its own for. These are the aliases of its records,
// such as the old ID of a record whose group gained a CVE ID, and the IDs
// in withdrawnIDs, of records that their feeds withdrew.
func readIDs(recs []Record, withdrawnIDs map[string]bool) map[string]bool {
	read := make(map[string]bool, len(withdrawnIDs))
	for id := range withdrawnIDs {
		read[aliasIndex(id)] = true
	}
	for i := range recs {
		for _, alias := range recs[i].Aliases {
			read[aliasIndex(alias)] = true
		}
	}
	return read
}

// maxNamedRemovals bounds the removed record IDs that an error names.
const maxNamedRemovals = 5

// checkSkippedRemovals rejects a build that would remove base records of a
// source whose feeds had records or files that the build skipped as
// malformed, such as a record with a bad time or a file cut off in the
// middle. The skipped input may hold the very records that the build
// would remove, and a removal reaches every site that imports the kit.
// keptIDs holds the IDs of the new build's records. A record whose ID is in
// read, as readIDs returns it, does not count, because the build read it.
func checkSkippedRemovals(base map[string]baseRecord, keptIDs, read map[string]bool,
	inputs []SourceInfo) error {
	skipped := map[string]int{}
	for _, f := range inputs {
		skipped[sourceName(f.Kind, f.Name)] += f.Skipped
	}

	var removed []string
	sources := map[string]bool{}
	for id, r := range base {
		if keptIDs[id] || read[aliasIndex(id)] {
			continue
		}
		hit := false
		for _, src := range r.sources {
			if skipped[src] > 0 {
				sources[src] = true
				hit = true
			}
		}
		if hit {
			removed = append(removed, id)
		}
	}
	if len(removed) == 0 {
		return nil
	}

	slices.Sort(removed)
	names := removed[:min(len(removed), maxNamedRemovals)]
	more := ""
	if len(removed) > len(names) {
		more = fmt.Sprintf(" and %d more", len(removed)-len(names))
	}
	var skips []string
	for _, src := range slices.Sorted(maps.Keys(sources)) {
		skips = append(skips, fmt.Sprintf("%d in %s", skipped[src], src))
	}
	return fmt.Errorf("this build would remove %d %s of the base DB (%s%s) from sources whose feeds had "+
		"input the build skipped as malformed (%s; see the warnings above), which may hold %s; fix the feed "+
		"files or download them again, or give --allow-mass-removal to remove %s anyway: %w",
		len(removed), plural(len(removed), "record", "records"), strings.Join(names, ", "), more,
		strings.Join(skips, ", "), plural(len(removed), "that record", "those records"),
		plural(len(removed), "it", "them"), errdef.ErrMassRemoval)
}

// removalCount is the number of base records of one group, such as one
// ecosystem, and how many of them a build removes.
type removalCount struct {
	base, removed int
}

// tooMany reports whether removing c.removed of c.base records needs
// AllowMassRemoval, for a group checked from minRecords records.
func (c removalCount) tooMany(minRecords int) bool {
	return c.base >= minRecords && c.removed*100 > c.base*massRemovalPercent
}

// checkMassRemoval rejects a build that removes more than half of the base
// DB's records, or of the base's records of one ecosystem or one source.
// keptIDs holds the IDs of the new build's records.
func checkMassRemoval(base map[string]baseRecord, keptIDs map[string]bool) error {
	var all removalCount
	ecosystems := map[string]*removalCount{}
	sources := map[string]*removalCount{}
	add := func(groups map[string]*removalCount, name string, removed bool) {
		c := groups[name]
		if c == nil {
			c = &removalCount{}
			groups[name] = c
		}
		c.base++
		if removed {
			c.removed++
		}
	}
	for id, r := range base {
		removed := !keptIDs[id]
		all.base++
		if removed {
			all.removed++
		}
		for _, e := range r.ecosystems {
			add(ecosystems, e, removed)
		}
		for _, s := range r.sources {
			add(sources, s, removed)
		}
	}

	var over []string
	if all.tooMany(MassRemovalMinRecords) {
		over = append(over, fmt.Sprintf("all records (%d of %d)", all.removed, all.base))
	}
	over = append(over, groupsOverLimit("ecosystem", ecosystems)...)
	over = append(over, groupsOverLimit("source", sources)...)
	if len(over) == 0 {
		return nil
	}
	return fmt.Errorf("this build would remove more than %d%% of the base DB's records of %s; "+
		"check that every feed is complete: %w",
		massRemovalPercent, strings.Join(over, ", "), errdef.ErrMassRemoval)
}

// groupsOverLimit describes each group of the kind groupKind that loses too
// many records, such as "ecosystem PyPI (30 of 40)", sorted by name.
func groupsOverLimit(groupKind string, groups map[string]*removalCount) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		if c := groups[name]; c.tooMany(MassRemovalMinGroupRecords) {
			out = append(out, fmt.Sprintf("%s %s (%d of %d)", groupKind, name, c.removed, c.base))
		}
	}
	return out
}

// feedInput is a feed input as the DB config names it: its source and the
// last element of its path.
type feedInput struct {
	source, input string
}

// inputEcosystems groups feeds by feedInput, with the number of feeds and
// the union of their ecosystems. Feeds without an Input, as in configs
// written before inputs were recorded, are left out.
func inputEcosystems(feeds []SourceInfo) map[feedInput]*inputUse {
	out := map[feedInput]*inputUse{}
	for _, f := range feeds {
		if f.Input == "" {
			continue
		}
		key := feedInput{sourceName(f.Kind, f.Name), f.Input}
		u := out[key]
		if u == nil {
			u = &inputUse{ecosystems: map[string]int{}}
			out[key] = u
		}
		u.feeds++
		u.records += f.Records
		for e, n := range f.Ecosystems {
			u.ecosystems[e] += n
		}
	}
	return out
}

// inputUse is how many feeds share one feedInput, the records they gave,
// and their records per ecosystem. A record of several ecosystems counts
// in each of them.
type inputUse struct {
	feeds      int
	records    int
	ecosystems map[string]int
}

// checkInputs rejects a build that lacks a feed input of the base DB and
// removes base records that the input may have given: records of the
// input's source in the ecosystems it gave. Inputs are matched by source
// and the last element of their path, so osv.dev's per-ecosystem all.zip
// files share one name. When the build has fewer inputs of a name than
// the base, the ecosystems that its inputs of that name no longer give
// count as missing. A source that checkSources handles, because the build
// reads none of it or drops it, is not checked here.
func (p RemovalPolicy) checkInputs(base map[string]baseRecord, keptIDs map[string]bool,
	baseInputs, inputs []SourceInfo) error {
	read := map[string]bool{}
	for _, f := range inputs {
		read[sourceName(f.Kind, f.Name)] = true
	}
	before := inputEcosystems(baseInputs)
	now := inputEcosystems(inputs)
	var problems []string
	for _, key := range slices.SortedFunc(maps.Keys(before), compareInputs) {
		if !read[key.source] {
			continue
		}
		was := before[key]
		cur := now[key]
		missing := map[string]bool{}
		for e := range was.ecosystems {
			if cur == nil || (cur.feeds < was.feeds && cur.ecosystems[e] == 0) {
				missing[e] = true
			}
		}
		if len(missing) == 0 {
			continue
		}
		removed := 0
		for id, r := range base {
			if !keptIDs[id] && slices.Contains(r.sources, key.source) &&
				slices.ContainsFunc(r.ecosystems, func(e string) bool { return missing[e] }) {
				removed++
			}
		}
		if removed == 0 {
			continue
		}
		ecos := slices.Sorted(maps.Keys(missing))
		problems = append(problems, fmt.Sprintf("%s=%s (it gave %s; "+
			"this build would remove %d of the base DB's records of %s in %s)",
			key.source, key.input, describeContribution(was, ecos),
			removed, key.source, plural(len(ecos), "that ecosystem", "those ecosystems")))
	}
	if len(problems) == 0 {
		return nil
	}

	// An input of another name for the same source, such as a folder
	// named by date, is the likely cause.
	baseSources := map[string]bool{}
	for key := range before {
		baseSources[key.source] = true
	}
	var renamed []string
	for _, key := range slices.SortedFunc(maps.Keys(now), compareInputs) {
		if before[key] == nil && baseSources[key.source] {
			renamed = append(renamed, key.source+"="+key.input)
		}
	}
	hint := ""
	if len(renamed) > 0 {
		hint = fmt.Sprintf(". This build reads %s instead: inputs are matched by the last part of their path, "+
			"so a feed in a folder of a new name each night counts as another input; keep that last part "+
			"the same, as in 2026-12-07/osv, or give --allow-mass-removal when the change is intended",
			strings.Join(renamed, ", "))
	}
	return fmt.Errorf("the base DB was built with feed %s %s, which this build does not read; "+
		"give each such feed with --feed again%s: %w",
		plural(len(problems), "input", "inputs"), strings.Join(problems, ", "), hint, errdef.ErrMassRemoval)
}

// describeContribution returns which source records of the ecosystems ecos
// the input of u gave to the base, such as "2 source records of
// ecosystem PyPI to the base". A record of several ecosystems counts in
// each, so a sum over ecosystems could count it twice: several ecosystems
// are given each with its count, after the input's record count when ecos
// are all its ecosystems.
func describeContribution(u *inputUse, ecos []string) string {
	if len(ecos) == 1 {
		n := u.ecosystems[ecos[0]]
		return fmt.Sprintf("%d source %s of ecosystem %s to the base", n, plural(n, "record", "records"), ecos[0])
	}
	counts := make([]string, len(ecos))
	for i, e := range ecos {
		counts[i] = fmt.Sprintf("%d of %s", u.ecosystems[e], e)
	}
	counts[0] = strings.Replace(counts[0], " of ", " of ecosystem ", 1)
	list := strings.Join(counts[:len(counts)-1], ", ") + " and " + counts[len(counts)-1]
	if len(ecos) == len(u.ecosystems) && u.records > 0 {
		return fmt.Sprintf("%d source %s to the base: %s", u.records, plural(u.records, "record", "records"), list)
	}
	return "source records to the base: " + list
}

func compareInputs(a, b feedInput) int {
	if c := strings.Compare(a.source, b.source); c != 0 {
		return c
	}
	return strings.Compare(a.input, b.input)
}

// checkSources rejects a build that lacks a source of the base's records
// and does not drop it.
func (p RemovalPolicy) checkSources(base map[string]baseRecord, inputs []SourceInfo, log *slog.Logger) error {
	counts := map[string]int{}
	for _, r := range base {
		for _, s := range r.sources {
			counts[s]++
		}
	}
	read := map[string]bool{}
	for _, f := range inputs {
		read[sourceName(f.Kind, f.Name)] = true
	}
	dropped := map[string]bool{}
	for _, name := range p.DropSources {
		dropped[name] = true
		if counts[name] == 0 {
			log.Warn("dropped source contributed no records to the base DB", "source", name)
		}
	}
	var missing, cased []string
	for name, n := range counts {
		if read[name] || dropped[name] {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%d %s)", name, n, plural(n, "record", "records")))
		// Catalogue names are matched exactly, so regional:RC is not
		// regional:rc.
		for other := range read {
			if strings.EqualFold(other, name) {
				cased = append(cased, fmt.Sprintf("this build reads %s, which differs from %s only in case: "+
					"give the catalogue name as the base kit has it", other, name))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	sort.Strings(cased)
	hint := ""
	if len(cased) > 0 {
		hint = "; " + strings.Join(cased, "; ")
	}
	return fmt.Errorf("the base DB has records from %s, which this build does not read, "+
		"so their records would be removed%s: %w", strings.Join(missing, ", "), hint, errdef.ErrSourceMissing)
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
