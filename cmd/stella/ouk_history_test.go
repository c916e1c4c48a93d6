package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci"
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

// The kit arguments of export and rollback accept every version that
// import accepts, such as ones with spaces from another builder, which
// ouk build would reject.
func TestKitArgAcceptsImportedVersions(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, v := range []string{"1.0 beta", "v1~rc", "2026.06.01-020000"} {
		if err := checkExportKitArg(v, missing); err != nil {
			t.Errorf("export rejects version %q: %v", v, err)
		}
		if err := checkRollbackKitArg(v); err != nil {
			t.Errorf("rollback rejects version %q: %v", v, err)
		}
	}
	for _, v := range []string{"kit\x01", strings.Repeat("v", oci.MaxVersionLength+1)} {
		if err := checkExportKitArg(v, missing); err == nil {
			t.Errorf("export accepts %q, which no kit version can be", v)
		}
		if err := checkRollbackKitArg(v); err == nil {
			t.Errorf("rollback accepts %q, which no kit version can be", v)
		}
	}
}
