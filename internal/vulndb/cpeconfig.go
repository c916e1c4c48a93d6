package vulndb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NVD configurations (CVE API 2.0) are lists of nodes. A node holds when
// any of its CPE match criteria matches (operator OR) or all of them do
// (AND), and negate inverts it. A configuration with operator AND holds
// when all of its nodes do. A vulnerable product that runs on a platform
// is written as an AND configuration of two nodes: the product's criteria
// (vulnerable true) and the platform's (vulnerable false). A configuration
// without an operator, as earlier kits may store it, combines its nodes
// with OR.

// CPESet is a set of CPE names known to be present on one system, such as
// the CPEs of all components of an SBOM. LookupCPEOn checks the platform
// criteria of NVD configurations against it.
type CPESet struct {
	byKey map[string][]cpeName // by vendor:product
}

// NewCPESet returns the set of the CPE 2.3 names and CPE 2.2 URIs in
// names. A name that does not parse is left out, because it cannot match
// a criterion.
func NewCPESet(names []string) *CPESet {
	s := &CPESet{byKey: map[string][]cpeName{}}
	for _, n := range names {
		if c, err := parseCPEQuery(n); err == nil {
			s.byKey[c.key()] = append(s.byKey[c.key()], c)
		}
	}
	return s
}

// covers reports whether a CPE of the set matches the criterion m, whose
// name is c. A criterion with version "-" covers every version of the
// product, because NVD writes "-" for a platform that it lists without
// versions. A CPE whose version the criterion's range cannot be checked
// against, such as one with version "*", does not cover it.
func (s *CPESet) covers(m nvdCPEMatch, c cpeName) bool {
	if s == nil {
		return false
	}
	for _, p := range s.byKey[c.key()] {
		if m.matchParsed(c, p).coversVersion() {
			return true
		}
	}
	return false
}

// platformCheck decides which criteria of a record's configurations are
// known to hold for a query: those that the queried CPE or a CPE of
// present matches.
type platformCheck struct {
	query   cpeName
	present *CPESet
}

// covers reports whether the criterion m is known to hold.
func (p *platformCheck) covers(m nvdCPEMatch) bool {
	if p == nil {
		return false
	}
	c, err := parseCPE(m.Criteria)
	if err != nil {
		return false
	}
	return m.matchParsed(c, p.query).coversVersion() || p.present.covers(m, c)
}

// nodeState is the outcome of checking whether a node holds.
type nodeState int

const (
	nodeUnknown nodeState = iota
	nodeHolds
	// nodeFails is a negated node whose criteria are known to hold: the
	// configuration excludes the system.
	nodeFails
)

// node returns whether the node n is known to hold.
func (p *platformCheck) node(n nvdNode) nodeState {
	matched := false
	if isAND(n.Operator) {
		matched = len(n.CPEMatch) > 0
		for _, m := range n.CPEMatch {
			if !p.covers(m) {
				matched = false
				break
			}
		}
	} else {
		for _, m := range n.CPEMatch {
			if p.covers(m) {
				matched = true
				break
			}
		}
	}
	switch {
	case matched && n.Negate:
		return nodeFails
	case matched:
		return nodeHolds
	}
	return nodeUnknown
}

func isAND(operator string) bool { return strings.EqualFold(operator, "AND") }

// companions describes what the criterion at position crit of node
// nodeIndex of config c needs besides itself and p does not know to hold.
// These are the other criteria of an AND node and the other nodes of an
// AND configuration. excluded is true when a negated node rules the
// configuration out. With a nil p, no criterion is known to hold.
//
// NOTE: negate on a whole configuration is not evaluated.
func companions(c nvdConfig, nodeIndex, crit int, p *platformCheck) (platforms []string, excluded bool) {
	n := c.Nodes[nodeIndex]
	if isAND(n.Operator) {
		for i, m := range n.CPEMatch {
			if i != crit && !p.covers(m) {
				platforms = append(platforms, describePlatform(m))
			}
		}
	}
	if !isAND(c.Operator) {
		return platforms, false
	}
	for i, other := range c.Nodes {
		if i == nodeIndex {
			continue
		}
		switch p.node(other) {
		case nodeFails:
			return nil, true
		case nodeUnknown:
			platforms = append(platforms, describeNode(other))
		}
	}
	return platforms, false
}

// cpeAlternative is one way in which a record's configurations match a
// query without confirming it.
type cpeAlternative struct {
	// level is the outcome of matching the criterion against the query.
	// At cpeMatchConfirmed only the platforms are in doubt.
	level cpeMatch
	// criterion is the vulnerable criterion that matched.
	criterion nvdCPEMatch
	// platforms describes the companion criteria and nodes that are not
	// known to hold, such as "microsoft:windows".
	platforms []string
}

