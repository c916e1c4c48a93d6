package vulndb

import (
	"errors"
	"slices"
	"strings"
	"sync"

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
	// name identifies the order in a versionCache.
	name string
	// parse returns an opaque parsed version, or an error when s is not a
	// valid version of the ecosystem.
	parse func(s string) (any, error)
	// compare orders two values that parse returned.
	compare func(a, b any) int
}

// orderedVersion is a parsed version type of one of the version libraries.
type orderedVersion[V any] interface{ Compare(V) int }

// orderOf makes a versionOrder from a library's parse function.
func orderOf[V orderedVersion[V]](name string, parse func(string) (V, error)) versionOrder {
	return versionOrder{
		name:    name,
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
func stringOrder(name string, cmp compareFunc) versionOrder {
	return versionOrder{
		name: name,
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
	semverOrder = orderOf("semver", func(s string) (*semver.Version, error) {
		return semver.NewVersion(strings.TrimPrefix(s, "v"))
	})
	npmOrder    = orderOf("npm", npm.NewVersion)
	pypiOrder   = orderOf("pep440", pep440.Parse)
	mavenOrder  = orderOf("maven", mvn.NewVersion)
	gemOrder    = orderOf("gem", gem.NewVersion)
	debianOrder = orderOf("debian", func(s string) (debVersion, error) {
		v, err := deb.NewVersion(s)
		return debVersion{v}, err
	})
	alpineOrder   = orderOf("apk", apk.NewVersion)
	composerOrder = stringOrder("composer", compareComposer)
	// genericOrder orders dotted versions with any number of parts and
	// pre-release suffixes, as NuGet versions are.
	genericOrder = orderOf("generic", genericver.Parse)
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
	cache   *versionCache // may be nil
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
	cache  *versionCache  // shared by the lookups of a DB; may be nil
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
		q = newParsedQuery(semverOrder, m.version, m.cache)
	case "ECOSYSTEM":
		q = newParsedQuery(m.eco, m.version, m.cache)
	}
	m.ranges[rangeType] = q
	return q
}

func newParsedQuery(order versionOrder, version string, cache *versionCache) *parsedQuery {
	q := &parsedQuery{order: order, parsed: map[string]any{}, cache: cache}
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
	v, ok := q.cache.get(q.order.name, s)
	if !ok {
		var err error
		if v, err = q.order.parse(s); err != nil {
			v = nil
		}
		q.cache.put(q.order.name, s, v)
	}
	q.parsed[s] = v
	return v
}

// maxCachedVersions bounds a versionCache. At an estimated 200 bytes a
// parsed version, a full cache takes some 13 MiB.
const maxCachedVersions = 1 << 16

// versionCache keeps parsed range versions across the lookups of a DB, so
// a scan that looks up popular packages parses their ranges once. Parsed
// versions are never modified, so lookups may share them. The cache is
// emptied when it reaches maxCachedVersions. A nil cache keeps nothing.
type versionCache struct {
	mu sync.Mutex
	m  map[versionCacheKey]any
}

type versionCacheKey struct{ order, version string }

func (c *versionCache) get(order, version string) (any, bool) {
	if c == nil || order == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[versionCacheKey{order, version}]
	return v, ok
}

func (c *versionCache) put(order, version string, v any) {
	if c == nil || order == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedVersions {
		c.m = map[versionCacheKey]any{}
	}
	c.m[versionCacheKey{order, version}] = v
}

// affected reports whether the queried version is affected by a.
func (m *versionMatcher) affected(a *Affected) bool {
	ranges := make([]pkgRange, len(a.Ranges))
	for i, rg := range a.Ranges {
		ranges[i] = pkgRange{Type: rg.Type, Events: rg.Events}
	}
	return m.matches(a.Versions, ranges)
}

// matches reports whether the queried version is one of versions or lies
// in one of the ranges.
func (m *versionMatcher) matches(versions []string, ranges []pkgRange) bool {
	for _, v := range versions {
		if v == m.version {
			return true
		}
	}
	for _, rg := range ranges {
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
	return newParsedQuery(stringOrder("", cmp), version, nil).inRange(events)
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
	slices.SortStableFunc(evs, func(a, b rangeEvent) int {
		if c := q.compareEvent(a, b); c != 0 {
			return c
		}
		return a.kind - b.kind
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
