package vulndb

import "slices"

// SortEvents returns a copy of the events of a SEMVER or ECOSYSTEM range of
// an affected entry in the order that lookups walk them. They are sorted by
// version in the range's order, with the introduced "0" first, and events
// of equal versions stay in the record's order. Limit events sort by
// version too, and a limit "*" goes last. A SEMVER range is sorted in
// SemVer order, or in the ecosystem's order when that order parses every
// version and SemVer does not, as lookups compare it. When neither order
// parses every version, or for another range type such as GIT, the copy
// keeps the record's order, since such a version could sort anywhere.
func SortEvents(ecosystem, rangeType string, events []Event) []Event {
	out := slices.Clone(events)
	eco, known := ecosystemOrder(baseEcosystem(ecosystem))
	var orders []versionOrder
	switch rangeType {
	case "SEMVER":
		orders = []versionOrder{semverOrder}
		if known && eco.name != semverOrder.name {
			orders = append(orders, semverFallbackOrder(eco))
		}
	case "ECOSYSTEM":
		orders = []versionOrder{eco}
	}
	for _, order := range orders {
		if sorted, ok := sortEventsIn(order, out); ok {
			return sorted
		}
	}
	return out
}

// sortEventsIn sorts events in order, or reports ok false when the order
// cannot parse one of their versions. Events without a version go first.
func sortEventsIn(order versionOrder, events []Event) ([]Event, bool) {
	type sortable struct {
		ev     rangeEvent
		first  bool // without a version, or the introduced "0"
		last   bool // the limit "*"
		source Event
	}
	keyed := make([]sortable, len(events))
	for i, e := range events {
		ev, ok := newRangeEvent(e)
		s := sortable{ev: ev, source: e, first: !ok || (ev.kind == pkgEventIntroduced && ev.version == "0"),
			last: ok && ev.kind == pkgEventLimit && ev.version == noLimit}
		if !s.first && !s.last {
			v, err := order.parse(ev.version)
			if err != nil {
				return nil, false
			}
			s.ev.parsed = v
		}
		keyed[i] = s
	}
	slices.SortStableFunc(keyed, func(a, b sortable) int {
		switch {
		case a.first != b.first:
			if a.first {
				return -1
			}
			return 1
		case a.last != b.last:
			if a.last {
				return 1
			}
			return -1
		case !a.first && !a.last:
			if c := order.compare(a.ev.parsed, b.ev.parsed); c != 0 {
				return c
			}
		}
		return 0
	})
	out := make([]Event, len(keyed))
	for i, s := range keyed {
		out[i] = s.source
	}
	return out, true
}
