package vulndb

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CPE versions follow no single scheme, so the CPE version order places
// each version in an interval of a total order of keys, and two versions
// compare only when their intervals do not overlap. Most versions are a
// single key. A version whose meaning is open spans the keys of each
// meaning, and it is neither before nor after a version inside its span.
// Because disjoint intervals are ordered as a whole, the order is
// antisymmetric and transitive.
//
// The rules, after folding to lower case and dropping a leading "v":
//
//   - The release is dotted numbers, each at most 64 bits, and trailing
//     zeros do not count: "1.0" equals "1.0.0".
//   - A pre-release word after the numbers, directly or after "-", sorts
//     before the release: "2.0rc1" < "2.0" and "1.0-beta.2" < "1.0". A
//     number may follow the word directly or after ".", "-" or "_", so
//     "2.0-rc2", "2.0-rc.2", "2.0-rc-2" and "2.0-rc_2" are equal.
//     The words are dev, alpha, beta, milestone, pre and preview, rc and
//     cr, and snapshot, in that order, and "a", "b" and "m" followed by a
//     number stand for alpha, beta and milestone: "1.0a1" < "1.0b1" <
//     "1.0".
//   - One or two other letters directly after the numbers mark a later
//     release, as NVD writes OpenSSL's versions: "1.1.1" < "1.1.1a" <
//     "1.1.1k" < "1.1.2", and "1.0.2z" < "1.0.2za". A single letter after
//     "-" is the same: "1.0-a" equals "1.0a".
//   - One or two such letters followed by a number, such as "p1", "sp1",
//     "u2" or "r3", mark a patch or service pack of the release. A record
//     may count it as the release itself, as OpenSSH 8.4p1 is in "through
//     8.4". So "8.4p1" spans from "8.4" to itself and is neither before
//     nor after "8.4", but it is above every version below 8.4. Two such
//     versions of the same release and letters are ordered by their
//     numbers: "7.4p1" < "7.4p2".
//   - A lone "b" is either a beta or the release after "a", so "2.0b"
//     spans from the beta of 2.0 to the letter release 2.0b and is neither
//     before nor after "2.0".
//   - Any other part after "-" or "+", such as "-fips", "-1.el8",
//     "+dfsg" or "-1", and a word of three or more other letters directly
//     after the numbers, such as "final", is a build, a distribution
//     revision or a tag. It does not make the version a pre-release:
//     "1.1.1k-fips" is above every version below 1.1.1k and below every
//     version above it, but neither before nor after 1.1.1k itself.
//   - The same words and letters may follow the numbers after ".", as in
//     Maven versions: "5.0.0.M1" < "5.0.0.RC2" < "5.0.0". The words
//     release, final and ga after "." or "-" name the release itself:
//     "5.3.0.RELEASE" and "4.2.1-Final" equal 5.3.0 and 4.2.1. Other
//     letters after ".", such as "1.2.3.SP1", are a tag.
//   - Any other text, such as "1.0_beta" or Cisco's "12.2(55)se", does not
//     parse, and its version compares with no other version. Comparing
//     such text as strings would give results that look certain and are
//     often wrong, as "10.0" sorts before "9.0".
//
// Versions whose text is equal, ignoring case, are equal.

// cpeVersionKey is a point of the CPE version order.
type cpeVersionKey struct {
	release []uint64
	// pre marks a pre-release, with the rank of its word in
	// preReleaseRanks. Otherwise letters contains the letters of a later
	// release, such as "k" in "1.1.1k", or "".
	pre     bool
	rank    int
	letters string
	// number is the number after the pre-release word or the letters, such
	// as 1 in "2.0rc1".
	number []uint64
	// tagged is the point just above the key without it. A part that
	// cannot be ordered, such as "-fips", puts a version between the two.
	tagged bool
}

// cpeVersion is a version parsed for the CPE version order: the interval
// from low to high.
type cpeVersion struct {
	low, high cpeVersionKey
	// tag is the part that could not be ordered, such as "-fips", and base
	// the text before it. ambiguous marks a lone "b". patch is the letters
	// and number of a patch, such as "p1" in "8.4p1", or "". release is
	// the text of the release numbers before "b" or the patch.
	tag, base, release, patch string
	ambiguous                 bool
}

// point reports whether the version is a single key.
func (v cpeVersion) point() bool { return v.tag == "" && !v.ambiguous && v.patch == "" }

// preReleaseRanks orders the pre-release words. "pre" and "preview" share
// a rank.
var preReleaseRanks = map[string]int{
	"dev": 0, "alpha": 1, "beta": 2, "milestone": 3, "pre": 4, "preview": 4, "rc": 5, "cr": 5, "snapshot": 6,
}

