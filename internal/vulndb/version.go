package vulndb

import (
	"errors"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	gem "github.com/aquasecurity/go-gem-version"
	npm "github.com/aquasecurity/go-npm-version/pkg"
	pep440 "github.com/aquasecurity/go-pep440-version"
	genericver "github.com/aquasecurity/go-version/pkg/version"
	apk "github.com/knqyf263/go-apk-version"
	deb "github.com/knqyf263/go-deb-version"
	mvn "github.com/masahiro331/go-mvn-version"
)

// compareFunc orders two versions of one ecosystem: negative, zero or
// positive as a is lower, equal or higher. It fails when either version is
// not valid in the ecosystem.
type compareFunc func(a, b string) (int, error)

// errNoOrder is returned for ecosystems whose versions have no known order.
var errNoOrder = errors.New("no version order for ecosystem")

// versionOrder is the version order of one ecosystem, split into parsing
// and comparing so that range matching parses each version once.
type versionOrder struct {
	// parse returns an opaque parsed version, or an error when s is not a
	// valid version of the ecosystem.
	parse func(s string) (any, error)
	// compare orders two values that parse returned.
	compare func(a, b any) int
}

// orderedVersion is a parsed version type of one of the version libraries.
type orderedVersion[V any] interface{ Compare(V) int }

// orderOf makes a versionOrder from a library's parse function.
func orderOf[V orderedVersion[V]](parse func(string) (V, error)) versionOrder {
	return versionOrder{
		parse:   func(s string) (any, error) { return parse(s) },
		compare: func(a, b any) int { return a.(V).Compare(b.(V)) },
	}
}

// debVersion gives the Debian version type the value-receiver Compare
// that orderOf needs.
type debVersion struct{ v deb.Version }

func (d debVersion) Compare(o debVersion) int { return d.v.Compare(o.v) }

// stringOrder makes a versionOrder from a compareFunc, for orders without
// a parsed form: parse only validates, and compare calls cmp.
func stringOrder(cmp compareFunc) versionOrder {
	return versionOrder{
		parse: func(s string) (any, error) {
			if _, err := cmp(s, s); err != nil {
				return nil, err
			}
			return s, nil
		},
		compare: func(a, b any) int {
			c, _ := cmp(a.(string), b.(string))
			return c
		},
	}
}

// compareStrings parses and compares two versions.
func (o versionOrder) compareStrings(a, b string) (int, error) {
	va, err := o.parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := o.parse(b)
	if err != nil {
		return 0, err
	}
	return o.compare(va, vb), nil
}

var (
	semverOrder = orderOf(func(s string) (*semver.Version, error) {
		return semver.NewVersion(strings.TrimPrefix(s, "v"))
	})
	npmOrder    = orderOf(npm.NewVersion)
	pypiOrder   = orderOf(pep440.Parse)
	mavenOrder  = orderOf(mvn.NewVersion)
	gemOrder    = orderOf(gem.NewVersion)
	debianOrder = orderOf(func(s string) (debVersion, error) {
		v, err := deb.NewVersion(s)
		return debVersion{v}, err
	})
	alpineOrder   = orderOf(apk.NewVersion)
	composerOrder = stringOrder(compareComposer)
	// genericOrder orders dotted versions with any number of parts and
	// pre-release suffixes, as NuGet versions are.
	genericOrder = orderOf(genericver.Parse)
)

// orderFor returns the version order of an OSV ecosystem (without its
// ":release" suffix). Unknown ecosystems get SemVer order, which the OSV
// schema uses for SEMVER ranges.
func orderFor(ecosystem string) versionOrder {
	switch ecosystem {
	case "npm":
		return npmOrder
	case "PyPI":
		return pypiOrder
	case "Maven":
		return mavenOrder
	case "RubyGems":
		return gemOrder
	case "Debian", "Ubuntu":
		return debianOrder
	case "Alpine", "Wolfi", "Chainguard":
		return alpineOrder
	case "Packagist":
		return composerOrder
	case "NuGet":
		return genericOrder
	default:
		// Go, crates.io, Hex, Pub and SwiftURL use SemVer 2.0.
		return semverOrder
	}
}

// comparerFor returns the version order of an OSV ecosystem as a
// compareFunc.
func comparerFor(ecosystem string) compareFunc { return orderFor(ecosystem).compareStrings }

func compareSemver(a, b string) (int, error) { return semverOrder.compareStrings(a, b) }

// versionAffected reports whether version is affected by an OSV affected
// entry of the given ecosystem: listed in versions, or inside a SEMVER or
// ECOSYSTEM range. GIT ranges name commits, not versions, and are skipped.
func versionAffected(a *Affected, ecosystem, version string) bool {
	return newVersionMatcher(ecosystem, version).affected(a)
}

