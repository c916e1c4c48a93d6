package vulndb

import (
	"encoding/json"
	"sort"
	"strings"
)

// feedRank orders sources for the fields where one source wins: curated
// per-package advisories first, NVD last.
var feedRank = map[string]int{FeedGHSA: 0, FeedOSV: 1, FeedRegional: 2, FeedNVD: 3}

// mergeStats counts what merging did.
type mergeStats struct {
	duplicates int // same feed and ID read twice; the newer one kept
	merged     int // source records folded into a record of another ID
	withdrawn  int // merged records all of whose sources are withdrawn
	// withdrawnIDs holds the IDs of those records, which the feeds still
	// list, so their removal comes from no skipped input.
	withdrawnIDs map[string]bool
}

// merge groups source records that name each other through aliases and
// returns one record per group, sorted by ID, without withdrawn groups.
func merge(srcs []source) ([]Record, mergeStats) {
	var st mergeStats
	srcs, st.duplicates = dedupeSources(srcs)
	groups := groupByAlias(srcs)
	out := make([]Record, 0, len(groups))
	for _, g := range groups {
		st.merged += len(g) - 1
		r, ok := mergeGroup(g)
		if !ok {
			st.withdrawn++
			if st.withdrawnIDs == nil {
				st.withdrawnIDs = map[string]bool{}
			}
			st.withdrawnIDs[stableID(g)] = true
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, st
}

// dedupeSources keeps, for each feed, catalogue and ID, the record with the
// newest modified time, and sorts the result.
func dedupeSources(srcs []source) ([]source, int) {
	canon := make([]string, len(srcs))
	for i := range srcs {
		b, _ := marshalJSON(srcs[i].rec)
		canon[i] = string(b)
	}
	idx := make([]int, len(srcs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := &srcs[idx[a]], &srcs[idx[b]]
		if k1, k2 := x.key(), y.key(); k1 != k2 {
			return k1 < k2
		}
		if c := compareTimes(x.rec.Modified, y.rec.Modified); c != 0 {
			return c > 0
		}
		return canon[idx[a]] < canon[idx[b]]
	})
	out := make([]source, 0, len(srcs))
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1].key() == srcs[i].key() {
			continue
		}
		out = append(out, srcs[i])
	}
	return out, len(srcs) - len(out)
}

// key identifies a source record within its feed. IDs that differ only in
// case are one ID, as they are to lookups.
func (s *source) key() string {
	return aliasIndex(s.rec.ID) + "\x00" + s.feed + "\x00" + s.catalogue
}

func isCVE(id string) bool { return strings.HasPrefix(id, "CVE-") }

// groupByAlias joins sources through their IDs and aliases with a
// union-find over the IDs in upper case, so IDs that differ only in case
// join, as they match the same lookups. A group never holds two CVE IDs: a union that would join two
// CVEs is skipped, and a source naming several CVEs (a distribution
// advisory covering many) links to none of them, so it stays its own record.
func groupByAlias(srcs []source) [][]source {
	parent := map[string]string{}
	cve := map[string]string{} // root -> the CVE ID in its set
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			if isCVE(x) {
				cve[x] = x
			}
			return x
		}
		if p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		ca, cb := cve[ra], cve[rb]
		if ca != "" && cb != "" && ca != cb {
			return
		}
		if rb < ra {
			ra, rb = rb, ra
		}
		parent[rb] = ra
		if ca == "" {
			ca = cb
		}
		if ca != "" {
			cve[ra] = ca
		}
	}
	for i := range srcs {
		r := &srcs[i].rec
		id := aliasIndex(r.ID)
		find(id)
		cves := map[string]bool{}
		for _, a := range append([]string{r.ID}, r.Aliases...) {
			if a := aliasIndex(a); isCVE(a) {
				cves[a] = true
			}
		}
		for _, a := range r.Aliases {
			a = aliasIndex(a)
			if isCVE(a) && len(cves) > 1 {
				continue
			}
			union(id, a)
		}
	}
	byRoot := map[string][]source{}
	var roots []string
	for _, s := range srcs {
		root := find(aliasIndex(s.rec.ID))
		if _, ok := byRoot[root]; !ok {
			roots = append(roots, root)
		}
		byRoot[root] = append(byRoot[root], s)
	}
	sort.Strings(roots)
	out := make([][]source, 0, len(roots))
	for _, root := range roots {
		g := byRoot[root]
		if c := cve[root]; c != "" {
			for i := range g {
				g[i].groupCVE = c
			}
		}
		out = append(out, g)
	}
	return out
}

