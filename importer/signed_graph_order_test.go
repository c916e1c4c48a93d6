package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// isImageManifest reports whether b is an image manifest with an OCI image
// config, as the manifests of a kit's images are.
func isImageManifest(b []byte) bool {
	var m ocispec.Manifest
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	return m.Config.MediaType == ocispec.MediaTypeImageConfig
}

// A tar stream may carry a large image layer after the signature verified
// but before the layer's image manifest. The layer can still be part of the
// signed graph, so the error names the entry order, whose fix is another
// order, not a new copy of the kit from its builder.
func TestSignedLayerBeforeManifestOrderError(t *testing.T) {
	f := newFixture(t)
	entries := readTarEntries(t, f.imageKit(MaxManifestSize+1))
	rank := func(e tarEntry) int {
		switch {
		case !strings.HasPrefix(e.name, "blobs/"):
			return 0
		case isImageManifest(e.data):
			return 3 // after the large layers
		case len(e.data) > MaxManifestSize:
			return 2
		}
		return 1
	}
	ordered := slices.Clone(entries)
	slices.SortStableFunc(ordered, func(a, b tarEntry) int { return rank(a) - rank(b) })

	_, err := ImportStream(context.Background(), bytes.NewReader(writeTarEntries(t, ordered)), f.opts())
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("err = %v, want errdef.ErrInvalidKit", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "is not part of the signed bundle index") {
		t.Errorf("a layer that arrives before its manifest is reported as unsigned:\n%s", msg)
	}
	if !strings.Contains(msg, "comes before manifest sha256:") {
		t.Errorf("message does not name the manifest that has not arrived:\n%s", msg)
	}
	if !strings.Contains(msg, reorderAdvice) {
		t.Errorf("message does not give the advice for another entry order:\n%s", msg)
	}
}

// verifiedGuard returns the guard of a tar stream whose signature verified,
// with pending as the manifest of the signed graph that has not arrived, or
// with every manifest arrived when pending is nil.
func (f *fixture) verifiedGuard(pending *ocispec.Descriptor) *streamGuard {
	f.t.Helper()
	g := newStreamGuard(f.session())
	g.tarStream = true
	g.verified = true
	if pending != nil {
		// The store lacks the manifest, so expand adds it to the graph
		// as a manifest that has not arrived.
		if err := g.expand(context.Background(), *pending); err != nil {
			f.t.Fatal(err)
		}
	}
	return g
}

func TestUnsignedBudgetOrderError(t *testing.T) {
	f := newFixture(t)
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: digest.FromString("manifest"), Size: 512}
	blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("blob"),
		Size: 1 << 20}

	g := f.verifiedGuard(&manifest)
	g.unsigned = MaxUnsignedBytes
	err := g.admit(context.Background(), blob)
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want errdef.ErrSizeExceedsLimit", err)
	}
	notArrived := "manifest " + manifest.Digest.String() + " of that graph had not arrived"
	for _, want := range []string{notArrived, reorderAdvice} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message with a manifest still to come does not contain %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "outside its signed bundle index") {
		t.Errorf("message with a manifest still to come calls the blobs unsigned:\n%s", err)
	}

	g = f.verifiedGuard(nil)
	g.unsigned = MaxUnsignedBytes
	err = g.admit(context.Background(), blob)
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want errdef.ErrSizeExceedsLimit", err)
	}
	if !strings.Contains(err.Error(), "outside its signed bundle index") {
		t.Errorf("message after every manifest arrived does not call the blobs unsigned:\n%s", err)
	}
	if strings.Contains(err.Error(), reorderAdvice) {
		t.Errorf("message after every manifest arrived blames the entry order:\n%s", err)
	}
}

func TestUnsignedLargeBlobAfterManifests(t *testing.T) {
	f := newFixture(t)
	blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("blob"),
		Size: MaxManifestSize + 1}
	err := f.verifiedGuard(nil).admit(context.Background(), blob)
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("err = %v, want errdef.ErrInvalidKit", err)
	}
	if !strings.Contains(err.Error(), "is not part of the signed bundle index") {
		t.Errorf("message after every manifest arrived does not call the blob unsigned:\n%s", err)
	}
	if strings.Contains(err.Error(), reorderAdvice) {
		t.Errorf("message after every manifest arrived blames the entry order:\n%s", err)
	}
}
