package vulndb

import (
	"fmt"
	"strings"
)

// A vulnerable criterion that a configuration's negate covers, such as the
// widget in "not (widget <2.0 and Windows)", names the product that the
// record is about, but the configuration is true only where the criterion
// or one of its companions does not match. matchNegated decides such a
// match by the truth value of the whole configuration. With the query
// inside the criterion, "not (widget and Windows)" is true off Windows and
// false on it.

// truth is a three-valued truth value (true, false or unknown) of a
// criterion, node or configuration.
type truth int8

const (
	truthUnknown truth = iota
	truthHolds
	truthFails
)

// coverage returns which criteria of the node a CPE of p matches, checked
// as holds checks them, and how many. A criterion that does not parse is
// never covered.
//
// NOTE: unlike negatedHolds, coverage treats a criterion of the queried
// product as a platform. A CPE of the present set can cover it, and a
// query outside it leaves it unknown instead of false.
func (nc *nodeCheck) coverage(p *platformCheck) ([]bool, int) {
	if !nc.coverageKnown {
		nc.covered = make([]bool, len(nc.node.CPEMatch))
		for i, m := range nc.node.CPEMatch {
			if nc.parsed(i) && p.covers(m, nc.names[i], nc.node.Negate) {
				nc.covered[i] = true
				nc.coveredCount++
			}
		}
		nc.coverageKnown = true
	}
	return nc.covered, nc.coveredCount
}

// truthWith returns the truth value of the node when known of its criteria
// are true and the others are unknown. Because no CPE shows that a product
// is absent, it finds a node without negate only true or unknown, and a
// negated node only false or unknown.
func (nc *nodeCheck) truthWith(known int) truth {
	matched := known > 0
	if isAND(nc.node.Operator) {
		matched = known == len(nc.node.CPEMatch)
	}
	switch {
	case !matched:
		return truthUnknown
	case nc.node.Negate:
		return truthFails
	}
	return truthHolds
}

// negatedTruth returns the truth value of the configuration, in the form
// that newConfigCheck gives a negated one, with criterion crit of node self
// set to critValue (truthHolds or truthUnknown). With othersKnown, the
// other criteria that coverage finds are true and the rest unknown.
// Without it, all other criteria are unknown.
func (cc *configCheck) negatedTruth(p *platformCheck, self, crit int, critValue truth, othersKnown bool) truth {
	sawUnknown := false
	for i := range cc.nodes {
		nc := &cc.nodes[i]
		if len(nc.node.CPEMatch) == 0 {
			continue
		}
		known := 0
		if othersKnown {
			covered, count := nc.coverage(p)
			known = count
			if i == self && covered[crit] {
				known--
			}
		}
		if i == self && critValue == truthHolds {
			known++
		}
		switch v := nc.truthWith(known); {
		case v == truthUnknown:
			sawUnknown = true
		case v == truthFails && cc.and:
			return truthFails
		case v == truthHolds && !cc.and:
			return truthHolds
		}
	}
	switch {
	case sawUnknown:
		return truthUnknown
	case cc.and:
		return truthHolds
	}
	return truthFails
}

// negatedConditions describes the nodes that decide whether the
// configuration is true, given that criterion crit of node self matches.
// These are the nodes whose truth value the CPEs of p leave unknown, and
// of node self only the criteria other than crit that coverage does not
// find.
func (cc *configCheck) negatedConditions(p *platformCheck, self, crit int) []string {
	var out []string
	for i := range cc.nodes {
		nc := &cc.nodes[i]
		if len(nc.node.CPEMatch) == 0 {
			continue
		}
		covered, count := nc.coverage(p)
		known := count
		if i == self && !covered[crit] {
			known++
		}
		if nc.truthWith(known) != truthUnknown {
			continue
		}
		if i != self {
			out = append(out, nc.describe())
			continue
		}
		// An AND node "not (widget and Windows)" with the widget present
		// is true off Windows.
		rest := nvdNode{Operator: nc.node.Operator, Negate: nc.node.Negate}
		var names []cpeName
		for j, m := range nc.node.CPEMatch {
			if j != crit && !covered[j] {
				rest.CPEMatch = append(rest.CPEMatch, m)
				names = append(names, nc.names[j])
			}
		}
		out = append(out, describeNode(rest, names))
	}
	return out
}

