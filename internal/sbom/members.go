package sbom

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// formatProbeNames are the top-level members that parseDocument detects
// the format by. They are matched by exact name.
var formatProbeNames = []string{"spdxVersion", "@context", "bomFormat", "specVersion"}

// readMemberNames returns the folded names (see foldName) of the
// top-level members that parseDocument reads: the format probes and the
// fields that decodeMembers decodes members into, in every SPDX and
// CycloneDX type it is given. A member whose name is not in the set
// would be passed over by every decoder.
var readMemberNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	for _, name := range formatProbeNames {
		names[foldName(name)] = true
	}
	types := []reflect.Type{reflect.TypeFor[spdxExtras](), reflect.TypeFor[cdx.BOM]()}
	for _, t := range spdxDocumentTypes {
		types = append(types, t)
	}
	for _, t := range types {
		for _, f := range jsonFields(t) {
			names[foldName(f.name)] = true
		}
	}
	return names
})

// foldName returns name with each rune replaced by the smallest rune of
// its Unicode simple case folding orbit. Two names are equal under
// strings.EqualFold, which matchField uses as encoding/json does, exactly
// when their folded names are equal. ASCII letters fold to upper case.
func foldName(name string) string {
	return strings.Map(func(r rune) rune {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			smallest = min(smallest, f)
		}
		return smallest
	}, name)
}

// memberName decodes the name of a top-level member from its quoted JSON
// form and reports whether parseDocument reads the member. It returns
// errMalformed for a name that is not a valid JSON string. A name of
// printable ASCII without escapes is looked up without an allocation,
// and is copied only for a member that is read.
func memberName(quoted []byte) (name string, read bool, err error) {
	inner := quoted[1 : len(quoted)-1]
	var folded [64]byte
	if len(inner) <= len(folded) && isPlainASCII(inner) {
		for i, c := range inner {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			folded[i] = c
		}
		if !readMemberNames()[string(folded[:len(inner)])] {
			return "", false, nil
		}
		return string(inner), true, nil
	}
	// A local variable keeps the fast path above from allocating, since
	// one whose address is taken is moved to the heap.
	var decoded string
	if err := json.Unmarshal(quoted, &decoded); err != nil {
		return "", false, errMalformed
	}
	return decoded, readMemberNames()[foldName(decoded)], nil
}

// isPlainASCII reports whether b contains only printable ASCII and no
// backslash, so that the JSON string "b" decodes to b itself.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}