// releaseWords name the release itself when they follow its numbers
// after "." or "-", as Maven versions such as "5.3.0.RELEASE" and
// "4.2.1.Final" do.
var releaseWords = map[string]bool{"release": true, "final": true, "ga": true}

// preReleaseLetters are the letters that stand for a pre-release word
// when a number follows them.
var preReleaseLetters = map[string]string{"a": "alpha", "b": "beta", "m": "milestone"}

// parseCPEVersion parses v for the CPE version order. ok is false when v
// does not parse.
func parseCPEVersion(v string) (parsed cpeVersion, ok bool) {
	s := strings.ToLower(v)
	if len(s) > 1 && s[0] == 'v' && isDigit(s[1]) {
		s = s[1:]
	}
	release, n, ok := parseDottedNumbers(s)
	if !ok {
		return cpeVersion{}, false
	}
	key := cpeVersionKey{release: release}
	rest := s[n:]
	switch {
	case rest == "":
		return cpeVersion{low: key, high: key}, true
	case isASCIILetter(rest[0]):
		return parseCPESuffix(key, s[:n], rest, 0)
	case rest[0] == '-' && len(rest) > 1:
		if isASCIILetter(rest[1]) {
			return parseCPESuffix(key, s[:n], rest[1:], '-')
		}
		return taggedCPEVersion(key, key, s[:n], rest), true
	case rest[0] == '.' && len(rest) > 1 && isASCIILetter(rest[1]):
		return parseCPESuffix(key, s[:n], rest[1:], '.')
	case rest[0] == '+' && len(rest) > 1:
		return taggedCPEVersion(key, key, s[:n], rest), true
	}
	return cpeVersion{}, false
}

// parseCPESuffix parses the letters that follow the release numbers
// (base) of key, a pre-release word or the letters of a later release,
// with an optional number and the rest. sep is the "-" or "." between the
// numbers and the letters, or 0 when the letters follow the numbers
// directly. After a separator, only a pre-release word, a word that names
// the release itself or a single letter after "-" orders the version, and
// other letters are a tag.
func parseCPESuffix(key cpeVersionKey, base, suffix string, sep byte) (cpeVersion, bool) {
	i := 0
	for i < len(suffix) && isASCIILetter(suffix[i]) {
		i++
	}
	word := suffix[:i]
	_, isPreWord := preReleaseRanks[word]

	j := i
	if j+1 < len(suffix) && isDigit(suffix[j+1]) &&
		(suffix[j] == '.' || isPreWord && (suffix[j] == '-' || suffix[j] == '_')) {
		j++
	}
	number, n, hasNumber := parseDottedNumbers(suffix[j:])
	if !hasNumber {
		j = i
		number = nil
	} else {
		j += n
	}
	rest := suffix[j:]

	if w, ok := preReleaseLetters[word]; ok && hasNumber {
		word = w
	}
	rank, isPre := preReleaseRanks[word]
	switch {
	case isPre:
		key.pre, key.rank, key.number = true, rank, number
	case sep != 0 && releaseWords[word] && !hasNumber:
		// "5.3.0.RELEASE" and "4.2.1.Final" are 5.3.0 and 4.2.1.
		if rest != "" {
			return taggedCPEVersion(key, key, base+string(sep)+word, rest), true
		}
		return cpeVersion{low: key, high: key}, true
	case sep == '.' || sep == '-' && (len(word) != 1 || hasNumber || rest != ""):
		return taggedCPEVersion(key, key, base, string(sep)+suffix), true
	case len(word) > 2:
		// A word such as "final" or "fips" is no release letter.
		return taggedCPEVersion(key, key, base, suffix), true
	default:
		key.letters, key.number = word, number
	}

	low, high := key, key
	ambiguous := word == "b" && !hasNumber
	patch := ""
	switch {
	case ambiguous:
		low = cpeVersionKey{release: key.release, pre: true, rank: preReleaseRanks["beta"]}
	case !isPre && hasNumber:
		low = cpeVersionKey{release: key.release}
		patch = suffix[:j]
	}
	v := cpeVersion{low: low, high: high, ambiguous: ambiguous, patch: patch, release: base}
	if rest != "" {
		if sep != 0 {
			base += string(sep)
		}
		v.high.tagged, v.tag, v.base = true, rest, base+suffix[:j]
	}
	return v, true
}

// taggedCPEVersion returns the version base followed by tag, a part that
// cannot be ordered, where base spans low to high.
func taggedCPEVersion(low, high cpeVersionKey, base, tag string) cpeVersion {
	high.tagged = true
	return cpeVersion{low: low, high: high, tag: tag, base: base}
}