// matchNegated adds to set how the vulnerable criterion crit of node self
// matches the query of p at level, where the configuration's negate
// covers the criterion. It returns true when the match is confirmed.
//
// The configuration rules the query out where it is false for certain.
// The criteria other than crit can make it false alone, as "neither widget
// nor Windows" does on a system with Windows, or together with crit, as
// "not (widget and Windows)" does. A configuration that is false wherever
// crit matches, such as "not widget", names the widget as vulnerable and
// excludes it at once. Such a record contradicts itself, and dropping it
// could hide the vulnerability that it means to report, so it stays
// possibly affected. A version in doubt does not keep a record that is
// false with crit, because the query then lies outside crit or is ruled
// out.
func (cc *configCheck) matchNegated(p *platformCheck, self, crit int, level cpeMatch, set *alternativeSet) bool {
	nc := &cc.nodes[self]
	m, name := nc.node.CPEMatch[crit], nc.names[crit]
	if cc.negatedTruth(p, self, crit, truthUnknown, true) == truthFails {
		return false
	}
	if cc.negatedTruth(p, self, crit, truthHolds, false) == truthFails {
		set.add(alternativeKey{level: level, contradiction: cc.formula()}, m, name)
		return false
	}
	switch cc.negatedTruth(p, self, crit, truthHolds, true) {
	case truthFails:
		return false
	case truthHolds:
		if level == cpeMatchConfirmed {
			return true
		}
		set.add(alternativeKey{level: level}, m, name)
		return false
	}
	conditions := cc.negatedConditions(p, self, crit)
	if cc.and {
		set.add(alternativeKey{level: level, platforms: strings.Join(conditions, " and on ")}, m, name)
		return false
	}
	for _, c := range conditions {
		set.add(alternativeKey{level: level, platforms: c}, m, name)
	}
	return false
}

// formula returns the negated configuration written as a formula of its
// nodes, such as "not (acme:widget <2.0 and microsoft:windows)", and
// caches it.
func (cc *configCheck) formula() string {
	if cc.formulaText != "" {
		return cc.formulaText
	}
	var parts []string
	for i, n := range cc.config.Nodes {
		if len(n.CPEMatch) == 0 {
			continue
		}
		plain := n
		plain.Negate = false
		d := describeNode(plain, cc.nodes[i].names)
		switch {
		case n.Negate:
			d = "not (" + d + ")"
		case len(n.CPEMatch) > 1 && len(cc.config.Nodes) > 1:
			d = "(" + d + ")"
		}
		parts = append(parts, d)
	}
	sep := " or "
	if isAND(cc.config.Operator) {
		sep = " and "
	}
	cc.formulaText = "not (" + joinNamed(parts, sep, "nodes") + ")"
	return cc.formulaText
}

// contradictionReason builds the reason why the alternative a leaves the
// query q (named subject) possibly affected. The alternative matches q
// through a vulnerable criterion that its negated configuration excludes
// wherever the criterion matches.
func contradictionReason(q cpeName, subject string, a cpeAlternative) string {
	named := unescapeCPE(q.key())
	if versions := affectedVersions([]cpeAlternative{a}); versions != "" {
		named += " " + versions
	}
	because := fmt.Sprintf("because its negated configuration %s excludes %s, which it names as vulnerable",
		a.contradiction, named)
	if a.level == cpeMatchConfirmed {
		return fmt.Sprintf("the record contradicts itself about %s, %s", subject, because)
	}
	return versionDoubt(q, a.level, []cpeAlternative{a}) + ", and the record contradicts itself, " + because
}
