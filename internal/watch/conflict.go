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
func Conflicts(cands []Candidate) map[string][]Candidate {
	bySequence := map[int64][]Candidate{}
	for _, c := range cands {
		if c.Summary != nil {
			bySequence[c.Summary.Sequence] = append(bySequence[c.Summary.Sequence], c)
		}
	}
	out := map[string][]Candidate{}
	for _, group := range bySequence {
		for _, c := range group {
			for _, other := range group {
				if other.Summary.Digest != c.Summary.Digest {
					out[c.Path] = append(out[c.Path], other)
				}
			}
		}
	}
	return out
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