// parseDottedNumbers parses the numbers separated by dots at the start of
// s and returns them and the length of their text. ok is false when s
// does not start with a digit or a number has more than 64 bits.
func parseDottedNumbers(s string) (numbers []uint64, n int, ok bool) {
	for {
		start := n
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == start {
			return nil, 0, false
		}
		x, err := strconv.ParseUint(s[start:n], 10, 64)
		if err != nil {
			return nil, 0, false
		}
		numbers = append(numbers, x)
		if n+1 >= len(s) || s[n] != '.' || !isDigit(s[n+1]) {
			return numbers, n, true
		}
		n++
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// compareNumbers compares dotted numbers, with missing numbers as zero.
func compareNumbers(a, b []uint64) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// compare orders two keys: by release, then a pre-release before the
// release, then by pre-release rank or by letters, then by number, and a
// tagged key just above the same key untagged.
func (k cpeVersionKey) compare(o cpeVersionKey) int {
	if c := compareNumbers(k.release, o.release); c != 0 {
		return c
	}
	if k.pre != o.pre {
		if k.pre {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(k.rank, o.rank); k.pre && c != 0 {
		return c
	}
	if c := strings.Compare(k.letters, o.letters); c != 0 {
		return c
	}
	if c := compareNumbers(k.number, o.number); c != 0 {
		return c
	}
	switch {
	case k.tagged == o.tagged:
		return 0
	case k.tagged:
		return 1
	}
	return -1
}

// compareCPEVersion orders CPE versions as described at the top of this
// file. ok is false when one of them does not parse, or when their
// intervals overlap, so that neither is known to be before the other.
func compareCPEVersion(a, b string) (order int, ok bool) {
	if strings.EqualFold(a, b) {
		return 0, true
	}
	va, okA := parseCPEVersion(a)
	vb, okB := parseCPEVersion(b)
	if !okA || !okB {
		return 0, false
	}
	switch {
	case va.high.compare(vb.low) < 0:
		return -1, true
	case vb.high.compare(va.low) < 0:
		return 1, true
	case va.point() && vb.point() && va.low.compare(vb.low) == 0:
		return 0, true
	case samePatchSeries(va, vb):
		// Both spans start at the same release, so a version before one
		// is before both, and their ends order them. This keeps the order
		// transitive although the spans overlap.
		return va.high.compare(vb.high), true
	}
	return 0, false
}

// samePatchSeries reports whether a and b are untagged patches of the
// same release with the same letters, such as "7.4p1" and "7.4p2".
func samePatchSeries(a, b cpeVersion) bool {
	return a.patch != "" && b.patch != "" && a.tag == "" && b.tag == "" &&
		compareNumbers(a.high.release, b.high.release) == 0 && a.high.letters == b.high.letters
}

// cpeVersionComparable reports whether the CPE version order parses
// version.
func cpeVersionComparable(version string) bool {
	_, ok := parseCPEVersion(version)
	return ok
}

// cpeVersionDoubts explains why version could not be compared with the
// versions of others that the CPE version order cannot order it against,
// such as `the CPE version order cannot parse "1.0_beta"` or `it cannot
// place "-fips" in "1.1.1k-fips" before or after 1.1.1k`.
func cpeVersionDoubts(version string, others []string) string {
	var unparsed, doubts []string
	addDoubt := func(doubt string) {
		if !slices.Contains(doubts, doubt) {
			doubts = append(doubts, doubt)
		}
	}
	add := func(v string) {
		p, ok := parseCPEVersion(v)
		switch {
		case !ok:
			if q := strconv.Quote(shortVersion(v)); !slices.Contains(unparsed, q) {
				unparsed = append(unparsed, q)
			}
			return
		case p.tag != "":
			addDoubt(fmt.Sprintf("the CPE version order cannot place %q in %q before or after %s",
				shortVersion(p.tag), shortVersion(v), shortVersion(p.base)))
		case p.ambiguous:
			addDoubt(fmt.Sprintf("\"b\" in %q may mark a beta before %s or the release after %sa",
				shortVersion(v), shortVersion(p.release), shortVersion(p.release)))
		}
		if p.patch != "" {
			addDoubt(fmt.Sprintf("%q in %q may mark a patch that counts as %s itself or a later release",
				shortVersion(p.patch), shortVersion(v), shortVersion(p.release)))
		}
	}
	for _, o := range others {
		if _, ok := compareCPEVersion(version, o); !ok {
			add(version)
			add(o)
		}
	}
	if len(unparsed) > 0 {
		doubts = append([]string{"the CPE version order cannot parse " + strings.Join(unparsed, " and ")}, doubts...)
	}
	return strings.Join(doubts, ", and ")
}
