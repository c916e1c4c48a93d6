package vulndb

import (
	"fmt"
	"slices"
	"strings"
)

// NVD configurations (CVE API 2.0) are lists of nodes. A node holds when
// any of its CPE match criteria matches (operator OR) or all of them do
// (AND), and negate inverts it. A configuration with operator AND holds
// when all of its nodes do. A vulnerable product that runs on a platform
// is written as an AND configuration of two nodes: the product's criteria
// (vulnerable true) and the platform's (vulnerable false). A configuration
// without an operator, as earlier kits may store it, combines its nodes
// with OR. A configuration with negate is true when the combination of
// its nodes is false, and newConfigCheck rewrites it by De Morgan's laws.

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
// name is c, as coversPlatform decides it.
func (s *CPESet) covers(m nvdCPEMatch, c cpeName, definite bool) bool {
	if s == nil {
		return false
	}
	for _, p := range s.byKey[c.key()] {
		if coversPlatform(m, c, p, definite) {
			return true
		}
	}
	return false
}

// coversPlatform reports whether the criterion m, whose name is c, covers
// the CPE q as a platform. A criterion with version "-" covers every
// version of the product, because NVD writes "-" for a platform that it
// lists without versions. A CPE whose version the criterion's range
// cannot be checked against, such as one with version "*", does not cover
// it.
//
// With definite set, q must also give every other attribute that c
// restricts, such as the update or the target hardware: a CPE with ANY
// ("*") there may name a system outside the criterion. A CPE also gives
// the update when it writes it into its version, as matchJoinedUpdate
// describes. A negated node
// excludes a system only on such a definite match, so that a CPE listed
// without those details does not drop a record.
func coversPlatform(m nvdCPEMatch, c, q cpeName, definite bool) bool {
	if !m.matchParsed(c, q).coversVersion() {
		return false
	}
	if !definite {
		return true
	}
	if restrictsAny(c.Part, q.Part) {
		return false
	}
	// A CPE that writes the criterion's update into its version, such as
	// version "1809sp1" for version "1809" and update "sp1", gives it.
	if restrictsAny(c.Update, q.Update) && matchJoinedUpdate(c, q) != joinedEqual {
		return false
	}
	for i := range c.rest {
		if restrictsAny(c.rest[i], q.rest[i]) {
			return false
		}
	}
	return true
}

// restrictsAny reports whether a criterion attribute names a value that
// the queried attribute leaves open as ANY.
func restrictsAny(criterion, query string) bool { return criterion != "*" && query == "*" }

// platformCheck decides which criteria of a record's configurations are
// known to hold for a query: those that the queried CPE or a CPE of
// present matches.
type platformCheck struct {
	query   cpeName
	present *CPESet
}

// covers reports whether the criterion m, whose name is c, is known to
// hold. With definite set it must hold for certain, as coversPlatform
// describes.
func (p *platformCheck) covers(m nvdCPEMatch, c cpeName, definite bool) bool {
	if p == nil {
		return false
	}
	return coversPlatform(m, c, p.query, definite) || p.present.covers(m, c, definite)
}

// negatedCriterionTruth returns whether the criterion m of a negated
// node, whose name is c, matches for p. It returns truthHolds where the
// criterion matches for certain, as coversPlatform describes. A criterion of the queried
// product makes an exception of that product, as in "widget below 2.0 but
// not 1.5", rather than naming a platform. The query alone decides it,
// and it fails where the query lies outside it, because the queried
// product is then not the excepted one. A CPE of the present set with the
// same product is another component and decides nothing.
func (p *platformCheck) negatedCriterionTruth(m nvdCPEMatch, c cpeName) truth {
	if p == nil {
		return truthUnknown
	}
	if c.key() != p.query.key() {
		if p.present.covers(m, c, true) {
			return truthHolds
		}
		return truthUnknown
	}
	switch {
	case coversPlatform(m, c, p.query, true):
		return truthHolds
	case m.matchParsed(c, p.query) == cpeNoMatch:
		return truthFails
	}
	return truthUnknown
}

