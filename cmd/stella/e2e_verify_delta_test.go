package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyChecksDeltaManifest checks that verify passes a delta only
// when its delta manifest carries a signature by a trusted key, as import
// requires, that a full kit gets no such check, and that inspect names a
// missing signature.
func TestVerifyChecksDeltaManifest(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	e.keygen("other")
	otherKey := filepath.Join(e.dir, "other", "cosign.key")
	unsigned := filepath.Join(e.dir, "unsigned.delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", unsigned)
	foreign := filepath.Join(e.dir, "foreign.delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", foreign, "--key", otherKey)

	verify := func(kit string) (verifyReport, int) {
		r := e.run("ouk", "verify", "--key", e.pub, "-o", "json", kit)
		var rep verifyReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("verify %s: %v\n%s%s", kit, err, r.stdout, r.stderr)
		}
		return rep, r.code
	}
	if rep, code := verify(series[1].delta); code != 0 || rep.DeltaManifest == nil || rep.DeltaManifest.Status != "passed" {
		t.Errorf("signed delta: exit %d, delta manifest check %+v; want passed", code, rep.DeltaManifest)
	}
	for _, kit := range []string{unsigned, foreign} {
		rep, code := verify(kit)
		if code != exitRejected || rep.DeltaManifest == nil || rep.DeltaManifest.Status != "failed" {
			t.Errorf("%s: exit %d, delta manifest check %+v; want exit %d and failed", filepath.Base(kit), code, rep.DeltaManifest, exitRejected)
		}
	}
	if rep, _ := verify(unsigned); rep.DeltaManifest != nil && !strings.Contains(rep.DeltaManifest.Reason, "carries no signature") {
		t.Errorf("unsigned delta: reason %q does not say the signature is missing", rep.DeltaManifest.Reason)
	}
	if rep, code := verify(series[0].full); code != 0 || rep.DeltaManifest != nil {
		t.Errorf("full kit: exit %d, delta manifest check %+v; want exit 0 and no check", code, rep.DeltaManifest)
	}
	var insp inspectReport
	if err := json.Unmarshal([]byte(e.must("ouk", "inspect", "--key", e.pub, "-o", "json", unsigned)), &insp); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range insp.Signatures {
		if s.Subject == "delta manifest" {
			found = !s.Verified && strings.Contains(s.Reason, "carries none")
		}
	}
	if !found {
		t.Errorf("inspect of the unsigned delta does not say its delta manifest is unsigned: %+v", insp.Signatures)
	}
	text := e.run("ouk", "verify", "--key", e.pub, unsigned)
	if !strings.Contains(text.stdout, "Signature of the delta manifest: FAILED") {
		t.Errorf("text output does not report the delta manifest:\n%s", text.stdout)
	}
}