// matchConfigs matches the query of p against a record's configurations.
// It returns confirmed true when a vulnerable criterion matches it with
// its version and every companion of that criterion is known to hold.
// Otherwise it returns the ways in which the configurations possibly
// match, none when they do not match at all.
func (p *platformCheck) matchConfigs(configs []nvdConfig) (confirmed bool, possible []cpeAlternative) {
	for _, c := range configs {
		for ni, n := range c.Nodes {
			for mi, m := range n.CPEMatch {
				level := m.match(p.query)
				if level == cpeNoMatch {
					continue
				}
				platforms, excluded := companions(c, ni, mi, p)
				if excluded {
					continue
				}
				if level == cpeMatchConfirmed && len(platforms) == 0 {
					return true, nil
				}
				possible = append(possible, cpeAlternative{level: level, criterion: m, platforms: platforms})
			}
		}
	}
	return false, possible
}

// possibleReason words why a record possibly affects the query q, from the
// ways in which its configurations match q.
func possibleReason(q cpeName, alternatives []cpeAlternative) string {
	product, version := unescapeCPE(q.key()), shortVersion(unescapeCPE(q.Version))
	var phrases []string
	// versionReason is the version doubt of the first way, kept only
	// when every way has one.
	versionReason := versionDoubt(q, alternatives[0])
	for _, a := range alternatives {
		reason := versionDoubt(q, a)
		if len(a.platforms) == 0 {
			// This way applies on every platform, so only the version is
			// in doubt.
			return reason
		}
		if reason == "" {
			versionReason = ""
		}
		if phrase := strings.Join(a.platforms, " and on "); !slices.Contains(phrases, phrase) {
			phrases = append(phrases, phrase)
		}
	}
	platforms := "only when running on " + strings.Join(phrases, ", or on ")
	if versionReason != "" {
		return versionReason + ", and the record affects it " + platforms
	}
	subject := product
	if version != "*" && version != "-" {
		subject += " " + version
	}
	return fmt.Sprintf("the record affects %s %s", subject, platforms)
}

// versionDoubt words why the version of the query q could not be checked
// against the criterion of a, or returns "" when a's only doubt is its
// platforms.
func versionDoubt(q cpeName, a cpeAlternative) string {
	product, version := unescapeCPE(q.key()), unescapeCPE(q.Version)
	switch a.level {
	case cpeMatchNoVersion:
		return fmt.Sprintf("the record names %s without a version (CPE version \"-\"), so version %s could not be compared",
			product, shortVersion(version))
	case cpeMatchAnyVersion:
		return fmt.Sprintf("no version of %s was given (CPE version \"*\"), so it could not be compared with the affected versions %s",
			product, criterionVersions(a.criterion))
	case cpeMatchIncomparable:
		var bad []string
		for _, v := range append([]string{version}, a.criterion.rangeVersions()...) {
			if quoted := strconv.Quote(shortVersion(v)); !cpeVersionComparable(v) && !slices.Contains(bad, quoted) {
				bad = append(bad, quoted)
			}
		}
		return fmt.Sprintf("version %s of %s could not be compared with the affected versions %s, "+
			"because the CPE version order cannot parse %s", shortVersion(version), product,
			criterionVersions(a.criterion), strings.Join(bad, " and "))
	}
	return ""
}

// criterionVersions describes the versions that a criterion covers, such
// as "1.2" or ">=1.0 <2.0".
func criterionVersions(m nvdCPEMatch) string {
	if c, err := parseCPE(m.Criteria); err == nil && c.Version != "*" && c.Version != "-" {
		return unescapeCPE(c.Version)
	}
	return strings.Join(m.bounds(), " ")
}

// maxReasonVersion is the number of characters of a version that a reason
// shows, so that a very long version does not flood the output.
const maxReasonVersion = 64

// shortVersion returns v, or for a version longer than maxReasonVersion
// its start and its length, such as "1111…(100000 characters)".
func shortVersion(v string) string {
	r := []rune(v)
	if len(r) <= maxReasonVersion {
		return v
	}
	return fmt.Sprintf("%s…(%d characters)", string(r[:maxReasonVersion]), len(r))
}

// maxNamedPlatforms is the number of criteria that describeNode names
// before it counts the rest, since a node may list hundreds of hardware
// models.
const maxNamedPlatforms = 5

// describeNode describes the criteria of a node, such as
// "microsoft:windows or apple:macos".
func describeNode(n nvdNode) string {
	var names []string
	for _, m := range n.CPEMatch {
		if d := describePlatform(m); !slices.Contains(names, d) {
			names = append(names, d)
		}
	}
	sep := " or "
	if isAND(n.Operator) {
		sep = " and "
	}
	text := strings.Join(names, sep)
	if len(names) > maxNamedPlatforms {
		text = strings.Join(names[:maxNamedPlatforms], sep) +
			fmt.Sprintf("%s%d other platforms", sep, len(names)-maxNamedPlatforms)
	}
	if n.Negate {
		return "a platform other than " + text
	}
	return text
}

// describePlatform shortens a criterion to vendor and product, with the
// version when it names one and the version range, such as
// "microsoft:windows" or "linux:linux_kernel >=5.0 <5.10".
func describePlatform(m nvdCPEMatch) string {
	c, err := parseCPE(m.Criteria)
	if err != nil {
		return m.Criteria
	}
	parts := []string{unescapeCPE(c.key())}
	if v := unescapeCPE(c.Version); v != "*" && v != "-" {
		parts = append(parts, v)
	}
	parts = append(parts, m.bounds()...)
	return strings.Join(parts, " ")
}