// nodeState is the outcome of checking whether a node holds.
type nodeState int

const (
	nodeUnknown nodeState = iota
	// nodeHolds is a node that is true for certain. A negated node is true
	// only where its criteria fail for certain for the queried product
	// (negatedHolds).
	nodeHolds
	// nodeFails is a negated node whose criteria hold for certain: the
	// configuration excludes the system.
	nodeFails
)

func isAND(operator string) bool { return strings.EqualFold(operator, "AND") }

// nodeCheck is one node of a record's configuration with its criteria
// parsed, and what a platformCheck found about it. matchConfigs makes one
// per node of the record, so that it parses each criterion and describes
// and checks each node once, however many criteria match.
type nodeCheck struct {
	node nvdNode
	// names contains the parsed criteria, in order. A criterion that does not
	// parse has the zero cpeName, whose product is empty.
	names []cpeName

	stateKnown bool
	state      nodeState

	described   bool
	description string

	// uncovered lists the descriptions of the criteria that are not known
	// to hold, each once, and uncoveredCount how many criteria have each.
	// They are set for a node with operator AND, whose other criteria are
	// the companions of each of its criteria.
	uncoveredKnown bool
	uncovered      []string
	uncoveredCount map[string]int

	// covered marks the criteria known to match, and coveredCount counts
	// them (coverage). Only the nodes of a negated configuration set them.
	coverageKnown bool
	covered       []bool
	coveredCount  int
}

func newNodeCheck(n nvdNode) nodeCheck {
	names := make([]cpeName, len(n.CPEMatch))
	for i, m := range n.CPEMatch {
		if c, err := parseCPE(m.Criteria); err == nil {
			names[i] = c
		}
	}
	return nodeCheck{node: n, names: names}
}

// parsed reports whether criterion i parsed.
func (nc *nodeCheck) parsed(i int) bool { return nc.names[i].Product != "" }

// holds returns whether the node is known to hold for p. A negated node
// counts its criteria only when they hold for certain, so that a version
// or an attribute that p does not give never rules a record out.
func (nc *nodeCheck) holds(p *platformCheck) nodeState {
	if nc.stateKnown {
		return nc.state
	}
	n := nc.node
	if n.Negate {
		nc.state = nc.negatedHolds(p)
		nc.stateKnown = true
		return nc.state
	}
	covers := func(i int) bool { return nc.parsed(i) && p.covers(n.CPEMatch[i], nc.names[i], false) }
	matched := false
	if isAND(n.Operator) {
		matched = len(n.CPEMatch) > 0
		for i := range n.CPEMatch {
			if !covers(i) {
				matched = false
				break
			}
		}
	} else {
		for i := range n.CPEMatch {
			if covers(i) {
				matched = true
				break
			}
		}
	}
	if matched {
		nc.state = nodeHolds
	}
	nc.stateKnown = true
	return nc.state
}

// negatedHolds checks a negated node for holds. The node is false where
// its criteria match for certain, and true where they fail for certain,
// which negatedCriterionTruth finds only for criteria of the queried
// product. A criterion that does not parse is unknown.
func (nc *nodeCheck) negatedHolds(p *platformCheck) nodeState {
	and := isAND(nc.node.Operator)
	holding, failing := 0, 0
	for i, m := range nc.node.CPEMatch {
		if !nc.parsed(i) {
			continue
		}
		switch p.negatedCriterionTruth(m, nc.names[i]) {
		case truthHolds:
			holding++
		case truthFails:
			failing++
		}
	}
	count := len(nc.node.CPEMatch)
	switch {
	case count == 0:
		return nodeUnknown
	case and && holding == count, !and && holding > 0:
		return nodeFails
	case and && failing > 0, !and && failing == count:
		return nodeHolds
	}
	return nodeUnknown
}

// exceptionOf reports whether every criterion of the node parses and
// names product, a vendor:product key. A negated node of that kind, in an
// AND configuration with a vulnerable criterion of product, makes an
// exception of product rather than naming a platform.
func (nc *nodeCheck) exceptionOf(product string) bool {
	if len(nc.names) == 0 {
		return false
	}
	for i, c := range nc.names {
		if !nc.parsed(i) || c.key() != product {
			return false
		}
	}
	return true
}

