package watch

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Conflicts returns, for the path of each candidate that has them, the
// other candidates of the same sequence whose bundle digest differs. Such
// files carry two different kits for one place in the series, and the watch
// cannot tell which one the operator wants. A full kit and a delta of the
// same kit share the bundle digest, so they do not conflict. Candidates
// whose sequence could not be read are left out.
//
// The sequence and digest are read before any signature check, so anyone
// who can write to the drop folder could block a signed kit with a forged
// one of the same sequence. Only candidates for which trusted returns true
// count, and Conflicts calls it only for those that share their sequence
// with a candidate of another digest, once each.
func Conflicts(cands []Candidate, trusted func(Candidate) bool) map[string][]Candidate {
	bySequence := map[int64][]Candidate{}
	for _, c := range cands {
		if c.Summary != nil {
			bySequence[c.Summary.Sequence] = append(bySequence[c.Summary.Sequence], c)
		}
	}
	out := map[string][]Candidate{}
	for _, group := range bySequence {
		if !mixesDigests(group) {
			continue
		}
		var counted []Candidate
		for _, c := range group {
			if trusted(c) {
				counted = append(counted, c)
			}
		}
		for _, c := range counted {
			for _, other := range counted {
				if other.Summary.Digest != c.Summary.Digest {
					out[c.Path] = append(out[c.Path], other)
				}
			}
		}
	}
	return out
}

// mixesDigests reports whether the candidates of group carry more than one
// bundle digest.
func mixesDigests(group []Candidate) bool {
	for _, c := range group[1:] {
		if c.Summary.Digest != group[0].Summary.Digest {
			return true
		}
	}
	return false
}

// ConflictReason returns why c is rejected for the conflicting candidates
// others, as Conflicts returns them. When one of others carries the active
// kit, the reason names that one only, because it stays active.
func ConflictReason(c Candidate, others []Candidate, active string) string {
	for _, o := range others {
		if o.Summary.Digest.String() == active {
			return fmt.Sprintf("the active kit %s (%s), from %s, has the same sequence %d but another digest; "+
				"the watch imports one kit per sequence, so remove this file",
				o.Summary.Version, o.Summary.Digest, filepath.Base(o.Path), o.Summary.Sequence)
		}
	}
	names := make([]string, len(others))
	for i, o := range others {
		names[i] = fmt.Sprintf("%s holds kit %s (%s)", filepath.Base(o.Path), o.Summary.Version, o.Summary.Digest)
	}
	return fmt.Sprintf("%s with the same sequence %d but another digest; the watch imports neither, "+
		"so remove the file you do not want", strings.Join(names, " and "), c.Summary.Sequence)
}
