package delta

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

func sampleManifest(t testing.TB) []byte {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("bundle"), Size: 6}
	raw, err := json.Marshal(ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: digest.FromString("{}"), Size: 2},
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      &subject,
		Annotations:  map[string]string{oci.AnnotationBaseDigest: digest.FromString("base").String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sampleConfig(t testing.TB) []byte {
	raw, err := json.Marshal(Config{
		Base:    Ref{Digest: digest.FromString("base"), Version: "1", Sequence: 1},
		Target:  Ref{Digest: digest.FromString("bundle"), Version: "2", Sequence: 2},
		Omitted: []Blob{{Digest: digest.FromString("layer"), Size: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseManifestAcceptsSample(t *testing.T) {
	m, err := ParseManifest(sampleManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject.Digest != digest.FromString("bundle") {
		t.Errorf("subject = %s", m.Subject.Digest)
	}
}

func TestParseManifestRejectsWrongShape(t *testing.T) {
	cases := map[string]func(m map[string]any){
		"artifact type": func(m map[string]any) { m["artifactType"] = "application/other" },
		"no subject":    func(m map[string]any) { delete(m, "subject") },
		"no base":       func(m map[string]any) { delete(m, "annotations") },
		"config type":   func(m map[string]any) { m["config"].(map[string]any)["mediaType"] = "application/other" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(sampleManifest(t), &m); err != nil {
				t.Fatal(err)
			}
			mutate(m)
			raw, _ := json.Marshal(m)
			if _, err := ParseManifest(raw); !errors.Is(err, errdef.ErrInvalidKit) {
				t.Errorf("error = %v, want ErrInvalidKit", err)
			}
		})
	}
}

func TestParseConfigRejectsBadOmitted(t *testing.T) {
	raw := []byte(`{"base":{"digest":"` + digest.FromString("b").String() + `"},"target":{"digest":"` +
		digest.FromString("t").String() + `"},"omitted":[{"digest":"sha256:short","size":1}]}`)
	if _, err := ParseConfig(raw); !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("error = %v, want ErrInvalidKit", err)
	}
	if _, err := ParseConfig(sampleConfig(t)); err != nil {
		t.Errorf("sample config: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(sampleManifest(f))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err == nil && (m.Subject == nil || m.ArtifactType != ArtifactType) {
			t.Fatalf("accepted a manifest without subject or artifact type")
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add(sampleConfig(f))
	f.Add([]byte(`{"omitted":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, o := range c.Omitted {
			if o.Size < 0 || o.Digest.Validate() != nil {
				t.Fatalf("accepted omitted blob %+v", o)
			}
		}
	})
}

func TestCheckEntryComparesSignedAnnotations(t *testing.T) {
	m, err := ParseManifest(sampleManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	base := m.Annotations[oci.AnnotationBaseDigest]
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactType, Digest: digest.FromString("m")}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		ok          bool
	}{
		{"none, as oras writes it", nil, true},
		{"same base", map[string]string{oci.AnnotationBaseDigest: base}, true},
		{"other base", map[string]string{oci.AnnotationBaseDigest: digest.FromString("other").String()}, false},
		{"version the manifest lacks", map[string]string{oci.AnnotationBaseVersion: "1"}, false},
	} {
		entry.Annotations = tc.annotations
		err := CheckEntry(entry, m)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: error %v, want one wrapping ErrInvalidKit", tc.name, err)
		}
	}
}

func TestBundleEntryPrefersTaggedIndex(t *testing.T) {
	bundle := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("bundle"),
		Annotations: map[string]string{oci.AnnotationRefName: "2026.12.03"}}
	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("image")}
	got, err := bundleEntry(ocispec.Index{Manifests: []ocispec.Descriptor{image, bundle}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != bundle.Digest {
		t.Errorf("bundleEntry picked %s, want the tagged index %s", got.Digest, bundle.Digest)
	}
	if _, err := bundleEntry(ocispec.Index{Manifests: []ocispec.Descriptor{image, image}}, ""); !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("two untagged image indexes: error %v, want ErrInvalidKit", err)
	}
}