// describePlain describes the node's criteria as describeNode does,
// without its negate.
func (nc *nodeCheck) describePlain() string {
	plain := nc.node
	plain.Negate = false
	return describeNode(plain, nc.names)
}

// describe returns describeNode of the node.
func (nc *nodeCheck) describe() string {
	if !nc.described {
		nc.description = describeNode(nc.node, nc.names)
		nc.described = true
	}
	return nc.description
}

// describeCriterion returns describePlatform of criterion i.
func (nc *nodeCheck) describeCriterion(i int) string {
	return describeParsed(nc.node.CPEMatch[i], nc.names[i], nc.parsed(i))
}

// companionsInNode describes the criteria of an AND node other than
// criterion crit that p does not know to hold.
func (nc *nodeCheck) companionsInNode(p *platformCheck, crit int) []string {
	if !nc.uncoveredKnown {
		nc.uncoveredCount = map[string]int{}
		for i, m := range nc.node.CPEMatch {
			if nc.parsed(i) && p.covers(m, nc.names[i], false) {
				continue
			}
			d := nc.describeCriterion(i)
			if nc.uncoveredCount[d] == 0 {
				nc.uncovered = append(nc.uncovered, d)
			}
			nc.uncoveredCount[d]++
		}
		nc.uncoveredKnown = true
	}
	if len(nc.uncovered) == 0 {
		return nil
	}
	// Leave out crit's own description when no other criterion has it.
	own := nc.describeCriterion(crit)
	if nc.uncoveredCount[own] != 1 || (nc.parsed(crit) && p.covers(nc.node.CPEMatch[crit], nc.names[crit], false)) {
		own = ""
	}
	var names []string
	for _, d := range nc.uncovered {
		if d != own {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return []string{joinNamed(names, " and on ", "platforms")}
}

// configCheck is a configuration with a nodeCheck per node.
type configCheck struct {
	config nvdConfig
	// and is set when the nodes combine with AND, after newConfigCheck
	// swapped the operator of a negated configuration.
	and   bool
	nodes []nodeCheck
	// formulaText caches the formula of a negated configuration.
	formulaText string
}

// newConfigCheck returns the check of the configuration c. It checks a
// negated configuration in the equivalent form without negate, which De
// Morgan's laws give: each node negated, and AND and OR swapped. "Not
// (widget and Windows)" becomes "not widget, or not Windows". A vulnerable
// criterion in a node that is negated in that form is matched by
// matchNegated, and the other nodes are then checked as negated nodes are.
func newConfigCheck(c nvdConfig) *configCheck {
	cc := &configCheck{config: c, and: isAND(c.Operator) != c.Negate, nodes: make([]nodeCheck, len(c.Nodes))}
	for i, n := range c.Nodes {
		n.Negate = n.Negate != c.Negate
		cc.nodes[i] = newNodeCheck(n)
	}
	return cc
}

// describeNegated describes what the negated node nodeIndex excludes, such
// as "acme:widget <2.0 in a negated node", or returns "" when the node is
// not negated. matchNegated handles the nodes of a negated configuration.
func (cc *configCheck) describeNegated(nodeIndex int) string {
	nc := &cc.nodes[nodeIndex]
	if !nc.node.Negate || cc.config.Negate {
		return ""
	}
	return nc.describePlain() + " in a negated node"
}

// companions describes what the criterion at position crit of node
// nodeIndex needs besides itself and p does not know to hold. These are
// the other criteria of an AND node and the other nodes of an AND
// configuration. A node without criteria constrains nothing and is left
// out. excluded is true when a negated node rules the configuration out.
// With a nil p, no criterion is known to match. A negated configuration
// counts in the form that newConfigCheck gives it.
//
// Nodes that only name the criterion's own product are no platforms, so
// exceptions lists them instead. Such a negated node, as "acme:widget 1.5"
// in "widget below 2.0 but not 1.5", is an exception. For a criterion
// inside it, the node that it makes an exception of ("acme:widget <2.0")
// is listed.
func (cc *configCheck) companions(p *platformCheck, nodeIndex, crit int) (platforms, exceptions []string, excluded bool) {
	nc := &cc.nodes[nodeIndex]
	if isAND(nc.node.Operator) {
		platforms = nc.companionsInNode(p, crit)
	}
	if !cc.and {
		return platforms, nil, false
	}
	product := nc.names[crit].key()
	inException := nc.node.Negate && nc.exceptionOf(product)
	for i := range cc.nodes {
		other := &cc.nodes[i]
		if i == nodeIndex || len(other.node.CPEMatch) == 0 {
			continue
		}
		switch other.holds(p) {
		case nodeFails:
			return nil, nil, true
		case nodeHolds:
			continue
		}
		switch {
		case other.node.Negate && other.exceptionOf(product):
			exceptions = append(exceptions, other.describePlain())
		case inException && !other.node.Negate && other.exceptionOf(product):
			exceptions = append(exceptions, other.describe())
		default:
			platforms = append(platforms, other.describe())
		}
	}
	return platforms, exceptions, false
}

// vulnerableOutside reports whether the configuration combines node
// nodeIndex by AND with another node that has a vulnerable criterion for
// product, a vendor:product key. Only then can a negated node carve an
// exception out of that criterion. In a configuration with operator OR,
// or without an operator, a negated node leaves the other nodes as they
// are.
func (cc *configCheck) vulnerableOutside(nodeIndex int, product string) bool {
	if !cc.and {
		return false
	}
	for i := range cc.nodes {
		if i == nodeIndex {
			continue
		}
		other := &cc.nodes[i]
		for mi, m := range other.node.CPEMatch {
			if m.Vulnerable && other.parsed(mi) && other.names[mi].key() == product {
				return true
			}
		}
	}
	return false
}

// cpeAlternative is a group of ways in which a record's configurations
// match a query without confirming it: matching vulnerable criteria with
// the same outcome that need the same platforms.
type cpeAlternative struct {
	// level is the outcome of matching the criteria against the query.
	// At cpeMatchConfirmed only the platforms are in doubt.
	level cpeMatch
	// platforms describes the companion criteria and nodes that are not
	// known to hold, such as "microsoft:windows and on apple:macos", or is
	// empty when the criteria need none.
	platforms string
	// negated describes what the negated node that contains the matching
	// criteria excludes, such as "acme:widget <2.0 in a negated node"
	// (configCheck.describeNegated), or is empty.
	negated string
	// exceptions describes the negated nodes of the queried product that
	// are not known to be true, such as "acme:widget 1.5" in "widget below
	// 2.0 but not 1.5", or for a match inside such a node the nodes that
	// it makes an exception of (configCheck.companions), or is empty.
	exceptions string
	// contradiction is the formula of a negated configuration that
	// excludes every system that the matching criteria match, such as
	// "not (acme:widget <2.0)" (configCheck.formula), or is empty.
	contradiction string
	// criteria are the first maxNamedVersions matching criteria with
	// distinct affected versions, and versions contains those versions
	// (criterionVersions). otherCriteria counts the criteria with further
	// distinct versions.
	criteria      []nvdCPEMatch
	versions      []string
	otherCriteria int
}

// maxNamedVersions is the number of affected versions that a reason names
// before it counts the rest.
const maxNamedVersions = 5

// alternativeSet collects the cpeAlternatives of one record.
type alternativeSet struct {
	list []cpeAlternative
	// index finds the alternative of a level and platforms in list.
	index map[alternativeKey]int
	// versions contains the affected versions seen per alternative.
	versions map[alternativeKey]map[string]bool
}

type alternativeKey struct {
	level                                         cpeMatch
	platforms, negated, exceptions, contradiction string
}

// add records a match of the criterion m, whose name is c, with the
// outcome and platforms of k.
func (s *alternativeSet) add(k alternativeKey, m nvdCPEMatch, c cpeName) {
	if s.index == nil {
		s.index = map[alternativeKey]int{}
		s.versions = map[alternativeKey]map[string]bool{}
	}
	i, ok := s.index[k]
	if !ok {
		i = len(s.list)
		s.index[k] = i
		s.versions[k] = map[string]bool{}
		s.list = append(s.list, cpeAlternative{level: k.level, platforms: k.platforms, negated: k.negated,
			exceptions: k.exceptions, contradiction: k.contradiction})
	}
	v := criterionVersions(m, c)
	if s.versions[k][v] {
		return
	}
	s.versions[k][v] = true
	a := &s.list[i]
	if len(a.criteria) < maxNamedVersions {
		a.criteria = append(a.criteria, m)
		a.versions = append(a.versions, v)
	} else {
		a.otherCriteria++
	}
}

// matchConfigs matches the query of p against a record's configurations.
// It returns confirmed true when a vulnerable criterion matches it with
// its version and every companion of that criterion is known to match,
// or, for a criterion that a negated configuration covers, the
// configuration is known to be true (matchNegated). Otherwise it returns
// the ways in which the configurations possibly match, grouped by outcome
// and platforms, none when they do not match at all.
func (p *platformCheck) matchConfigs(configs []nvdConfig) (confirmed bool, possible []cpeAlternative) {
	var set alternativeSet
	for _, c := range configs {
		cc := newConfigCheck(c)
		for ni := range cc.nodes {
			nc := &cc.nodes[ni]
			// A vulnerable criterion inside a negated node contradicts its
			// node, so it is never confirmed. Dropping it could hide a
			// vulnerability that the record means to report, so it counts
			// as possibly affected. Only a node that holds for certain and
			// carves an exception out of the vulnerable criteria of a node
			// that it is ANDed with, for the queried product, as in
			// "widget below 2.0 but not 1.5", rules the system out. In a
			// negated configuration, matchNegated decides the rest.
			if nc.node.Negate && nc.holds(p) == nodeFails && cc.vulnerableOutside(ni, p.query.key()) {
				continue
			}
			negated := cc.describeNegated(ni)
			for mi, m := range nc.node.CPEMatch {
				if !m.Vulnerable || !nc.parsed(mi) {
					continue
				}
				level := m.matchParsed(nc.names[mi], p.query)
				if level == cpeNoMatch {
					continue
				}
				if cc.config.Negate && nc.node.Negate {
					if cc.matchNegated(p, ni, mi, level, &set) {
						return true, nil
					}
					continue
				}
				platforms, exceptions, excluded := cc.companions(p, ni, mi)
				if excluded {
					continue
				}
				if level == cpeMatchConfirmed && len(platforms) == 0 && len(exceptions) == 0 && negated == "" {
					return true, nil
				}
				k := alternativeKey{level: level, platforms: strings.Join(platforms, " and on "), negated: negated,
					exceptions: strings.Join(exceptions, " or ")}
				set.add(k, m, nc.names[mi])
			}
		}
	}
	return false, set.list
}

// possibleReason builds the reason why a record possibly affects the query
// q, from the ways in which its configurations match q. It gives one clause
// per outcome, joined with "or": the platforms of a match whose version is
// confirmed, and each version doubt with the platforms it needs. A way that
// needs the same platforms as one with a confirmed version, or that needs
// platforms while another of the same outcome needs none, adds nothing and
// is left out. A match inside a negated node gets a clause of its own
// (negatedReason), and so do one that a negated node of the same product
// may except (exceptionReason) and one that a negated configuration
// contradicts (contradictionReason).
func possibleReason(q cpeName, alternatives []cpeAlternative) string {
	product, version := unescapeCPE(q.key()), shortVersion(unescapeCPE(q.Version))
	subject := product
	if version != "*" && version != "-" {
		subject += " " + version
	}
	confirmedOn := map[string]bool{}
	for _, a := range alternatives {
		if a.level == cpeMatchConfirmed && !a.qualified() {
			confirmedOn[a.platforms] = true
		}
	}
	var clauses []string
	for _, level := range []cpeMatch{cpeMatchConfirmed, cpeMatchNoVersion, cpeMatchAnyVersion, cpeMatchIncomparable} {
		var group []cpeAlternative
		var phrases []string
		anyPlatform := false
		for _, a := range alternatives {
			if a.qualified() || a.level != level || (level != cpeMatchConfirmed && confirmedOn[a.platforms]) {
				continue
			}
			group = append(group, a)
			if a.platforms == "" {
				anyPlatform = true
			} else if !slices.Contains(phrases, a.platforms) {
				phrases = append(phrases, a.platforms)
			}
		}
		if len(group) == 0 {
			continue
		}
		platforms := "only when running on " + joinNamed(phrases, ", or on ", "platforms")
		switch {
		case level == cpeMatchConfirmed:
			clauses = append(clauses, fmt.Sprintf("the record affects %s %s", subject, platforms))
		case anyPlatform:
			clauses = append(clauses, versionDoubt(q, level, group))
		default:
			clauses = append(clauses, versionDoubt(q, level, group)+", and the record affects it "+platforms)
		}
	}
	for _, a := range alternatives {
		var clause string
		switch {
		case a.negated != "":
			clause = negatedReason(q, subject, a)
		case a.exceptions != "":
			clause = exceptionReason(q, subject, a)
		case a.contradiction != "":
			clause = contradictionReason(q, subject, a)
		default:
			continue
		}
		if !slices.Contains(clauses, clause) {
			clauses = append(clauses, clause)
		}
	}
	return strings.Join(clauses, ", or ")
}

// qualified reports whether the alternative is a match inside a negated
// node, one that a negated node of the same product may except, or one
// that a negated configuration contradicts, which get a clause of their
// own.
func (a cpeAlternative) qualified() bool {
	return a.negated != "" || a.exceptions != "" || a.contradiction != ""
}

// negatedReason builds the reason why the alternative a, a match of the
// query q (named subject) through a vulnerable criterion inside a negated
// node, leaves q possibly affected. The negation both
// names the criterion as vulnerable and excludes what it matches, so the
// record contradicts itself.
func negatedReason(q cpeName, subject string, a cpeAlternative) string {
	var clause string
	if a.level == cpeMatchConfirmed {
		clause = fmt.Sprintf("the record excludes %s, so whether %s is affected could not be decided",
			a.negated, subject)
	} else {
		clause = versionDoubt(q, a.level, []cpeAlternative{a}) +
			fmt.Sprintf(", and the record excludes %s", a.negated)
	}
	if a.exceptions != "" {
		clause += ", as an exception of " + a.exceptions
	}
	if a.platforms != "" {
		clause += ", and the record affects it only when running on " + a.platforms
	}
	return clause
}

// exceptionReason builds the reason why the alternative a, a match of the
// query q (named subject) that a negated node of the same product may
// except, leaves q possibly affected. Either the exception cannot be
// checked against the query, or the query's version is in doubt too.
func exceptionReason(q cpeName, subject string, a cpeAlternative) string {
	var clause string
	if a.level == cpeMatchConfirmed {
		affected := unescapeCPE(q.key())
		if versions := affectedVersions([]cpeAlternative{a}); versions != "" {
			affected += " " + versions
		}
		clause = fmt.Sprintf("the record affects %s except %s, and whether %s lies in that exception could not be decided",
			affected, a.exceptions, subject)
	} else {
		clause = versionDoubt(q, a.level, []cpeAlternative{a}) +
			fmt.Sprintf(", and the record excludes %s from the affected versions", a.exceptions)
	}
	if a.platforms != "" {
		clause += ", and the record affects it only when running on " + a.platforms
	}
	return clause
}

// versionDoubt builds the reason why the version of the query q could not
// be checked against the criteria of the alternatives of level.
func versionDoubt(q cpeName, level cpeMatch, alternatives []cpeAlternative) string {
	product, version := unescapeCPE(q.key()), unescapeCPE(q.Version)
	switch level {
	case cpeMatchNoVersion:
		return fmt.Sprintf("the record names %s without a version (CPE version \"-\"), so version %s could not be compared",
			product, shortVersion(version))
	case cpeMatchAnyVersion:
		return fmt.Sprintf("no version of %s was given (CPE version \"*\"), so it could not be compared with the affected versions %s",
			product, affectedVersions(alternatives))
	case cpeMatchIncomparable:
		var others []string
		for _, a := range alternatives {
			for _, m := range a.criteria {
				others = append(others, criterionBoundVersions(m)...)
			}
		}
		return fmt.Sprintf("version %s of %s could not be compared with the affected versions %s, because %s",
			shortVersion(version), product, affectedVersions(alternatives), cpeVersionDoubts(version, others))
	}
	return ""
}

// criterionBoundVersions returns the version that the criterion m names,
// if any, and the versions of its range bounds.
func criterionBoundVersions(m nvdCPEMatch) []string {
	out := m.rangeVersions()
	if c, err := parseCPE(m.Criteria); err == nil && c.Version != "*" && c.Version != "-" {
		out = append(out, unescapeCPE(c.Version))
	}
	return out
}

// affectedVersions describes the affected versions of the criteria of the
// alternatives, such as "<2.0" or "1.2, 1.3 or 3 other versions".
func affectedVersions(alternatives []cpeAlternative) string {
	var versions []string
	others := 0
	for _, a := range alternatives {
		others += a.otherCriteria
		for _, v := range a.versions {
			if !slices.Contains(versions, v) {
				versions = append(versions, v)
			}
		}
	}
	if len(versions) > maxNamedVersions {
		others += len(versions) - maxNamedVersions
		versions = versions[:maxNamedVersions]
	}
	text := strings.Join(versions, ", ")
	if others > 0 {
		text += fmt.Sprintf(" or %d other versions", others)
	}
	return text
}

// criterionVersions describes the versions that the criterion m, whose
// name is c, covers, such as "1.2" or ">=1.0 <2.0".
func criterionVersions(m nvdCPEMatch, c cpeName) string {
	if c.Product != "" && c.Version != "*" && c.Version != "-" {
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

// maxNamedPlatforms is the number of platforms that a description names
// before it counts the rest, since a node may list hundreds of hardware
// models.
const maxNamedPlatforms = 5

// joinNamed joins the first maxNamedPlatforms names with sep and counts
// the rest as "N other" followed by noun.
func joinNamed(names []string, sep, noun string) string {
	if len(names) <= maxNamedPlatforms {
		return strings.Join(names, sep)
	}
	return strings.Join(names[:maxNamedPlatforms], sep) + fmt.Sprintf("%s%d other %s", sep, len(names)-maxNamedPlatforms, noun)
}

// describeNode describes the criteria of a node, such as
// "microsoft:windows or apple:macos". It names the first maxNamedPlatforms
// distinct criteria and counts the rest. parsed contains the criteria parsed,
// as nodeCheck.names does, or is nil.
func describeNode(n nvdNode, parsed []cpeName) string {
	var names []string
	seen := map[string]bool{}
	for i, m := range n.CPEMatch {
		var d string
		if parsed != nil {
			d = describeParsed(m, parsed[i], parsed[i].Product != "")
		} else {
			d = describePlatform(m)
		}
		if !seen[d] {
			seen[d] = true
			names = append(names, d)
		}
	}
	sep := " or "
	if isAND(n.Operator) {
		sep = " and "
	}
	text := joinNamed(names, sep, "platforms")
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
	return describeParsed(m, c, err == nil)
}

// describeParsed is describePlatform for the criterion's name c, parsed
// already, or the criterion's text when ok is false.
func describeParsed(m nvdCPEMatch, c cpeName, ok bool) string {
	if !ok {
		return m.Criteria
	}
	parts := []string{unescapeCPE(c.key())}
	if v := unescapeCPE(c.Version); v != "*" && v != "-" {
		parts = append(parts, v)
	}
	parts = append(parts, m.bounds()...)
	return strings.Join(parts, " ")
}
