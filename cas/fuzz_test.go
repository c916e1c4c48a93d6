package cas

import (
	"encoding/json"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzSniffManifest feeds arbitrary blob bytes to the manifest sniffer,
// which parses untrusted content during Push.
func FuzzSniffManifest(f *testing.F) {
	g := buildGraph(f, 1)
	for _, blob := range g.blobs {
		f.Add(blob.data, "")
	}
	f.Add([]byte(`{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{}]}`), "")
	f.Add([]byte(`{"layers":[{"digest":"sha256:zz"}]}`), ocispec.MediaTypeImageManifest)
	f.Fuzz(func(t *testing.T, b []byte, declared string) {
		var m blobMeta
		sniffManifest(&m, b, declared)
		if m.MediaType == "" && (len(m.Children) > 0 || m.Subject != "") {
			t.Fatalf("edges recorded for a non-manifest: %+v", m)
		}
		for _, d := range m.Children {
			if d.Validate() != nil {
				t.Fatalf("invalid child digest %q recorded", d)
			}
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}
