package vulndb

import (
	"fmt"
	"strings"
)

// A vulnerable criterion that a configuration's negate covers, such as the
// widget in "not (widget <2.0 and Windows)", names the product that the
// record is about, while the configuration holds only where the criterion
// or its companions do not. matchNegated decides such a match by the truth
// value of the whole configuration: with the query inside the criterion,
// "not (widget and Windows)" holds off Windows and fails on it.

// truth is a three-valued truth value of a node or configuration. A node
// is known to hold or fail only through the CPEs that the query and the
// present set give. No CPE shows that a product is absent, so a node
// without negate never fails and a negated node never holds.
type truth int8

const (
	truthUnknown truth = iota
	truthHolds
	truthFails
)

// coverage returns which criteria of the node hold through the CPEs of p,
// checked as holds checks them, and how many. A criterion that does not
// parse never holds.
//
// NOTE: unlike holds, coverage treats a criterion of the queried product
// as a platform: a CPE of the present set can make it hold, and a query
// outside it leaves it unknown instead of failing.
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
// hold and the others are unknown.
func (nc *nodeCheck) truthWith(known int) truth {
	holds := known > 0
	if isAND(nc.node.Operator) {
		holds = known == len(nc.node.CPEMatch)
	}
	switch {
	case !holds:
		return truthUnknown
	case nc.node.Negate:
		return truthFails
	}
	return truthHolds
}

// negatedTruth returns the truth value of the configuration, in the form
// that newConfigCheck gives a negated one, with criterion crit of node self
// set to critValue (truthHolds or truthUnknown). With othersKnown, the
// other criteria hold where coverage finds them to, else they are all
// unknown.
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

// negatedConditions describes the nodes whose truth value decides whether
// the configuration holds, given that criterion crit of node self holds:
// those that the CPEs of p neither make hold nor fail. Of node self only
// the criteria other than crit that coverage does not find count.
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
		// holds off Windows.
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
// The configuration rules the query out where it fails for certain: by
// the criteria other than crit alone, as "neither widget nor Windows" does
// on a system with Windows, or with crit as well, as "not (widget and
// Windows)" does. A configuration that fails wherever crit holds, such as
// "not widget", names the widget as vulnerable and excludes it at once.
// Such a record contradicts itself, and dropping it could hide the
// vulnerability that it means to report, so it stays possibly affected.
// A version in doubt does not keep a record that fails with crit: then the
// query lies outside crit or is ruled out.
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

// formula writes the negated configuration as a formula of its nodes, such
// as "not (acme:widget <2.0 and microsoft:windows)".
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

// contradictionReason builds the reason why the alternative a, a match of
// the query q (named subject) through a vulnerable criterion that its
// negated configuration excludes wherever the criterion holds, leaves q
// possibly affected.
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
