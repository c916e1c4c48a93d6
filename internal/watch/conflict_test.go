package watch

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

func candidate(path, version string, sequence int64, kind string, dgst digest.Digest) Candidate {
	return Candidate{Path: "/drop/" + path,
		Summary: &delta.Summary{Digest: dgst, Version: version, Sequence: sequence, Kind: kind}}
}

func TestConflictsSameSequenceOtherDigest(t *testing.T) {
	a := digest.FromString("a")
	b := digest.FromString("b")
	full := candidate("night-02.tar.zst", "night-02", 2, oci.KindFull, a)
	deltaA := candidate("night-02.delta.tar.zst", "night-02", 2, oci.KindDelta, a)
	rebuilt := candidate("rebuilt-02.tar.zst", "rebuilt-02", 2, oci.KindFull, b)
	next := candidate("night-03.tar.zst", "night-03", 3, oci.KindFull, b)
	unread := Candidate{Path: "/drop/unread.tar"}

	got := Conflicts([]Candidate{full, deltaA, rebuilt, next, unread}, func(Candidate) bool { return true })
	if n := len(got[full.Path]); n != 1 || got[full.Path][0].Path != rebuilt.Path {
		t.Errorf("conflicts of the full kit %+v, want only %s", got[full.Path], rebuilt.Path)
	}
	if n := len(got[rebuilt.Path]); n != 2 {
		t.Errorf("rebuilt kit has %d conflicts, want 2 (full kit and delta)", n)
	}
	if _, ok := got[next.Path]; ok {
		t.Errorf("a kit of another sequence conflicts, although it shares the digest")
	}
	if _, ok := got[unread.Path]; ok {
		t.Errorf("a kit whose sequence could not be read conflicts")
	}

	reason := ConflictReason(full, got[full.Path], "")
	for _, part := range []string{"rebuilt-02.tar.zst", "rebuilt-02", b.String(), "sequence 2", "remove the file you do not want"} {
		if !strings.Contains(reason, part) {
			t.Errorf("reason %q does not contain %q", reason, part)
		}
	}
	reason = ConflictReason(rebuilt, got[rebuilt.Path], a.String())
	for _, part := range []string{"active kit night-02", a.String(), "remove this file"} {
		if !strings.Contains(reason, part) {
			t.Errorf("reason with an active kit %q does not contain %q", reason, part)
		}
	}
	if strings.Contains(reason, "night-02.delta.tar.zst") {
		t.Errorf("reason %q names other files than the active kit's", reason)
	}
}

func TestConflictsCountOnlyTrustedKits(t *testing.T) {
	a := digest.FromString("a")
	b := digest.FromString("b")
	c := digest.FromString("c")
	signed := candidate("night-02.tar.zst", "night-02", 2, oci.KindFull, a)
	forged := candidate("forged-02.tar", "forged-02", 2, oci.KindFull, b)
	next := candidate("night-03.tar.zst", "night-03", 3, oci.KindFull, c)
	var checked []string
	trusted := func(cand Candidate) bool {
		checked = append(checked, cand.Path)
		return cand.Path != forged.Path
	}

	got := Conflicts([]Candidate{signed, forged, next}, trusted)
	if len(got) != 0 {
		t.Errorf("conflicts %+v, want none: an untrusted kit must not block a trusted one", got)
	}
	if len(checked) != 2 {
		t.Errorf("trust checked for %v, want only the 2 kits of sequence 2", checked)
	}

	rebuilt := candidate("rebuilt-02.tar.zst", "rebuilt-02", 2, oci.KindFull, c)
	got = Conflicts([]Candidate{signed, forged, rebuilt}, trusted)
	if n := len(got[signed.Path]); n != 1 || got[signed.Path][0].Path != rebuilt.Path {
		t.Errorf("conflicts of the signed kit %+v, want only %s", got[signed.Path], rebuilt.Path)
	}
	if _, ok := got[forged.Path]; ok {
		t.Errorf("the untrusted kit has conflicts %+v, want none", got[forged.Path])
	}
}

func TestConflictsSkipTrustCheckWithoutConflict(t *testing.T) {
	a := digest.FromString("a")
	full := candidate("night-02.tar.zst", "night-02", 2, oci.KindFull, a)
	deltaA := candidate("night-02.delta.tar.zst", "night-02", 2, oci.KindDelta, a)
	next := candidate("night-03.tar.zst", "night-03", 3, oci.KindFull, digest.FromString("b"))
	calls := 0
	got := Conflicts([]Candidate{full, deltaA, next}, func(Candidate) bool { calls++; return true })
	if len(got) != 0 {
		t.Errorf("conflicts %+v, want none", got)
	}
	if calls != 0 {
		t.Errorf("trust checked %d times in a folder without conflicts, want 0", calls)
	}
}
