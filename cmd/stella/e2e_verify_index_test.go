package main

import (
	"strings"
	"testing"
)

// TestVerifyIndexJSONLikeImport damages index.json or the oci-layout entry
// of a kit file in ways that import rejects, and checks that verify fails
// on the same kit with the same advice, so that verify passes no kit that
// import rejects.
func TestVerifyIndexJSONLikeImport(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	cases := []struct {
		name   string
		damage func(k *kitParts)
		want   string
	}{
		{"schemaVersion", func(k *kitParts) {
			i := k.find("index.json")
			k.entries[i].data = []byte(strings.Replace(string(k.entries[i].data),
				`"schemaVersion":2`, `"schemaVersion":3`, 1))
		}, "index.json is damaged, so copy the kit file again"},
		{"entry media type", func(k *kitParts) {
			idx := k.index(t)
			for i := range idx.Manifests {
				idx.Manifests[i].MediaType = "application/vnd.oci.image.index.v1+jsoo"
			}
			k.setIndex(t, idx)
		}, "index.json is damaged, so copy the kit file again"},
		{"oci-layout version", func(k *kitParts) {
			k.entries[k.find("oci-layout")].data = []byte(`{"imageLayoutVersion":"2.0.0"}`)
		}, "oci-layout version is"},
		{"no oci-layout", func(k *kitParts) {
			k.remove("oci-layout")
		}, "kit has no oci-layout file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &kitParts{entries: readTar(t, kit)}
			if k.find("index.json") < 0 || k.find("oci-layout") < 0 {
				t.Fatal("the built kit lacks index.json or oci-layout")
			}
			tc.damage(k)
			damaged := e.write(t, "damaged.tar", k)

			imp := e.run("ouk", "import", "--key", e.pub, damaged)
			if imp.code != exitRejected {
				t.Errorf("import: exit %d, want %d\nstderr: %s", imp.code, exitRejected, imp.stderr)
			}
			if !strings.Contains(imp.stderr, tc.want) {
				t.Errorf("import: stderr lacks %q: %s", tc.want, imp.stderr)
			}

			ver := e.run("ouk", "verify", "--key", e.pub, damaged)
			if ver.code != exitRejected {
				t.Errorf("verify: exit %d, want %d\nstdout: %s\nstderr: %s", ver.code, exitRejected, ver.stdout, ver.stderr)
			}
			if !strings.Contains(ver.stderr, tc.want) {
				t.Errorf("verify: stderr lacks %q: %s", tc.want, ver.stderr)
			}
			if n := strings.Count(ver.stderr, "copy the"); n > 1 {
				t.Errorf("verify: stderr advises copying %d times: %s", n, ver.stderr)
			}
		})
	}
}
