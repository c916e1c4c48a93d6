package main

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/cas"
)

// kitRecord returns a history record of version whose bundle digest
// starts with the hex digits prefix.
func kitRecord(version, prefix string) cas.KitRecord {
	hex := prefix + strings.Repeat("0", 64-len(prefix))
	return cas.KitRecord{Digest: digest.NewDigestFromEncoded(digest.SHA256, hex), Version: version}
}

// A short version made of hex digits, such as 3, names the kit with that
// version, although one digest in 16 starts with the same digit.
func TestKitsNamedShortHexVersion(t *testing.T) {
	byVersion := kitRecord("3", "a1")
	byDigest := kitRecord("2.0.0", "3b")
	hist := []cas.KitRecord{byDigest, byVersion}

	for _, c := range []struct {
		arg  string
		want []cas.KitRecord
	}{
		{"3", []cas.KitRecord{byVersion}},
		{" 3 ", []cas.KitRecord{byVersion}},
		{"sha256:3", []cas.KitRecord{byDigest}},
		{"3b", []cas.KitRecord{byDigest}},
		{"a1", []cas.KitRecord{byVersion}},
	} {
		got := kitsNamed(hist, c.arg)
		if len(got) != len(c.want) {
			t.Errorf("kitsNamed(%q) matched %d kits, want %d", c.arg, len(got), len(c.want))
			continue
		}
		for i := range got {
			if got[i].Digest != c.want[i].Digest {
				t.Errorf("kitsNamed(%q)[%d] = %s, want %s", c.arg, i, got[i].Digest, c.want[i].Digest)
			}
		}
	}

	// Without a kit of that version, the same digits are a digest prefix.
	if got := kitsNamed([]cas.KitRecord{byDigest}, "3"); len(got) != 1 || got[0].Digest != byDigest.Digest {
		t.Errorf("kitsNamed(3) without version 3 matched %d kits, want the kit whose digest starts with 3", len(got))
	}
	// Four digits or more stay a digest prefix too, so a version that
	// starts another kit's digest names both.
	long := kitRecord("3b00", "c4")
	if got := kitsNamed([]cas.KitRecord{byDigest, long}, "3b00"); len(got) != 2 {
		t.Errorf("kitsNamed(3b00) matched %d kits, want the kit of that version and the kit of that digest", len(got))
	}
}
