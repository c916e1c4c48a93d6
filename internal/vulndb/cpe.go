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

// cpeAttributeNames are the names of the eleven CPE 2.3 attributes, in order.
var cpeAttributeNames = [11]string{"part", "vendor", "product", "version", "update", "edition",
	"language", "sw_edition", "target_sw", "target_hw", "other"}

// ValidateCPE checks a CPE 2.3 formatted string, or a CPE 2.2 URI, to look
// up: the attribute count, a vendor and product, and a part of a
// (application), o (operating system), h (hardware) or *. In a formatted
// string it also checks that each value uses only letters, digits, "_",
// "-", ".", the wildcards "*" and "?", and printable punctuation escaped
// with a backslash. A problem is an error wrapping errdef.ErrInvalidArgument.
func ValidateCPE(s string) error {
	const form = "cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*"
	c, err := parseCPEQuery(s)
	if err != nil {
		return invalidQuery("CPE %q is malformed: %v; write it as %s", s, err, form)
	}
	switch c.Part {
	case "a", "o", "h", "*":
	default:
		return invalidQuery("CPE %q: part %q is not a (application), o (operating system), h (hardware) or *; write it as %s",
			s, c.Part, form)
	}
	if strings.HasPrefix(strings.TrimSpace(s), "cpe:/") {
		// CPE 2.2 URIs percent-encode their punctuation instead.
		return nil
	}
	attrs := append([]string{c.Part, c.Vendor, c.Product, c.Version, c.Update}, c.rest[:]...)
	for i, a := range attrs {
		if bad, ok := invalidCPEChar(a); ok {
			return invalidQuery("CPE %q: attribute %s %q contains %q, which a CPE 2.3 formatted string does not allow; "+
				"write spaces as \"_\" and escape other punctuation with a backslash", s, cpeAttributeNames[i], a, bad)
		}
	}
	return nil
}

// invalidCPEChar returns the first character of a formatted-string
// attribute value that is neither allowed unescaped nor escaped.
func invalidCPEChar(v string) (rune, bool) {
	escaped := false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
			if r <= ' ' || r > '~' {
				return r, true
			}
		case r == '\\':
			escaped = true
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '_', r == '-', r == '.', r == '*', r == '?':
		default:
			return r, true
		}
	}
	return 0, false
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

// CPECriteria describes the vulnerable CPE match criteria of a record's
// NVD configurations, one line each, such as
// "cpe:2.3:a:webmproject:libwebp:*:*:*:*:*:*:*:* <1.3.2".
func (r *Record) CPECriteria() []string {
	var out []string
	for _, m := range recordCPEs(r) {
		if !m.Vulnerable {
			continue
		}
		var bounds []string
		switch {
		case m.VersionStartIncluding != "":
			bounds = append(bounds, ">="+m.VersionStartIncluding)
		case m.VersionStartExcluding != "":
			bounds = append(bounds, ">"+m.VersionStartExcluding)
		}
		switch {
		case m.VersionEndIncluding != "":
			bounds = append(bounds, "<="+m.VersionEndIncluding)
		case m.VersionEndExcluding != "":
			bounds = append(bounds, "<"+m.VersionEndExcluding)
		}
		out = append(out, strings.TrimSpace(m.Criteria+" "+strings.Join(bounds, " ")))
	}
	return out
}
