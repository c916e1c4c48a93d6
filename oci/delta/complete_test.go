package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// deltaLayout is a kit layout in memory with a delta manifest that omits
// one layer, a signature of the bundle index and one of the delta
// manifest.
type deltaLayout struct {
	store   *memory.Store
	index   ocispec.Index
	bundle  ocispec.Descriptor
	layer   []byte
	base    digest.Digest
	entries map[string]digest.Digest
}

func newDeltaLayout(t *testing.T) *deltaLayout {
	t.Helper()
	ctx := context.Background()
	l := &deltaLayout{store: memory.New(), layer: []byte("layer the base supplies"),
		base: digest.FromString("base bundle"), entries: map[string]digest.Digest{}}
	put := func(mediaType, artifactType string, v any) ocispec.Descriptor {
		raw, ok := v.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		d := ocispec.Descriptor{MediaType: mediaType, ArtifactType: artifactType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
		if err := l.store.Push(ctx, d, bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		return d
	}

	l.bundle = put(ocispec.MediaTypeImageIndex, oci.ArtifactTypeBundle, []byte(`{"schemaVersion":2}`))
	cfg := put(MediaTypeConfig, "", Config{
		Base:    Ref{Digest: l.base, Version: "1", Sequence: 1},
		Target:  Ref{Digest: l.bundle.Digest, Version: "2", Sequence: 2},
		Omitted: []Blob{{Digest: digest.FromBytes(l.layer), Size: int64(len(l.layer))}},
	})
	subject := l.bundle
	deltaManifest := put(ocispec.MediaTypeImageManifest, ArtifactType, ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       cfg,
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      &subject,
		Annotations:  map[string]string{oci.AnnotationBaseDigest: l.base.String(), oci.AnnotationBaseVersion: "1"},
	})

	signature := func(subject ocispec.Descriptor, name string) ocispec.Descriptor {
		return put(ocispec.MediaTypeImageManifest, oci.MediaTypeSigstoreBundle, ocispec.Manifest{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: oci.MediaTypeSigstoreBundle,
			Config:       ocispec.DescriptorEmptyJSON,
			Layers:       []ocispec.Descriptor{{MediaType: oci.MediaTypeSigstoreBundle, Digest: digest.FromString(name), Size: 1}},
			Subject:      &subject,
		})
	}
	bundleSignature := signature(l.bundle, "bundle signature")
	deltaSignature := signature(deltaManifest, "delta signature")

	l.entries["bundle"] = l.bundle.Digest
	l.entries["bundle signature"] = bundleSignature.Digest
	l.entries["delta manifest"] = deltaManifest.Digest
	l.entries["delta signature"] = deltaSignature.Digest
	l.index = ocispec.Index{Manifests: []ocispec.Descriptor{l.bundle, bundleSignature, deltaManifest, deltaSignature}}
	l.index.SchemaVersion = 2
	return l
}

// addOmitted stores the layer that the delta omits, as a complete copy
// of the kit carries it.
func (l *deltaLayout) addOmitted(t *testing.T) {
	t.Helper()
	// The memory store keys blobs by media type too, and a delta config
	// names none, as stores that key by digest need none.
	d := ocispec.Descriptor{Digest: digest.FromBytes(l.layer), Size: int64(len(l.layer))}
	if err := l.store.Push(context.Background(), d, bytes.NewReader(l.layer)); err != nil {
		t.Fatal(err)
	}
}

func TestFindDeltaNeedsOmittedBlobMissing(t *testing.T) {
	ctx := context.Background()
	l := newDeltaLayout(t)
	info, err := FindDelta(ctx, l.store, l.index, l.bundle.Digest)
	if err != nil {
		t.Fatalf("FindDelta of a layout without the omitted layer: %v", err)
	}
	if info.Config.Base.Digest != l.base {
		t.Errorf("FindDelta: base %s, want %s", info.Config.Base.Digest, l.base)
	}

	l.addOmitted(t)
	if info, err := FindDelta(ctx, l.store, l.index, l.bundle.Digest); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("FindDelta of a complete layout: info %+v, error %v; want one wrapping ErrNotFound", info, err)
	}
	if _, err := FindInfo(ctx, l.store, l.index, l.bundle.Digest); err != nil {
		t.Errorf("FindInfo of a complete layout: %v; want the delta manifest", err)
	}
}

func TestFindBaseOfCompleteLayout(t *testing.T) {
	ctx := context.Background()
	l := newDeltaLayout(t)
	base, _, ok, err := FindBase(ctx, l.store, l.index)
	if err != nil || !ok || base != l.base {
		t.Fatalf("FindBase without the omitted layer: %s, %v, %v; want %s", base, ok, err, l.base)
	}
	l.addOmitted(t)
	if base, _, ok, err := FindBase(ctx, l.store, l.index); err != nil || ok {
		t.Errorf("FindBase of a complete layout: %s, %v, %v; want no base", base, ok, err)
	}
	// Without the layout's blobs only the annotations of index.json can
	// name the base, and this entry has none.
	if _, _, ok, err := FindBase(ctx, nil, l.index); err != nil || ok {
		t.Errorf("FindBase without a source: ok %v, error %v; want no base", ok, err)
	}
}

func TestWithoutDeltaKeepsBundleSignature(t *testing.T) {
	l := newDeltaLayout(t)
	got := WithoutDelta(context.Background(), l.store, l.index)
	var remaining []digest.Digest
	for _, d := range got.Manifests {
		remaining = append(remaining, d.Digest)
	}
	want := []digest.Digest{l.entries["bundle"], l.entries["bundle signature"]}
	if !slices.Equal(remaining, want) {
		t.Errorf("WithoutDelta kept %v, want the bundle index and its signature %v", remaining, want)
	}
	if len(l.index.Manifests) != 4 {
		t.Errorf("WithoutDelta changed its argument: %d entries left, want 4", len(l.index.Manifests))
	}
}