// stableID picks the merged record's ID: the group's CVE ID when it has
// one, else the smallest ID of its source records.
func stableID(g []source) string {
	if c := g[0].groupCVE; c != "" {
		return c
	}
	id := g[0].rec.ID
	for _, s := range g[1:] {
		if s.rec.ID < id {
			id = s.rec.ID
		}
	}
	return id
}

// byPriority sorts sources so the one that wins single-valued fields comes
// first: by feed rank, then newest modified, then ID.
func byPriority(g []source) {
	sort.SliceStable(g, func(i, j int) bool {
		a, b := &g[i], &g[j]
		if feedRank[a.feed] != feedRank[b.feed] {
			return feedRank[a.feed] < feedRank[b.feed]
		}
		if c := compareTimes(a.rec.Modified, b.rec.Modified); c != 0 {
			return c > 0
		}
		if a.catalogue != b.catalogue {
			return a.catalogue < b.catalogue
		}
		return a.rec.ID < b.rec.ID
	})
}

// mergeGroup merges one group. It returns ok false when every source is withdrawn.
func mergeGroup(g []source) (Record, bool) {
	g = append([]source(nil), g...)
	byPriority(g)
	var live []source
	for _, s := range g {
		if s.rec.Withdrawn == "" {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return Record{}, false
	}
	r := Record{ID: stableID(g)}
	mergeIDs(&r, g)
	mergeTimes(&r, live)
	for _, s := range live {
		if r.Summary == "" {
			r.Summary = s.rec.Summary
		}
		if r.Details == "" {
			r.Details = s.rec.Details
		}
		if schemaVersionAbove(s.rec.SchemaVersion, r.SchemaVersion) {
			r.SchemaVersion = s.rec.SchemaVersion
		}
	}
	r.Severity = mergeSeverity(live)
	r.Affected = mergeAffected(live)
	r.References = mergeReferences(live)
	r.Credits = mergeCredits(live)
	r.DatabaseSpecific = mergeDatabaseSpecific(g, live)
	return r, true
}

// schemaVersionAbove reports whether the OSV schema version a is above b
// in SemVer order, so that 1.10.0 is above 1.7.3. A feed may write a
// version that is not SemVer, and then the two compare as text.
func schemaVersionAbove(a, b string) bool {
	if c, err := compareSemver(a, b); err == nil {
		return c > 0
	}
	return a > b
}

func mergeIDs(r *Record, g []source) {
	var ids, related, upstream []string
	for _, s := range g {
		ids = append(ids, s.rec.ID)
		ids = append(ids, s.rec.Aliases...)
		related = append(related, s.rec.Related...)
		upstream = append(upstream, s.rec.Upstream...)
	}
	r.Aliases = cleanIDs(ids, r.ID)
	own := map[string]bool{aliasIndex(r.ID): true}
	for _, a := range r.Aliases {
		own[aliasIndex(a)] = true
	}
	r.Related = without(cleanIDs(related, r.ID), own)
	r.Upstream = without(cleanIDs(upstream, r.ID), own)
}

func without(ids []string, drop map[string]bool) []string {
	var out []string
	for _, id := range ids {
		if !drop[aliasIndex(id)] {
			out = append(out, id)
		}
	}
	return out
}

// mergeTimes takes the earliest publication and the latest modification.
func mergeTimes(r *Record, live []source) {
	for _, s := range live {
		if p := s.rec.Published; p != "" && (r.Published == "" || compareTimes(p, r.Published) < 0) {
			r.Published = p
		}
		if compareTimes(s.rec.Modified, r.Modified) > 0 {
			r.Modified = s.rec.Modified
		}
	}
	if r.Published != "" && compareTimes(r.Modified, r.Published) < 0 {
		r.Modified = r.Published
	}
}

// mergeSeverity keeps, per score type, the score of the first source in
// priority order.
func mergeSeverity(live []source) []Severity {
	seen := map[string]bool{}
	var out []Severity
	for _, s := range live {
		for _, sv := range s.rec.Severity {
			if sv.Type == "" || seen[sv.Type] {
				continue
			}
			seen[sv.Type] = true
			out = append(out, sv)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// mergeAffected keeps the affected entries of every source, deduplicated,
// so a version is affected when any source's ranges include it. A source
// that describes fewer versions, such as a notice about the versions seen
// exploited, then never hides versions that another source lists.
func mergeAffected(live []source) []Affected {
	seen := map[string]bool{}
	var out []Affected
	for _, s := range live {
		for _, a := range s.rec.Affected {
			b, _ := marshalJSON(a)
			if seen[string(b)] {
				continue
			}
			seen[string(b)] = true
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return pkgKey(out[i].Package) < pkgKey(out[j].Package) })
	return out
}

func pkgKey(p Package) string {
	if p.Name == "" {
		return ""
	}
	return p.Ecosystem + "\x00" + p.Name
}

// mergeReferences unions references by URL. The first source in priority
// order sets the type.
func mergeReferences(live []source) []Reference {
	seen := map[string]bool{}
	var out []Reference
	for _, s := range live {
		for _, ref := range s.rec.References {
			if ref.URL == "" || seen[ref.URL] {
				continue
			}
			seen[ref.URL] = true
			out = append(out, ref)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

func mergeCredits(live []source) []json.RawMessage {
	seen := map[string]bool{}
	var out []json.RawMessage
	for _, s := range live {
		for _, c := range s.rec.Credits {
			b, err := compactJSON(c)
			if err != nil || seen[string(b)] {
				continue
			}
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	return out
}

// mergeDatabaseSpecific keeps each source's database_specific keys (the
// first source in priority order wins a key) and adds the provenance of
// every source, withdrawn ones included, under "stellaops".
func mergeDatabaseSpecific(all, live []source) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	var ex Extra
	cwes := map[string]bool{}
	for _, s := range live {
		for k, v := range s.rec.DatabaseSpecific {
			if _, ok := out[k]; ok || k == dbKey {
				continue
			}
			if b, err := compactJSON(v); err == nil {
				out[k] = b
			}
		}
		for _, c := range s.cwes {
			cwes[c] = true
		}
		if ex.Configurations == nil && s.config != nil {
			ex.Configurations = s.config
		}
	}
	for c := range cwes {
		ex.CWEs = append(ex.CWEs, c)
	}
	sort.Strings(ex.CWEs)
	for _, s := range all {
		ex.Sources = append(ex.Sources, Provenance{Feed: s.feed, Catalogue: s.catalogue,
			ID: s.rec.ID, Modified: s.origModified, Withdrawn: s.rec.Withdrawn})
	}
	sort.Slice(ex.Sources, func(i, j int) bool {
		a, b := ex.Sources[i], ex.Sources[j]
		if a.Feed != b.Feed {
			return a.Feed < b.Feed
		}
		if a.Catalogue != b.Catalogue {
			return a.Catalogue < b.Catalogue
		}
		return a.ID < b.ID
	})
	b, _ := marshalJSON(ex)
	out[dbKey] = b
	return out
}

func compactJSON(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return marshalJSON(v)
}
