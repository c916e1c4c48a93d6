package vulndb

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	gem "github.com/aquasecurity/go-gem-version"
	npm "github.com/aquasecurity/go-npm-version/pkg"
	pep440 "github.com/aquasecurity/go-pep440-version"
	genericver "github.com/aquasecurity/go-version/pkg/version"
	apk "github.com/knqyf263/go-apk-version"
	rpm "github.com/knqyf263/go-rpm-version"
	mvn "github.com/masahiro331/go-mvn-version"
	deb "pault.ag/go/debian/version"
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

func (d debVersion) Compare(o debVersion) int { return deb.Compare(d.v, o.v) }

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
	npmOrder    = orderOf("npm", parseNPM)
	pypiOrder   = orderOf("pep440", parsePEP440)
	mavenOrder  = orderOf("maven", mvn.NewVersion)
	gemOrder    = orderOf("gem", gem.NewVersion)
	debianOrder = orderOf("debian", func(s string) (debVersion, error) {
		v, err := deb.Parse(s)
		return debVersion{v}, err
	})
	alpineOrder   = orderOf("apk", apk.NewVersion)
	rpmOrder      = orderOf("rpm", parseRPM)
	composerOrder = stringOrder("composer", compareComposer)
	// genericOrder orders dotted versions with any number of parts and
	// pre-release suffixes, as NuGet versions are.
	genericOrder = orderOf("generic", genericver.Parse)
)

// parseNPM parses an npm version as node-semver's strict parse does,
// which accepts one leading lowercase "v" and ignores it, so "v4.17.20" is
// 4.17.20 (node-semver's FULLPLAIN pattern in internal/re.js). The
// library rejects the "v". A leading "=" is accepted only in node-semver's
// loose mode, so it stays invalid here.
func parseNPM(s string) (npm.Version, error) {
	return npm.NewVersion(strings.TrimPrefix(s, "v"))
}

// pep440Version is a PyPI version checked by the PEP 440 library. When
// the version is a plain release such as "2.31.0", release holds its
// numbers, and two plain releases compare by them, the shorter padded with
// zeros, which is the order PEP 440 gives them. A plain release is always
// valid, so the library parses it, with a regular expression, only when it
// is compared with a version that is not plain. The library's Compare
// formats both versions and allocates on every call, and PyPI ranges are
// the most numerous, so the plain case is worth the shortcut.
type pep440Version struct {
	s       string
	release []uint64 // nil unless the version is a plain release

	once sync.Once
	v    pep440.Version
}

func parsePEP440(s string) (*pep440Version, error) {
	p := &pep440Version{s: s, release: plainRelease(s)}
	if p.release == nil {
		v, err := pep440.Parse(s)
		if err != nil {
			return nil, err
		}
		p.once.Do(func() { p.v = v })
	}
	return p, nil
}

// lib returns the version as the library parsed it.
func (p *pep440Version) lib() pep440.Version {
	p.once.Do(func() {
		// Only plain releases get here, and the library accepts those.
		p.v, _ = pep440.Parse(p.s)
	})
	return p.v
}

// plainRelease returns the numbers of a version made only of dot-separated
// decimal numbers, or nil for any other version. Numbers of more than 18
// digits are left to the library, so they never overflow.
func plainRelease(s string) []uint64 {
	var out []uint64
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 18 {
			return nil
		}
		var n uint64
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return nil
			}
			n = n*10 + uint64(c-'0')
		}
		out = append(out, n)
	}
	return out
}

