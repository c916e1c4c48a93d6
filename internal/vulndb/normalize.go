package vulndb

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
)

// maxIDLen bounds record IDs and aliases. Real ones are under 64 bytes.
const maxIDLen = 256

// timeLayouts are the timestamp forms seen in feeds: OSV writes RFC 3339,
// NVD writes local-less times with milliseconds, which are UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// parseTime reads a feed timestamp. Times without a zone are UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errNoTime
	}
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		t, err = time.Parse(layout, s)
		if err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// compareTimes compares two times written by formatTime in time order and
// returns -1, 0 or +1. Their text does not sort in time order, because
// formatTime drops a zero fraction and "00Z" sorts after "00.5Z". An empty
// time sorts first.
func compareTimes(a, b string) int {
	aSeconds, aFraction := splitFraction(a)
	bSeconds, bFraction := splitFraction(b)
	if c := strings.Compare(aSeconds, bSeconds); c != 0 {
		return c
	}
	// formatTime drops trailing zeros, so fraction digits compare as text.
	return strings.Compare(aFraction, bFraction)
}

// splitFraction splits a time written by formatTime into the part up to
// the seconds and the digits of the fraction, without the "Z".
func splitFraction(t string) (seconds, fraction string) {
	seconds, fraction, _ = strings.Cut(strings.TrimSuffix(t, "Z"), ".")
	return seconds, fraction
}

// normalizeTime rewrites *s in RFC 3339 UTC. An empty string stays empty.
func normalizeTime(s *string, field string) *recordProblem {
	if *s == "" {
		return nil
	}
	t, err := parseTime(*s)
	if err != nil {
		return problem("invalid-time", "%s %q is not an RFC 3339 time", field, *s)
	}
	*s = formatTime(t)
	return nil
}

// validID reports whether s can serve as a record ID or alias: printable,
// without spaces, and short.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// normalizeRecord checks a source record and puts it in canonical form:
// times in RFC 3339 UTC, a modified time no earlier than published, aliases
// deduplicated without the record's own ID. It rejects what the merge and
// the index cannot use, and returns the modified time before correction.
func normalizeRecord(r *Record) (string, *recordProblem) {
	r.ID = strings.TrimSpace(r.ID)
	if r.ID == "" {
		return "", problem("missing-id", "record has no id")
	}
	if !validID(r.ID) {
		return "", problem("invalid-id", "id %q contains spaces or control characters, or is too long", r.ID)
	}
	for _, f := range []struct {
		p    *string
		name string
	}{{&r.Modified, "modified"}, {&r.Published, "published"}, {&r.Withdrawn, "withdrawn"}} {
		if p := normalizeTime(f.p, f.name); p != nil {
			return "", p
		}
	}

	if r.Modified == "" {
		if r.Published == "" {
			return "", problem("missing-modified", "record %s has neither modified nor published time", r.ID)
		}
		r.Modified = r.Published
	}
	orig := r.Modified
	// Some real records have a modified time earlier than published, but the
	// merged record's modified time must not precede its publication.
	if r.Published != "" && compareTimes(r.Modified, r.Published) < 0 {
		r.Modified = r.Published
	}

	r.Aliases = cleanIDs(r.Aliases, r.ID)
	r.Related = cleanIDs(r.Related, r.ID)
	r.Upstream = cleanIDs(r.Upstream, r.ID)
	for i := range r.Affected {
		if p := checkAffected(&r.Affected[i]); p != nil {
			return "", p
		}
	}
	return orig, nil
}

// cleanIDs trims, drops invalid IDs and sorts. It keeps one spelling of
// IDs that differ only in case, the first in byte order (upper case sorts
// first), and drops self in any case.
func cleanIDs(ids []string, self string) []string {
	var valid []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); validID(id) {
			valid = append(valid, id)
		}
	}
	sort.Strings(valid)
	seen := map[string]bool{aliasIndex(self): true}
	var out []string
	for _, id := range valid {
		if seen[aliasIndex(id)] {
			continue
		}
		seen[aliasIndex(id)] = true
		out = append(out, id)
	}
	return out
}

func checkAffected(a *Affected) *recordProblem {
	a.Package.Ecosystem = strings.TrimSpace(a.Package.Ecosystem)
	a.Package.Name = strings.TrimSpace(a.Package.Name)
	a.Package.PURL = strings.TrimSpace(a.Package.PURL)
	for _, rg := range a.Ranges {
		if rg.Type == "" {
			return problem("invalid-range", "package %q has a range without a type", a.Package.Name)
		}
		for _, e := range rg.Events {
			n := 0
			for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				return problem("invalid-range",
					"package %q has a range event with %d versions set; exactly one is allowed",
					a.Package.Name, n)
			}
		}
	}
	return nil
}

// reasonUnparsedRange is the warning reason of a record with a range
// version that its range's version order cannot parse.
const reasonUnparsedRange = "unparsed-range-version"

// unparsedRangeVersions lists the range versions of r that the order of
// their range cannot parse, as `ECOSYSTEM/NAME "VERSION"`: ECOSYSTEM ranges
// in the ecosystem's order, SEMVER ranges in SemVer order. GIT ranges and
// the introduced "0" are left out.
func unparsedRangeVersions(r *Record) []string {
	var out []string
	for _, a := range r.Affected {
		for _, rg := range a.Ranges {
			var order versionOrder
			switch rg.Type {
			case "ECOSYSTEM":
				order = orderFor(baseEcosystem(a.Package.Ecosystem))
			case "SEMVER":
				order = semverOrder
			default:
				continue
			}
			for _, e := range rg.Events {
				ev, ok := newRangeEvent(e)
				if !ok || ev.skipsParse() {
					continue
				}
				if _, err := order.parse(ev.version); err != nil {
					out = append(out, fmt.Sprintf("%s/%s %q", a.Package.Ecosystem, a.Package.Name, ev.version))
				}
			}
		}
	}
	return out
}