// versionMatcher tests one queried version against affected entries of one
// ecosystem. It parses the queried version once and each range version once
// per matcher, so many candidate records cost few parses.
type versionMatcher struct {
	version string
	ranges  map[string]*parsedQuery // by range type: "SEMVER", "ECOSYSTEM"
	eco     versionOrder
}

// parsedQuery is the queried version parsed in one order, with a cache of
// parsed range versions of that order.
type parsedQuery struct {
	order  versionOrder
	value  any
	valid  bool
	parsed map[string]any // nil value: not valid in the order
}

func newVersionMatcher(ecosystem, version string) *versionMatcher {
	return &versionMatcher{version: version, eco: orderFor(ecosystem), ranges: map[string]*parsedQuery{}}
}

// query returns the queried version parsed for a range type, or nil for
// range types without a version order (GIT).
func (m *versionMatcher) query(rangeType string) *parsedQuery {
	if q, ok := m.ranges[rangeType]; ok {
		return q
	}
	var q *parsedQuery
	switch rangeType {
	case "SEMVER":
		q = newParsedQuery(semverOrder, m.version)
	case "ECOSYSTEM":
		q = newParsedQuery(m.eco, m.version)
	}
	m.ranges[rangeType] = q
	return q
}

func newParsedQuery(order versionOrder, version string) *parsedQuery {
	q := &parsedQuery{order: order, parsed: map[string]any{}}
	v, err := order.parse(version)
	if err == nil {
		q.value, q.valid = v, true
	}
	return q
}

// parse returns a range version parsed in the query's order, or nil when
// it is not valid there.
func (q *parsedQuery) parse(s string) any {
	if v, ok := q.parsed[s]; ok {
		return v
	}
	v, err := q.order.parse(s)
	if err != nil {
		v = nil
	}
	q.parsed[s] = v
	return v
}

// affected reports whether the queried version is affected by a.
func (m *versionMatcher) affected(a *Affected) bool {
	for _, v := range a.Versions {
		if v == m.version {
			return true
		}
	}
	for _, rg := range a.Ranges {
		q := m.query(rg.Type)
		if q == nil {
			continue
		}
		if q.inRange(rg.Events) {
			return true
		}
	}
	return false
}

// rangeEvent is an event with its kind and parsed version, for sorting.
type rangeEvent struct {
	kind    int // 0 introduced, 1 last_affected, 2 fixed or limit
	version string
	parsed  any // nil for the introduced "0" that precedes every version
}

// inRange applies OSV range semantics: events sorted by version, and the
// last event at or below version decides. An introduced "0" precedes every
// version. Events whose version cannot be parsed are ignored.
func inRange(events []Event, version string, cmp compareFunc) bool {
	return newParsedQuery(stringOrder(cmp), version).inRange(events)
}

// inRange applies OSV range semantics to the queried version, as the
// package-level inRange describes.
func (q *parsedQuery) inRange(events []Event) bool {
	if !q.valid {
		return false
	}
	evs := make([]rangeEvent, 0, len(events))
	for _, e := range events {
		var ev rangeEvent
		switch {
		case e.Introduced != "":
			ev = rangeEvent{kind: 0, version: e.Introduced}
		case e.LastAffected != "":
			ev = rangeEvent{kind: 1, version: e.LastAffected}
		case e.Fixed != "":
			ev = rangeEvent{kind: 2, version: e.Fixed}
		case e.Limit != "":
			ev = rangeEvent{kind: 2, version: e.Limit}
		default:
			continue
		}
		if ev.kind == 0 && ev.version == "0" {
			evs = append(evs, ev)
			continue
		}
		if ev.parsed = q.parse(ev.version); ev.parsed != nil {
			evs = append(evs, ev)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		c := q.compareEvent(evs[i], evs[j])
		if c != 0 {
			return c < 0
		}
		return evs[i].kind < evs[j].kind
	})
	affected := false
	for _, e := range evs {
		if e.parsed == nil {
			affected = true
			continue
		}
		c := q.order.compare(q.value, e.parsed)
		switch e.kind {
		case 0:
			if c >= 0 {
				affected = true
			}
		case 1:
			if c > 0 {
				affected = false
			}
		case 2:
			if c >= 0 {
				affected = false
			}
		}
	}
	return affected
}

// compareEvent orders two events by version, the introduced "0" first.
func (q *parsedQuery) compareEvent(a, b rangeEvent) int {
	switch {
	case a.parsed == nil && b.parsed == nil:
		return 0
	case a.parsed == nil:
		return -1
	case b.parsed == nil:
		return 1
	}
	return q.order.compare(a.parsed, b.parsed)
}
