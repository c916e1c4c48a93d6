package oci

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

func sampleMeta() Meta {
	return Meta{
		Version:  "2026.12.04",
		Sequence: 42,
		Created:  time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
		Expires:  time.Date(2027, 1, 3, 10, 0, 0, 0, time.UTC),
		Schema:   SchemaVersion,
		Kind:     KindFull,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{sampleMeta(), func() Meta {
		m := sampleMeta()
		m.Kind, m.BaseDigest, m.BaseVersion = KindDelta, "sha256:"+strings.Repeat("ab", 32), "2026.12.03"
		m.Expires = time.Time{}
		return m
	}()} {
		got, err := ParseMeta(m.Annotations())
		if err != nil {
			t.Fatalf("ParseMeta(%+v): %v", m, err)
		}
		if !got.Created.Equal(m.Created) || !got.Expires.Equal(m.Expires) {
			t.Errorf("times: got %v/%v, want %v/%v", got.Created, got.Expires, m.Created, m.Expires)
		}
		got.Created, got.Expires = m.Created, m.Expires
		if got != m {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestParseMetaRejects(t *testing.T) {
	cases := map[string]func(a map[string]string){
		"missing version": func(a map[string]string) { delete(a, AnnotationVersion) },
		"bad sequence":    func(a map[string]string) { a[AnnotationSequence] = "-1" },
		"bad created":     func(a map[string]string) { a[AnnotationCreated] = "yesterday" },
		"bad expires":     func(a map[string]string) { a[AnnotationExpires] = "soon" },
		"other schema":    func(a map[string]string) { a[AnnotationSchema] = "9" },
		"unknown kind":    func(a map[string]string) { a[AnnotationKind] = "partial" },
		"delta, no base":  func(a map[string]string) { a[AnnotationKind] = KindDelta },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			a := sampleMeta().Annotations()
			change(a)
			if _, err := ParseMeta(a); !errors.Is(err, errdef.ErrInvalidKit) {
				t.Errorf("err = %v, want ErrInvalidKit", err)
			}
		})
	}
}

func TestParseBundleIndexChecksType(t *testing.T) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, ArtifactType: ArtifactTypeBundle,
		Annotations: sampleMeta().Annotations()}
	idx.SchemaVersion = 2
	raw, _ := json.Marshal(idx)
	if _, _, err := ParseBundleIndex(raw); err != nil {
		t.Fatalf("valid bundle index: %v", err)
	}
	idx.ArtifactType = "application/vnd.example+json"
	raw, _ = json.Marshal(idx)
	if _, _, err := ParseBundleIndex(raw); !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("other artifact type: err = %v, want ErrInvalidKit", err)
	}
}

func TestParseBundleIndexRoleMediaTypes(t *testing.T) {
	child := func(role, mediaType string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mediaType, Digest: digest.Digest("sha256:" + strings.Repeat("cd", 32)), Size: 2,
			Annotations: map[string]string{AnnotationRole: role}}
	}
	cases := []struct {
		name  string
		child ocispec.Descriptor
		valid bool
	}{
		{"db manifest", child(RoleDB, ocispec.MediaTypeImageManifest), true},
		{"db blob", child(RoleDB, "application/octet-stream"), false},
		{"db index", child(RoleDB, ocispec.MediaTypeImageIndex), false},
		{"sbom layer", child(RoleSBOM, MediaTypeSPDX), false},
		{"image index", child(RoleImage, ocispec.MediaTypeImageIndex), true},
		{"docker image", child(RoleImage, "application/vnd.docker.distribution.manifest.v2+json"), true},
		{"image artifact manifest", child(RoleImage, "application/vnd.oci.artifact.manifest.v1+json"), true},
		{"image without media type", child(RoleImage, ""), true},
		{"unknown role", child("notes", "text/plain"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, ArtifactType: ArtifactTypeBundle,
				Annotations: sampleMeta().Annotations(), Manifests: []ocispec.Descriptor{c.child}}
			idx.SchemaVersion = 2
			raw, _ := json.Marshal(idx)
			_, _, err := ParseBundleIndex(raw)
			if c.valid {
				if err != nil {
					t.Fatalf("err = %v, want the bundle index accepted", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("err = %v, want ErrInvalidKit", err)
			}
			if !strings.Contains(err.Error(), c.child.Digest.String()) {
				t.Errorf("error %q does not name the entry %s", err, c.child.Digest)
			}
		})
	}
}

func TestChildByRole(t *testing.T) {
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: "sha256:a", Annotations: map[string]string{AnnotationRole: RoleImage}},
		{Digest: "sha256:b", Annotations: map[string]string{AnnotationRole: RoleDB}},
	}}
	if d, ok := Child(idx, RoleDB); !ok || d.Digest != "sha256:b" {
		t.Errorf("Child(db) = %v, %v", d.Digest, ok)
	}
	if _, ok := Child(idx, RoleSBOM); ok {
		t.Errorf("Child(sbom) found a child that is not there")
	}
}

func FuzzParseBundleIndex(f *testing.F) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, ArtifactType: ArtifactTypeBundle,
		Annotations: sampleMeta().Annotations()}
	idx.SchemaVersion = 2
	raw, _ := json.Marshal(idx)
	f.Add(raw)
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, m, err := ParseBundleIndex(b)
		if err == nil && m.Version == "" {
			t.Fatalf("accepted a bundle index without a version")
		}
	})
}
