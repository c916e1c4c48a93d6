package vulndb

import (
	"errors"
	"math/big"
	"strings"
)

// phpSpecialForms is the order PHP's version_compare gives to non-numeric
// parts, which Composer and so Packagist follow. A part takes the rank of
// the first form it starts with, and parts matching none rank below all.
var phpSpecialForms = []struct {
	prefix string
	rank   int
}{
	{"dev", 0}, {"alpha", 1}, {"a", 1}, {"beta", 2}, {"b", 2},
	{"RC", 3}, {"rc", 3}, {"#", 4}, {"pl", 5}, {"p", 5},
}

// phpNumberRank is the rank PHP gives a number compared with a word.
const phpNumberRank = 4

// compareComposer orders Packagist versions as PHP's version_compare does,
// after dropping a leading "v" as Composer does. No maintained Go module
// implements this order, so it is written here from PHP's documented rules.
func compareComposer(a, b string) (int, error) {
	pa, pb := phpParts(a), phpParts(b)
	if len(pa) == 0 || len(pb) == 0 {
		return 0, errors.New("empty version")
	}
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var c int
		switch {
		case i >= len(pb):
			c = phpRemainder(pa[i])
		case i >= len(pa):
			c = -phpRemainder(pb[i])
		default:
			c = comparePHPPart(pa[i], pb[i])
		}
		if c != 0 {
			return c, nil
		}
	}
	return 0, nil
}

// phpParts canonicalises a version: "-", "_" and "+" become separators, and
// a separator goes between every run of digits and non-digits.
func phpParts(v string) []string {
	v = strings.TrimSpace(v)
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && isASCIIDigit(rune(v[1])) {
		v = v[1:]
	}
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	prevDigit := false
	for i, r := range v {
		switch {
		case r == '.' || r == '-' || r == '_' || r == '+':
			flush()
			continue
		case i > 0 && cur.Len() > 0 && isASCIIDigit(r) != prevDigit:
			flush()
		}
		cur.WriteRune(r)
		prevDigit = isASCIIDigit(r)
	}
	flush()
	return parts
}

// isASCIIDigit reports whether r is 0 to 9. PHP's version_compare counts
// only these as digits, and big.Int parses only these, so a digit of
// another script is part of a word.
func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }

func isNumber(s string) bool {
	for _, r := range s {
		if !isASCIIDigit(r) {
			return false
		}
	}
	return s != ""
}

func phpRank(part string) int {
	if isNumber(part) {
		return phpNumberRank
	}
	for _, f := range phpSpecialForms {
		if strings.HasPrefix(part, f.prefix) {
			return f.rank
		}
	}
	return -1
}

func comparePHPPart(a, b string) int {
	if isNumber(a) && isNumber(b) {
		x, okA := new(big.Int).SetString(a, 10)
		y, okB := new(big.Int).SetString(b, 10)
		if okA && okB {
			return x.Cmp(y)
		}
		return strings.Compare(a, b)
	}
	return compareInts(phpRank(a), phpRank(b))
}

// phpRemainder compares a part that only one version has with the end of
// the other: a number makes the longer version higher, a word ranks as
// against a number.
func phpRemainder(part string) int {
	if isNumber(part) {
		return 1
	}
	return compareInts(phpRank(part), phpNumberRank)
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