func (a *pep440Version) Compare(b *pep440Version) int {
	if a.release == nil || b.release == nil {
		return a.lib().Compare(b.lib())
	}
	for i := range max(len(a.release), len(b.release)) {
		var x, y uint64
		if i < len(a.release) {
			x = a.release[i]
		}
		if i < len(b.release) {
			y = b.release[i]
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}

// parseRPM parses an RPM [EPOCH:]VERSION[-RELEASE]. As in rpm itself, only
// digits before the first colon make an epoch. The library reads any text
// there as epoch 0 and drops it, so a version such as "1.m+e2:1" gets an
// explicit epoch 0 and keeps all its text.
func parseRPM(s string) (rpm.Version, error) {
	if strings.TrimSpace(s) == "" {
		return rpm.Version{}, errors.New("empty RPM version")
	}
	if before, _, ok := strings.Cut(s, ":"); ok && (before == "" || strings.Trim(before, "0123456789") != "") {
		s = "0:" + s
	}
	return rpm.NewVersion(s), nil
}

// orderFor returns the version order of an OSV ecosystem (without its
// ":release" suffix). Unknown ecosystems get SemVer order, which the OSV
// schema uses for SEMVER ranges.
func orderFor(ecosystem string) versionOrder {
	order, _ := ecosystemOrder(ecosystem)
	return order
}

// ecosystemOrder returns the version order of an OSV ecosystem (without
// its ":release" suffix), and known false for an ecosystem whose order is
// not known, which gets SemVer order.
func ecosystemOrder(ecosystem string) (order versionOrder, known bool) {
	switch ecosystem {
	case "npm":
		return npmOrder, true
	case "PyPI":
		return pypiOrder, true
	case "Maven":
		return mavenOrder, true
	case "RubyGems":
		return gemOrder, true
	case "Debian", "Ubuntu":
		return debianOrder, true
	case "Alpine", "Wolfi", "Chainguard":
		return alpineOrder, true
	case "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE", "Mageia", "openEuler":
		return rpmOrder, true
	case "Packagist":
		return composerOrder, true
	case "NuGet":
		return genericOrder, true
	case "Go", "crates.io", "Hex", "Pub", "SwiftURL":
		// These ecosystems use SemVer 2.0.
		return semverOrder, true
	default:
		return semverOrder, false
	}
}

// comparerFor returns the version order of an OSV ecosystem as a
// compareFunc.
func comparerFor(ecosystem string) compareFunc { return orderFor(ecosystem).compareStrings }

func compareSemver(a, b string) (int, error) { return semverOrder.compareStrings(a, b) }

// versionAffected reports whether version is affected by an OSV affected
// entry of the given ecosystem: listed in versions, or inside a SEMVER or
// ECOSYSTEM range. GIT ranges name commits, not versions, and are skipped.
// A range that cannot be evaluated does not count here.
func versionAffected(a *Affected, ecosystem, version string) bool {
	return newVersionMatcher(ecosystem, version).affected(a).affected
}

// matchResult is the outcome of testing a version against affected entries.
type matchResult struct {
	// affected is true when a versions list or a range includes the version.
	affected bool
	// unevaluated names a range version that is not valid in the range's
	// version order, such as `"2.0" (npm)`, when affected is false and such a
	// range could include the version. Lookups report the record as
	// possibly affected instead of dropping it.
	unevaluated string
	// unevaluatedSemVer is a range version that the ecosystem's order
	// cannot parse, in a SEMVER range compared in that order (see
	// versionMatcher.query). It is set when affected is false and such a
	// range could include the version. Lookups report the record as
	// possibly affected.
	unevaluatedSemVer string
	// incomparable is true when affected is false and a range could not be
	// compared because its order cannot parse the queried version.
	incomparable bool
	// compared is true when affected is false and a range was compared
	// with the queried version and does not include it.
	compared bool
}

// combine returns the stronger of two results. Affected wins. Otherwise
// the result keeps the first unevaluated range version of each kind and is
// incomparable when either one is.
func (r matchResult) combine(o matchResult) matchResult {
	switch {
	case r.affected:
		return r
	case o.affected:
		return o
	}
	if r.unevaluated == "" {
		r.unevaluated = o.unevaluated
	}
	if r.unevaluatedSemVer == "" {
		r.unevaluatedSemVer = o.unevaluatedSemVer
	}
	r.incomparable = r.incomparable || o.incomparable
	r.compared = r.compared || o.compared
	return r
}

// versionMatcher tests one queried version against affected entries of one
// ecosystem. It parses the queried version once and each range version once
// per matcher, so many candidate records cost few parses.
type versionMatcher struct {
	cache   *versionCache // may be nil
	version string
	// bare is version without its leading "v" when the ecosystem's order
	// ignores that "v" (npm and SemVer) and parses the version, or "". A
	// listed version equal to bare matches, as it would in a range.
	bare   string
	ranges map[string]*parsedQuery // by range type: "SEMVER", "ECOSYSTEM"
	eco    versionOrder
	// ecoKnown is true when eco is the ecosystem's own order rather than
	// the SemVer order that unknown ecosystems get. Listed versions are
	// compared in eco only then.
	ecoKnown bool
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
	eco, known := ecosystemOrder(ecosystem)
	m := &versionMatcher{version: version, eco: eco, ecoKnown: known, ranges: map[string]*parsedQuery{}}
	if bare, ok := strings.CutPrefix(version, "v"); ok && (m.eco.name == npmOrder.name || m.eco.name == semverOrder.name) {
		if _, err := m.eco.parse(version); err == nil {
			m.bare = bare
		}
	}
	return m
}

// semverInEcosystem is the key of versionMatcher.ranges for SEMVER ranges
// compared in the ecosystem's order (see semverFallbackOrder).
const semverInEcosystem = "SEMVER in ecosystem order"

// query returns the queried version parsed for a range type, or nil for
// range types without a version order (GIT).
//
// A version that SemVer rejects but its ecosystem accepts, such as PyPI
// "1.0.post1", Maven "1.0.0.Final" or RubyGems "1.2.3.4", is parsed for
// SEMVER ranges in the ecosystem's order, and the ranges are compared in
// that order. The ecosystems with an order of their own accept most SemVer
// versions. A range version that the ecosystem's order rejects leaves the
// range undecided (matchResult.unevaluatedSemVer). A version that SemVer
// parses is compared in SemVer order, except with a SEMVER range that has
// a version only the ecosystem's order parses (see inRangeInEcosystem).
// Both cases use semverFallbackOrder, so a version or range version that
// does not look like a version is never compared in the ecosystem's order.
func (m *versionMatcher) query(rangeType string) *parsedQuery {
	if q, ok := m.ranges[rangeType]; ok {
		return q
	}
	var q *parsedQuery
	switch rangeType {
	case "SEMVER":
		q = newParsedQuery(semverOrder, m.version, m.cache)
		if !q.valid && m.eco.name != semverOrder.name {
			if inEcosystem := m.query(semverInEcosystem); inEcosystem.valid {
				q = inEcosystem
			}
		}
	case semverInEcosystem:
		q = newParsedQuery(semverFallbackOrder(m.eco), m.version, m.cache)
	case "ECOSYSTEM":
		q = newParsedQuery(m.eco, m.version, m.cache)
	}
	m.ranges[rangeType] = q
	return q
}

// semverFallbackOrder returns the order of eco restricted to versions that
// SemVer parses or that plausibleVersion accepts. The Maven, RPM and
// Packagist orders accept almost any text, and RubyGems and Alpine accept
// "x" wildcards, so that an ecosystem's order parses a SEMVER range version
// such as "unknown", "*" or "1.x" does not make it a version.
func semverFallbackOrder(eco versionOrder) versionOrder {
	return versionOrder{
		name: eco.name + " for SEMVER",
		parse: func(s string) (any, error) {
			if _, err := semverOrder.parse(s); err != nil && !plausibleVersion(eco.name, s) {
				return nil, fmt.Errorf("%q does not look like a version", s)
			}
			return eco.parse(s)
		},
		compare: eco.compare,
	}
}

// plausibleVersion reports whether s looks like a version of the order
// named order rather than a word, a wildcard or a placeholder. It drops an
// optional "v" and an epoch: "N:" in the Debian and RPM orders, "N!" in
// PEP 440. The rest must start with a digit and consist of non-empty runs
// of ASCII letters and digits joined by single ".", "-", "+", "_" or "~",
// and no run may be "x" or "X". So "2.0.0.Final", "1.0.post1",
// "1.2.3_p1-r0" and "1.0~rc1" are plausible, while "unknown", "*", "1.x",
// "1.2.x", "1.0 beta", "1..0" and, in Maven, "1:1.0.0" are not.
func plausibleVersion(order, s string) bool {
	s = strings.TrimPrefix(s, "v")
	epochSep := ""
	switch order {
	case debianOrder.name, rpmOrder.name:
		epochSep = ":"
	case pypiOrder.name:
		epochSep = "!"
	}
	if epochSep != "" {
		if epoch, rest, ok := strings.Cut(s, epochSep); ok && isNumber(epoch) {
			s = rest
		}
	}
	if s == "" || !isASCIIDigit(rune(s[0])) {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if isASCIIDigit(rune(c)) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
				continue
			}
			if !strings.ContainsRune(".-+_~", rune(c)) {
				return false
			}
		}
		if run := s[start:i]; run == "" || run == "x" || run == "X" {
			return false
		}
		start = i + 1
	}
	return true
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
	v := q.cache.parse(q.order, s)
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
	mu sync.RWMutex
	m  map[versionCacheKey]any
}

