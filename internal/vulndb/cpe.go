package vulndb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// cpeName is a CPE 2.3 formatted string split into its eleven attributes.
// Attribute values keep their escapes. "*" is ANY and "-" is NA.
type cpeName struct {
	Part, Vendor, Product, Version, Update string
	rest                                   [6]string
}

// parseCPE splits a CPE 2.3 formatted string ("cpe:2.3:a:vendor:product:
// version:..."). Missing trailing attributes count as ANY. The prefix is
// compared without regard to case, and part, vendor and product are folded
// to lower case.
func parseCPE(s string) (cpeName, error) {
	const prefix = "cpe:2.3:"
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return cpeName{}, errors.New(`a CPE 2.3 name starts with "cpe:2.3:"`)
	}
	rest := s[len(prefix):]
	var buf [11]string
	var attrs []string
	if !strings.Contains(rest, `\`) && utf8.ValidString(rest) {
		attrs = splitCPEPlain(rest, &buf)
	} else {
		attrs = splitCPEEscaped(rest)
	}
	if len(attrs) > 11 {
		return cpeName{}, fmt.Errorf("CPE has %d attributes; CPE 2.3 has 11", len(attrs))
	}
	return cpeFromAttrs(attrs)
}

// splitCPEPlain splits the attributes of a CPE 2.3 name, after its
// prefix, that has no escapes and is valid UTF-8: they are the substrings
// between colons, and the first eleven share buf. It gives what
// splitCPEEscaped gives for such a name, without its copies.
func splitCPEPlain(rest string, buf *[11]string) []string {
	attrs := buf[:0]
	for {
		v, tail, more := strings.Cut(rest, ":")
		attrs = append(attrs, v)
		if !more {
			return attrs
		}
		rest = tail
	}
}

// splitCPEEscaped splits the attributes of a CPE 2.3 name, after its
// prefix, at the colons that no backslash escapes. Escapes are kept in the
// values, and invalid UTF-8 becomes U+FFFD.
func splitCPEEscaped(rest string) []string {
	var attrs []string
	var cur strings.Builder
	escaped := false
	for _, r := range rest {
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
	return append(attrs, cur.String())
}

// cpeFromAttrs makes a CPE name of up to eleven attributes, in order, and
// checks that it names a vendor and product. A missing or empty attribute
// is ANY ("*").
func cpeFromAttrs(attrs []string) (cpeName, error) {
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
	c := cpeName{Part: strings.ToLower(attrs[0]), Vendor: strings.ToLower(attrs[1]), Product: strings.ToLower(attrs[2]),
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
	if isCPEURI(s) {
		// parseCPEQuery has already checked and escaped the URI's values.
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

// CPEVersion returns the version attribute of a CPE 2.3 formatted string
// or CPE 2.2 URI without its escapes, and whether it is ANY ("*"). NA is
// returned as "-". A malformed CPE is an error wrapping
// errdef.ErrInvalidArgument.
func CPEVersion(cpe string) (version string, isAny bool, err error) {
	c, err := parseCPEQuery(cpe)
	if err != nil {
		return "", false, invalidQuery("CPE %q is malformed: %v", cpe, err)
	}
	return unescapeCPE(c.Version), c.Version == "*", nil
}

// WithCPEVersion returns cpe, a CPE 2.3 formatted string or CPE 2.2 URI,
// as a CPE 2.3 formatted string whose version attribute is version.
// Letters, digits, "-", "." and "_" are written as they are, and other
// printable ASCII characters are escaped with a backslash. This is the
// formatted string binding of the CPE 2.3 naming specification (NISTIR
// 7695), so "*" and "?" in version are not wildcards. A version of "-"
// alone is escaped too, so that it does not read as NA. A malformed CPE,
// and a version that is empty or contains a space, a control character or
// a character outside ASCII, which CPE cannot represent, are errors
// wrapping errdef.ErrInvalidArgument.
func WithCPEVersion(cpe, version string) (string, error) {
	c, err := parseCPEQuery(cpe)
	if err != nil {
		return "", invalidQuery("CPE %q is malformed: %v", cpe, err)
	}
	if version == "" {
		return "", invalidQuery("version for CPE %q is empty; give a version or leave the CPE's version as it is", cpe)
	}
	var b strings.Builder
	for i := 0; i < len(version); i++ {
		ch := version[i]
		if ch <= ' ' || ch > '~' {
			r, _ := utf8.DecodeRuneInString(version[i:])
			return "", invalidQuery("version %q cannot be written into CPE %q, because it contains %q and a CPE name allows "+
				"only printable ASCII characters other than space; write the version into the CPE, with \"_\" for a space",
				version, cpe, r)
		}
		writeCPEFSChar(&b, ch)
	}
	c.Version = b.String()
	if c.Version == "-" {
		c.Version = `\-`
	}
	return c.String(), nil
}

// String returns the CPE 2.3 formatted string of c.
func (c cpeName) String() string {
	attrs := append([]string{c.Part, c.Vendor, c.Product, c.Version, c.Update}, c.rest[:]...)
	return "cpe:2.3:" + strings.Join(attrs, ":")
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

// cpeMatch is the outcome of matching one CPE match criterion against a
// queried CPE.
type cpeMatch int

const (
	cpeNoMatch cpeMatch = iota
	// cpeMatchNoVersion is the outcome for a criterion with version "-"
	// (NA) and a query with a concrete version. NVD writes "-" for products
	// it lists without version numbers, so such a criterion neither
	// includes nor excludes the version.
	cpeMatchNoVersion
	// cpeMatchAnyVersion is the outcome for a query with version "*" (ANY)
	// and a criterion that covers only some versions: a fixed version or a
	// version range.
	cpeMatchAnyVersion
	// cpeMatchIncomparable is the outcome for a criterion whose version
	// or version range cannot be compared with the queried version,
	// because the CPE version order cannot parse or cannot order them,
	// and that no bound excludes.
	cpeMatchIncomparable
	cpeMatchConfirmed
)

// coversVersion reports whether an outcome shows that a criterion covers
// the queried CPE as a platform. A platform criterion with version "-"
// covers every version of the platform.
func (o cpeMatch) coversVersion() bool {
	return o == cpeMatchConfirmed || o == cpeMatchNoVersion
}

// match returns the outcome of matching the vulnerable criterion m against
// the CPE q, honouring the version range bounds. A criterion with
// vulnerable false never matches.
func (m nvdCPEMatch) match(q cpeName) cpeMatch {
	if !m.Vulnerable {
		return cpeNoMatch
	}
	return m.matchName(q)
}

// matchName is match without the vulnerable flag, so it also tests
// whether a platform criterion covers a CPE.
func (m nvdCPEMatch) matchName(q cpeName) cpeMatch {
	c, err := parseCPE(m.Criteria)
	if err != nil {
		return cpeNoMatch
	}
	return m.matchParsed(c, q)
}

// matchParsed is matchName for the criterion's name c, parsed already.
func (m nvdCPEMatch) matchParsed(c, q cpeName) cpeMatch {
	if c.key() != q.key() || !matchAttr(c.Part, q.Part) || !matchAttr(c.Update, q.Update) {
		return cpeNoMatch
	}
	for i := range c.rest {
		if !matchAttr(c.rest[i], q.rest[i]) {
			return cpeNoMatch
		}
	}
	// The version is compared without escapes, but ANY and NA are only
	// the unescaped "*" and "-", because an escaped "\*" is a literal
	// asterisk.
	qv := unescapeCPE(q.Version)
	switch {
	case q.Version == "*":
		// A query without a version is covered for certain only by a
		// criterion that covers every version of the product.
		if (c.Version == "*" || c.Version == "-") && !m.hasRange() {
			return cpeMatchConfirmed
		}
		return cpeMatchAnyVersion
	case q.Version == "-":
		// "-" (not applicable) names a product without versions, so no
		// fixed version and no version range can include it.
		return confirmedIf((c.Version == "*" || c.Version == "-") && !m.hasRange())
	case c.Version == "-":
		if m.versionInRange(qv) == rangeExcludes {
			return cpeNoMatch
		}
		return cpeMatchNoVersion
	case c.Version != "*":
		// A criterion that names one version matches that version only.
		// Versions that the CPE version order cannot parse match when
		// their text is equal. Versions that it parses but cannot order,
		// such as "1.1.1k-fips" against "1.1.1k", may be the same.
		cv := unescapeCPE(c.Version)
		joined := matchJoinedUpdate(c, q)
		if joined == joinedEqual {
			return cpeMatchConfirmed
		}
		order, ok := compareCPEVersion(cv, qv)
		switch {
		case ok:
			return confirmedIf(order == 0)
		case joined == joinedOtherPatch:
			return cpeNoMatch
		case cpeVersionComparable(cv) && cpeVersionComparable(qv):
			return cpeMatchIncomparable
		}
		return cpeNoMatch
	}
	switch m.versionInRange(qv) {
	case rangeIncludes:
		return cpeMatchConfirmed
	case rangeUnknown:
		return cpeMatchIncomparable
	}
	return cpeNoMatch
}

// joinedUpdate is the outcome of comparing the version of a query or
// criterion with the version and update of the other written as one
// version.
type joinedUpdate int

const (
	joinedUnknown joinedUpdate = iota
	// joinedEqual is the outcome for a version that is the other's version
	// followed by its update, such as "7.4p1" for version "7.4" and update
	// "p1".
	joinedEqual
	// joinedOtherPatch is the outcome for a patch, such as "7.4p2", that
	// the CPE version order places before or after the other's version and
	// update joined, such as "7.4p1".
	joinedOtherPatch
)

// cpeUpdateSeparators are the separators with which a version and an
// update are joined into one version: none ("7.4p1"), "-" ("2.0-beta9"),
// "_" or ".".
var cpeUpdateSeparators = []string{"", "-", "_", "."}

// matchJoinedUpdate compares one version with another version and update
// written as one version. NVD often writes a patch or pre-release in the update
// attribute, as in "openssh:7.4:p1" or "log4j:2.0:beta9", while a query,
// such as one built from an SBOM version, writes it into the version, as
// in "openssh:7.4p1" with update ANY. Some criteria do the same, and a
// query may give the update apart. So either the criterion c or the query
// q names a version and an update, and the other names a version with
// update ANY. Versions are equal when their text is equal, ignoring case,
// or when the CPE version order finds them equal.
func matchJoinedUpdate(c, q cpeName) joinedUpdate {
	switch {
	case q.Update == "*" && isCPEValue(c.Update) && isCPEValue(c.Version):
		return compareJoinedUpdate(unescapeCPE(c.Version), unescapeCPE(c.Update), unescapeCPE(q.Version))
	case c.Update == "*" && isCPEValue(q.Update) && isCPEValue(q.Version):
		return compareJoinedUpdate(unescapeCPE(q.Version), unescapeCPE(q.Update), unescapeCPE(c.Version))
	}
	return joinedUnknown
}

// isCPEValue reports whether attr is a value rather than ANY or NA.
func isCPEValue(attr string) bool { return attr != "*" && attr != "-" }

// compareJoinedUpdate compares version and update joined with other, a
// version that may carry an update in itself.
func compareJoinedUpdate(version, update, other string) joinedUpdate {
	ordered := false
	for _, sep := range cpeUpdateSeparators {
		order, ok := compareCPEVersion(version+sep+update, other)
		if ok && order == 0 {
			return joinedEqual
		}
		ordered = ordered || ok
	}
	// A patch of another number, such as "7.4p2" against "7.4" with update
	// "p1", is another release. The version "7.4" alone cannot tell,
	// because a patch may count as its release itself. A tagged version,
	// such as "7.4-fips", still may be any update.
	if p, ok := parseCPEVersion(other); ok && ordered && p.patch != "" && p.tag == "" {
		return joinedOtherPatch
	}
	return joinedUnknown
}

func confirmedIf(ok bool) cpeMatch {
	if ok {
		return cpeMatchConfirmed
	}
	return cpeNoMatch
}

// hasRange reports whether the criterion bounds its versions.
func (m nvdCPEMatch) hasRange() bool {
	return m.VersionStartIncluding != "" || m.VersionStartExcluding != "" ||
		m.VersionEndIncluding != "" || m.VersionEndExcluding != ""
}

// rangeResult is the outcome of checking a version against the version
// range bounds of a criterion.
type rangeResult int

const (
	rangeExcludes rangeResult = iota
	rangeIncludes
	// rangeUnknown is the outcome when no bound excludes the version but
	// at least one cannot be compared with it.
	rangeUnknown
)

// versionInRange checks v against the criterion's version range bounds.
// One bound that excludes v decides, also when another cannot be compared
// with it.
func (m nvdCPEMatch) versionInRange(v string) rangeResult {
	bounds := []struct {
		bound string
		ok    func(int) bool
	}{
		{m.VersionStartIncluding, func(c int) bool { return c >= 0 }},
		{m.VersionStartExcluding, func(c int) bool { return c > 0 }},
		{m.VersionEndIncluding, func(c int) bool { return c <= 0 }},
		{m.VersionEndExcluding, func(c int) bool { return c < 0 }},
	}
	result := rangeIncludes
	for _, b := range bounds {
		if b.bound == "" {
			continue
		}
		order, ok := compareCPEVersion(v, b.bound)
		switch {
		case !ok:
			result = rangeUnknown
		case !b.ok(order):
			return rangeExcludes
		}
	}
	return result
}

// CPECriteria describes the vulnerable CPE match criteria of a record's
// NVD configurations, one line each, such as
// "cpe:2.3:a:webmproject:libwebp:*:*:*:*:*:*:*:* <1.3.2". A criterion that
// its configuration combines with a platform by AND ends with the
// platform, such as "when running on microsoft:windows". One from which a
// negated node of the same product makes an exception ends with that
// exception, such as "except acme:widget 1.5". A criterion that a negation covers is
// marked "inside a negated node", or "inside the negated configuration"
// and the configuration's formula, such as "not (acme:widget <2.0 or
// microsoft:windows)". A node negated inside a negated configuration
// counts as not negated.
func (r *Record) CPECriteria() []string {
	var out []string
	for _, c := range recordConfigs(r) {
		cc := newConfigCheck(c)
		for ni, n := range c.Nodes {
			for mi, m := range n.CPEMatch {
				if !m.Vulnerable {
					continue
				}
				line := strings.TrimSpace(m.Criteria + " " + strings.Join(m.bounds(), " "))
				negated := cc.nodes[ni].node.Negate
				if negated && c.Negate {
					out = append(out, line+" inside the negated configuration "+cc.formula())
					continue
				}
				platforms, exceptions, _ := cc.companions(nil, ni, mi)
				var qualifiers []string
				switch {
				case negated && len(exceptions) > 0:
					qualifiers = append(qualifiers, "inside a negated node that excepts it from "+strings.Join(exceptions, " or "))
				case negated:
					qualifiers = append(qualifiers, "inside a negated node")
				case len(exceptions) > 0:
					qualifiers = append(qualifiers, "except "+strings.Join(exceptions, " or "))
				}
				if len(platforms) > 0 {
					qualifiers = append(qualifiers, "when running on "+strings.Join(platforms, " and on "))
				}
				if len(qualifiers) > 0 {
					line += " " + strings.Join(qualifiers, ", ")
				}
				out = append(out, line)
			}
		}
	}
	return out
}

// bounds describes the criterion's version range, such as [">=1.0", "<2.0"].
func (m nvdCPEMatch) bounds() []string {
	var out []string
	switch {
	case m.VersionStartIncluding != "":
		out = append(out, ">="+m.VersionStartIncluding)
	case m.VersionStartExcluding != "":
		out = append(out, ">"+m.VersionStartExcluding)
	}
	switch {
	case m.VersionEndIncluding != "":
		out = append(out, "<="+m.VersionEndIncluding)
	case m.VersionEndExcluding != "":
		out = append(out, "<"+m.VersionEndExcluding)
	}
	return out
}

// rangeVersions returns the versions of the criterion's range bounds.
func (m nvdCPEMatch) rangeVersions() []string {
	var out []string
	for _, v := range []string{m.VersionStartIncluding, m.VersionStartExcluding, m.VersionEndIncluding, m.VersionEndExcluding} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// cpeURIPrefix starts a CPE 2.2 URI, such as "cpe:/a:webmproject:libwebp:1.3.1".
const cpeURIPrefix = "cpe:/"

// isCPEURI reports whether s is written as a CPE 2.2 URI. The scheme is
// compared without regard to case.
func isCPEURI(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= len(cpeURIPrefix) && strings.EqualFold(s[:len(cpeURIPrefix)], cpeURIPrefix)
}

// parseCPEQuery accepts a CPE 2.3 formatted string or a CPE 2.2 URI. A URI
// is first converted to the formatted string binding by cpeURIToFS.
func parseCPEQuery(s string) (cpeName, error) {
	s = strings.TrimSpace(s)
	if isCPEURI(s) {
		fs, err := cpeURIToFS(s)
		if err != nil {
			return cpeName{}, err
		}
		s = fs
	}
	return parseCPE(s)
}

// cpeURIToFS converts a CPE 2.2 URI to a CPE 2.3 formatted string, by the
// URI unbinding and formatted string binding rules of the CPE 2.3 naming
// specification (NISTIR 7695):
//
//   - The URI has at most seven components: part, vendor, product, version,
//     update, edition and language. A missing or empty one is ANY ("*").
//   - A lone "-" is NA, and values are folded to lower case.
//   - "%01" and "%02" are the wildcards "?" and "*". Any other "%xx" is the
//     character with that hex code, escaped with a backslash in the
//     formatted string unless it is "-", "." or "_".
//   - An edition that starts with "~" packs five attributes as
//     "~edition~sw_edition~target_sw~target_hw~other".
//
// It also accepts printable punctuation written unencoded, such as "&" in
// place of "%26", and a lone "*" as ANY.
func cpeURIToFS(uri string) (string, error) {
	rest := strings.TrimSpace(uri)[len(cpeURIPrefix):]
	comps := strings.Split(rest, ":")
	if len(comps) > 7 {
		return "", fmt.Errorf("CPE 2.2 URI has %d components, but it has at most 7 "+
			"(part, vendor, product, version, update, edition, language)", len(comps))
	}
	for len(comps) < 7 {
		comps = append(comps, "")
	}

	// attrs is in CPE 2.3 order. The URI components fill indexes 0 to 6
	// (edition is 5, language 6), and a packed edition fills 5 and 7 to 10.
	attrs := make([]string, 11)
	for i := range attrs {
		attrs[i] = "*"
	}
	for i, comp := range comps {
		if i == 5 && strings.HasPrefix(comp, "~") {
			if err := unpackCPEEdition(comp, attrs); err != nil {
				return "", err
			}
			continue
		}
		v, err := decodeCPEURIValue(comp)
		if err != nil {
			return "", fmt.Errorf("CPE 2.2 URI %s %q: %w", cpeAttributeNames[i], comp, err)
		}
		attrs[i] = v
	}
	return "cpe:2.3:" + strings.Join(attrs, ":"), nil
}

// unpackCPEEdition decodes a packed edition component
// "~edition~sw_edition~target_sw~target_hw~other" into attrs (CPE 2.3
// order), at indexes 5 (edition) and 7 to 10.
func unpackCPEEdition(comp string, attrs []string) error {
	fields := strings.Split(comp[1:], "~")
	if len(fields) != 5 {
		return fmt.Errorf("CPE 2.2 URI packed edition %q has %d fields separated by \"~\", "+
			"but a packed edition has 5: ~edition~sw_edition~target_sw~target_hw~other", comp, len(fields))
	}
	targets := []int{5, 7, 8, 9, 10}
	for j, f := range fields {
		v, err := decodeCPEURIValue(f)
		if err != nil {
			return fmt.Errorf("CPE 2.2 URI %s %q in packed edition %q: %w",
				cpeAttributeNames[targets[j]], f, comp, err)
		}
		attrs[targets[j]] = v
	}
	return nil
}

// decodeCPEURIValue converts one URI component value to its formatted
// string form. An empty value is ANY.
func decodeCPEURIValue(v string) (string, error) {
	switch v {
	case "", "*":
		return "*", nil
	case "-":
		return "-", nil
	}
	v = strings.ToLower(v)
	var out strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' {
			if i+2 >= len(v) {
				return "", fmt.Errorf("%q ends in an incomplete percent-encoding; write two hex digits after %%", v[i:])
			}
			b, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("%q is not a percent-encoding; write %% followed by two hex digits", v[i:i+3])
			}
			i += 2
			switch {
			case b == 0x01:
				out.WriteByte('?')
				continue
			case b == 0x02:
				out.WriteByte('*')
				continue
			case b <= ' ' || b > '~':
				return "", fmt.Errorf("%q encodes a character outside printable ASCII, which CPE does not allow", v[i-2:i+1])
			}
			c = byte(b)
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
		} else if c <= ' ' || c > '~' {
			return "", fmt.Errorf("contains %q; percent-encode punctuation and write spaces as \"_\"", rune(c))
		}
		writeCPEFSChar(&out, c)
	}
	return out.String(), nil
}

// writeCPEFSChar writes a decoded character to a formatted string value:
// letters, digits, "-", "." and "_" as they are, other punctuation escaped
// with a backslash.
func writeCPEFSChar(out *strings.Builder, c byte) {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
	default:
		out.WriteByte('\\')
	}
	out.WriteByte(c)
}
