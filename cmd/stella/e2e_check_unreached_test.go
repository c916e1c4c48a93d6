package main

import (
	"os"
	"strings"
	"testing"
)

// damageLayerManifest flips one bit at a time in the small tables of the
// store of e, undoing each flip that misses. It stops when a check reports
// an image layer below a damaged manifest or index as not reached, while
// the store's list of blobs stays readable for --all. The tables differ
// from run to run, as the signature does, so the bit differs too. It
// returns the reports of that check and of a check with --all.
func (e *env) damageLayerManifest(tables []string) (checkReport, result, checkReport) {
	e.t.Helper()
	for _, table := range tables {
		info, err := os.Stat(table)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.Size() > 1<<20 {
			continue
		}
		for offset := int64(16); offset < info.Size(); offset += 128 {
			flipBit(e.t, table, offset)
			rep, r := e.runCheck("--key", e.pub)
			if len(rep.Kits) == 1 && layerUnreached(rep.Kits[0]) != nil {
				all, _ := e.runCheck("--all", "--key", e.pub)
				if all.OtherBlobs != nil {
					return rep, r, all
				}
			}
			flipBit(e.t, table, offset)
		}
	}
	e.t.Fatal("no flipped bit in the small tables made a check report an image layer as not reached")
	return checkReport{}, result{}, checkReport{}
}

// layerUnreached returns the entry of k for blobs below a manifest or
// index that include an image layer of 3 MiB, or nil.
func layerUnreached(k kitCheck) *unreachedBlobs {
	for i, u := range k.Unreached {
		if u.Bytes >= 1<<20 {
			return &k.Unreached[i]
		}
	}
	return nil
}

// A check reports the blobs below a damaged manifest as not reached, and
// --all does not call them blobs of no kit.
func TestCheckUnreachedBelowDamagedManifest(t *testing.T) {
	e := newEnv(t)
	tables := e.importImageKit()
	rep, r, all := e.damageLayerManifest(tables)

	if r.code != exitError {
		t.Errorf("check: exit %d, want %d", r.code, exitError)
	}
	u := layerUnreached(rep.Kits[0])
	if u.Blobs < 2 {
		t.Errorf("%d unreached blobs below %s, want the image layer and its config at least", u.Blobs, u.Manifest)
	}
	damagedManifest := false
	for _, p := range rep.Problems {
		if p.Digest == u.Manifest && p.Kind == problemDamaged {
			damagedManifest = true
		}
	}
	if !damagedManifest {
		t.Errorf("problems %+v lack the damaged manifest %s", rep.Problems, u.Manifest)
	}

	text := e.run("ouk", "check", "--key", e.pub)
	if !strings.Contains(text.stdout, "not checked") || !strings.Contains(text.stdout, u.Manifest+", which the check could not reach") {
		t.Errorf("text check does not name the blobs below %s:\n%s", u.Manifest, text.stdout)
	}

	if all.OtherBlobs.Blobs != 0 {
		t.Errorf("check --all: %d blobs of no kit, want none in a store of one kit", all.OtherBlobs.Blobs)
	}
	notReached := 0
	for _, n := range all.NotReached {
		notReached += n.Blobs
		if !strings.HasPrefix(n.Reason, "not reached from a kit") {
			t.Errorf("check --all: reason %q, want one starting with \"not reached from a kit\"", n.Reason)
		}
	}
	if notReached < u.Blobs {
		t.Errorf("check --all: %d blobs not reached from a kit, want at least the %d below %s", notReached, u.Blobs,
			u.Manifest)
	}
	for _, p := range all.Problems {
		if strings.Contains(p.Role, "of no kit") {
			t.Errorf("check --all: problem %+v calls a blob of the kit a blob of no kit", p)
		}
	}
}
