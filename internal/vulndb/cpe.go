package vulndb

import (
	"errors"
	"fmt"
	"strings"

	ver "github.com/aquasecurity/go-version/pkg/version"
)

// cpeName is a CPE 2.3 formatted string split into its eleven attributes.
// Attribute values keep their escapes. "*" is ANY and "-" is NA.
type cpeName struct {
	Part, Vendor, Product, Version, Update string
	rest                                   [6]string
}

// parseCPE splits a CPE 2.3 formatted string ("cpe:2.3:a:vendor:product:
// version:..."). Missing trailing attributes count as ANY.
func parseCPE(s string) (cpeName, error) {
	if !strings.HasPrefix(s, "cpe:2.3:") {
		return cpeName{}, errors.New(`a CPE 2.3 name starts with "cpe:2.3:"`)
	}
	var attrs []string
	var cur strings.Builder
	escaped := false
	for _, r := range s[len("cpe:2.3:"):] {
		switch {
		case escaped:
			cur.WriteRune('\\')
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == ':':
			attrs = append(attrs, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	attrs = append(attrs, cur.String())
	if len(attrs) > 11 {
		return cpeName{}, fmt.Errorf("CPE has %d attributes; CPE 2.3 has 11", len(attrs))
	}
	for len(attrs) < 11 {
		attrs = append(attrs, "*")
	}
	for i, a := range attrs {
		if a == "" {
			attrs[i] = "*"
		}
	}
	if attrs[1] == "*" || attrs[2] == "*" {
		return cpeName{}, errors.New("CPE lacks a vendor or product")
	}
	c := cpeName{Part: attrs[0], Vendor: strings.ToLower(attrs[1]), Product: strings.ToLower(attrs[2]),
		Version: attrs[3], Update: attrs[4]}
	copy(c.rest[:], attrs[5:])
	return c, nil
}

// key is the index key of the CPE: vendor and product.
func (c cpeName) key() string { return c.Vendor + ":" + c.Product }

// unescapeCPE removes CPE 2.3 backslash escapes from a value.
func unescapeCPE(s string) string { return strings.ReplaceAll(s, "\\", "") }

// matchAttr reports whether a criterion value covers the query value.
func matchAttr(criterion, query string) bool {
	if criterion == "*" || query == "*" {
		return true
	}
	return strings.EqualFold(unescapeCPE(criterion), unescapeCPE(query))
}

// matches reports whether the criterion m covers the CPE q, honouring the
// version range bounds. A query without a version matches every criterion
// of the product.
func (m nvdCPEMatch) matches(q cpeName) bool {
	c, err := parseCPE(m.Criteria)
	if err != nil || !m.Vulnerable {
		return false
	}
	if c.key() != q.key() || !matchAttr(c.Part, q.Part) || !matchAttr(c.Update, q.Update) {
		return false
	}
	for i := range c.rest {
		if !matchAttr(c.rest[i], q.rest[i]) {
			return false
		}
	}
	qv := unescapeCPE(q.Version)
	if qv == "*" || qv == "-" {
		return true
	}
	if c.Version != "*" && c.Version != "-" {
		return compareCPEVersion(unescapeCPE(c.Version), qv) == 0
	}
	return m.inRange(qv)
}

func (m nvdCPEMatch) inRange(v string) bool {
	bounds := []struct {
		bound string
		ok    func(int) bool
	}{
		{m.VersionStartIncluding, func(c int) bool { return c >= 0 }},
		{m.VersionStartExcluding, func(c int) bool { return c > 0 }},
		{m.VersionEndIncluding, func(c int) bool { return c <= 0 }},
		{m.VersionEndExcluding, func(c int) bool { return c < 0 }},
	}
	for _, b := range bounds {
		if b.bound != "" && !b.ok(compareCPEVersion(v, b.bound)) {
			return false
		}
	}
	return true
}

// compareCPEVersion orders CPE versions, which follow no single scheme:
// dotted versions compare numerically (go-version's generic ordering) and
// anything it cannot parse compares as text.
func compareCPEVersion(a, b string) int {
	va, errA := ver.Parse(a)
	vb, errB := ver.Parse(b)
	if errA == nil && errB == nil {
		return va.Compare(vb)
	}
	return strings.Compare(a, b)
}
