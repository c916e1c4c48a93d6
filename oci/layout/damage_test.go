package layout

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestUnknownEntryProblem(t *testing.T) {
	cases := []struct {
		name      string
		mediaType string
		damaged   bool
	}{
		{"OCI index", ocispec.MediaTypeImageIndex, false},
		{"OCI manifest", ocispec.MediaTypeImageManifest, false},
		{"Docker manifest", "application/vnd.docker.distribution.manifest.v2+json", false},
		{"flipped bit", "application/vnd.oci.image.indey.v1+json", true},
		{"empty", "", true},
	}
	for _, c := range cases {
		index := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest}, {MediaType: c.mediaType}}}
		problem := UnknownEntryProblem(index)
		if got := problem != ""; got != c.damaged {
			t.Errorf("%s: problem %q, want damaged %v", c.name, problem, c.damaged)
		}
		if c.damaged && !strings.Contains(problem, "copy the kit file again") {
			t.Errorf("%s: problem gives no next step: %s", c.name, problem)
		}
	}
}