type versionCacheKey struct{ order, version string }

func (c *versionCache) get(order, version string) (any, bool) {
	if c == nil || order == "" {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[versionCacheKey{order, version}]
	return v, ok
}

// parse returns version parsed in order, or nil when it is not valid
// there, from the cache when it holds the version.
func (c *versionCache) parse(order versionOrder, version string) any {
	v, ok := c.get(order.name, version)
	if !ok {
		var err error
		if v, err = order.parse(version); err != nil {
			v = nil
		}
		c.put(order.name, version, v)
	}
	return v
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

// affected tests the queried version against a.
func (m *versionMatcher) affected(a *Affected) matchResult {
	p := newPkgAffected(a)
	return m.matches(&p)
}

// matches tests whether the queried version is listed in e's versions or
// lies in one of its ranges. Unless the list or another range includes the
// version, a range with a version that its order cannot parse is reported
// in unevaluated. For a SEMVER range compared in the ecosystem's order it
// is reported in unevaluatedSemVer instead. A range whose order cannot
// parse the queried version sets incomparable.
func (m *versionMatcher) matches(e *pkgAffected) matchResult {
	if m.listedAsText(e) {
		return matchResult{affected: true}
	}
	out := m.inRanges(e)
	if !out.affected && m.listedAsEqual(e) {
		return matchResult{affected: true}
	}
	return out
}

// inRanges tests whether the queried version lies in one of e's ranges,
// and otherwise reports what matches describes.
func (m *versionMatcher) inRanges(e *pkgAffected) matchResult {
	var out matchResult
	for _, rg := range e.Ranges {
		q := m.query(rg.Type)
		if q == nil {
			continue
		}
		if !q.valid {
			out.incomparable = true
			continue
		}
		parsed := rg.parsed
		if rg.order != q.order.name || q.order.name == "" {
			parsed = nil
		}
		in, bad := q.inRangeParsed(rg.Events, parsed)
		if bad != "" && rg.Type == "SEMVER" && q.order.name == semverOrder.name {
			in, bad = m.inRangeInEcosystem(rg.Events, in, bad)
		}
		switch {
		case in:
			return matchResult{affected: true}
		case bad == "":
			out.compared = true
		case rg.Type == "SEMVER" && q.order.name != semverOrder.name:
			if out.unevaluatedSemVer == "" {
				out.unevaluatedSemVer = bad
			}
		case out.unevaluated == "":
			out.unevaluated = fmt.Sprintf("%q (%s)", bad, q.order.name)
		}
	}
	return out
}

// listedAsText reports whether e's versions list the queried version with
// the same text, as the OSV specification compares them, or, in the npm
// and SemVer orders, without its "v".
func (m *versionMatcher) listedAsText(e *pkgAffected) bool {
	for _, v := range e.Versions {
		if v == m.version || (m.bare != "" && v == m.bare) {
			return true
		}
	}
	return false
}

// listedAsEqual reports whether e's versions list a version that the
// ecosystem's order compares equal to the queried one, such as PyPI
// "0.0.01" for a listed "0.0.1" or npm "2.0.0" for a listed "v2.0.0". So
// records that list versions without ranges, such as those of malicious
// packages, match however an SBOM writes the version. Ecosystems whose
// order is not known compare text only. matches calls it after the ranges,
// since it compares every listed version.
func (m *versionMatcher) listedAsEqual(e *pkgAffected) bool {
	if !m.ecoKnown || len(e.Versions) == 0 {
		return false
	}
	q := m.query("ECOSYSTEM")
	if !q.valid {
		return false
	}
	parsed := e.parsedVersions
	if e.versionsOrder != q.order.name {
		parsed = nil
	}
	for i, v := range e.Versions {
		var pv any
		if parsed != nil {
			pv = parsed[i]
		} else {
			pv = q.parse(v)
		}
		if pv != nil && q.order.compare(q.value, pv) == 0 {
			return true
		}
	}
	return false
}

// inRangeInEcosystem decides a SEMVER range that has a version SemVer
// cannot parse, such as Maven "2.0.0.Final" or PyPI "1.0.post1", for a
// query that SemVer parses. When the ecosystem has an order of its own and
// semverFallbackOrder parses every version of the range, the range is
// compared in that order. Otherwise in and bad, the SemVer result, are
// returned unchanged, and the range stays undecided.
func (m *versionMatcher) inRangeInEcosystem(events []Event, in bool, bad string) (bool, string) {
	if m.eco.name == semverOrder.name {
		return in, bad
	}
	eq := m.query(semverInEcosystem)
	if !eq.valid {
		return in, bad
	}
	if ecoIn, ecoBad := eq.inRangeParsed(events, nil); ecoBad == "" {
		return ecoIn, ""
	}
	return in, bad
}

// SamePURLVersion reports whether a and b are the same version of the
// package that purl names: equal text, or versions that the order of the
// purl's ecosystem compares equal, such as Go "v1.4.0" and "1.4.0" or PyPI
// "1.0.post1" and "1.0.POST1". It is false for other text when the purl
// cannot be looked up or either version is not valid in the ecosystem.
func SamePURLVersion(purl, a, b string) bool {
	if a == b {
		return true
	}
	q, err := purlQuery(purl)
	if err != nil {
		return false
	}
	c, err := orderFor(q.ecosystem).compareStrings(a, b)
	return err == nil && c == 0
}

// SameCPEVersion reports whether two CPE version attributes, without their
// escapes, are the same version in the CPE version order (see
// compareCPEVersion), such as "1.0" and "1.0.0". Versions that the order
// cannot parse are the same only when their text is equal, ignoring case.
func SameCPEVersion(a, b string) bool {
	c, ok := compareCPEVersion(a, b)
	return ok && c == 0
}

// rangeEvent is an event with its kind and parsed version.
type rangeEvent struct {
	kind    int // pkgEventIntroduced, pkgEventLastAffected, pkgEventFixed or pkgEventLimit
	version string
	parsed  any // nil for the introduced "0" that precedes every version
}

// noLimit is the limit event version that sets no upper bound.
const noLimit = "*"

// skipsParse reports whether an event's version is never parsed: the
// introduced "0" precedes every version, and the limit "*" bounds none.
func (ev rangeEvent) skipsParse() bool {
	return (ev.kind == pkgEventIntroduced && ev.version == "0") ||
		(ev.kind == pkgEventLimit && ev.version == noLimit)
}

// inRange applies OSV range semantics: events sorted by version, and the
// last event at or below version decides. An introduced "0" precedes every
// version. Limit events take no part in that walk. A range with limit
// events includes only versions below at least one of them, and a limit
// "*" sets no bound. A range with an event whose version cannot be parsed
// is not decided, and inRange returns false for it.
func inRange(events []Event, version string, cmp compareFunc) bool {
	in, _ := newParsedQuery(stringOrder("", cmp), version, nil).inRange(events)
	return in
}

// inRange applies OSV range semantics to the queried version, as the
// package-level inRange describes, without sorting the events. In sorted
// order, an event above the queried version changes nothing, and neither
// does a last_affected equal to it, so the last of the other events decides.
// Each event is compared with the queried version once, and only those
// that act are compared with each other, to find the last of them.
//
// An event version that the order cannot parse could sort anywhere, so the
// range is not decided: inRange then returns false and that version in
// unevaluated.
func (q *parsedQuery) inRange(events []Event) (in bool, unevaluated string) {
	return q.inRangeParsed(events, nil)
}

// inRangeParsed is inRange with the event versions already parsed in the
// query's order (see parseEvents); with parsed nil it parses them.
func (q *parsedQuery) inRangeParsed(events []Event, parsed []any) (in bool, unevaluated string) {
	if !q.valid {
		return false, ""
	}
	var last rangeEvent
	lastCmp := 0 // the queried version compared with last's version
	found := false
	// limited is true when the range has a limit event, and belowLimit
	// when the queried version is below one of them or one is "*".
	limited, belowLimit := false, false
	for i, e := range events {
		ev, ok := newRangeEvent(e)
		if !ok {
			continue
		}
		c := 1 // the introduced "0" precedes every version
		if !ev.skipsParse() {
			if parsed != nil {
				ev.parsed = parsed[i]
			} else {
				ev.parsed = q.parse(ev.version)
			}
			if ev.parsed == nil {
				return false, ev.version
			}
			c = q.order.compare(q.value, ev.parsed)
		}
		if ev.kind == pkgEventLimit {
			limited = true
			belowLimit = belowLimit || ev.version == noLimit || c < 0
			continue
		}
		if c < 0 || (c == 0 && ev.kind == pkgEventLastAffected) {
			continue
		}
		if !found || q.after(ev, c, last, lastCmp) {
			last, lastCmp, found = ev, c, true
		}
	}
	return found && last.kind == pkgEventIntroduced && (!limited || belowLimit), ""
}

// parseEvents parses the versions of range events in an order, through
// cache, for inRangeParsed.
func parseEvents(order versionOrder, events []Event, cache *versionCache) []any {
	out := make([]any, len(events))
	for i, e := range events {
		ev, ok := newRangeEvent(e)
		if !ok || ev.skipsParse() {
			continue
		}
		out[i] = cache.parse(order, ev.version)
	}
	return out
}

// parseVersions parses listed versions in an order, through cache, for
// versionMatcher.listed. A version that is not valid there is nil.
func parseVersions(order versionOrder, versions []string, cache *versionCache) []any {
	if len(versions) == 0 {
		return nil
	}
	out := make([]any, len(versions))
	for i, v := range versions {
		out[i] = cache.parse(order, v)
	}
	return out
}

// newRangeEvent returns an event's kind and version, or ok false for an
// event without a version.
func newRangeEvent(e Event) (rangeEvent, bool) {
	switch {
	case e.Introduced != "":
		return rangeEvent{kind: pkgEventIntroduced, version: e.Introduced}, true
	case e.LastAffected != "":
		return rangeEvent{kind: pkgEventLastAffected, version: e.LastAffected}, true
	case e.Fixed != "":
		return rangeEvent{kind: pkgEventFixed, version: e.Fixed}, true
	case e.Limit != "":
		return rangeEvent{kind: pkgEventLimit, version: e.Limit}, true
	}
	return rangeEvent{}, false
}

// after reports whether event a, which the record lists after event b,
// sorts after it: by version, and at equal versions by the record's order,
// as the stable sort of the OSV specification's evaluation leaves them.
// So "fixed 1.0, introduced 1.0" affects 1.0, and "introduced 1.0,
// fixed 1.0" does not. ac and bc are the queried version compared with
// each, and an event equal to the queried version sorts after every event
// below it.
func (q *parsedQuery) after(a rangeEvent, ac int, b rangeEvent, bc int) bool {
	switch {
	case ac == 0 && bc != 0:
		return true
	case ac != 0 && bc == 0:
		return false
	case ac != 0:
		if c := q.compareEvent(a, b); c != 0 {
			return c > 0
		}
	}
	return true
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
