package importer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// bundleOnlyIndex returns index with the bundle index as its only entry,
// as a registry copy without referrers lists it.
func bundleOnlyIndex(t *testing.T, index ocispec.Index) ocispec.Index {
	t.Helper()
	out := index
	out.Manifests = nil
	for _, d := range index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && !layout.IsReferrersTagEntry(d) {
			out.Manifests = append(out.Manifests, d)
		}
	}
	if len(out.Manifests) != 1 {
		t.Fatalf("index.json lists %d image indexes, want 1", len(out.Manifests))
	}
	return out
}

func TestRegistryKitWithoutReferrersMessage(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
	index, src, err := layout.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := bundleOnlyIndex(t, index)

	opts := f.opts()
	opts.Registry = "127.0.0.1:5000/copied/kit"
	_, err = ImportFrom(context.Background(), src, unsigned, opts)
	if !errors.Is(err, errdef.ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
	msg := err.Error()
	for _, want := range []string{"127.0.0.1:5000/copied/kit lists no signature referrer", "oras cp -r", "regctl image copy --referrers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "carries no signature") {
		t.Errorf("message calls a registry copy unsigned:\n%s", msg)
	}
	if strings.Index(msg, "--insecure-skip-signature") < strings.Index(msg, "oras cp -r") {
		t.Errorf("message offers --insecure-skip-signature before the copy advice:\n%s", msg)
	}

	// The message quotes where the caller looked for the signature.
	opts.SignatureLookup = "the referrers API lists no referrer of the kit, and tag sha256-0a1b does not exist"
	_, err = ImportFrom(context.Background(), src, unsigned, opts)
	if err == nil || !strings.Contains(err.Error(), "lists no signature referrer of it ("+opts.SignatureLookup+")") {
		t.Errorf("message does not quote the signature lookup: %v", err)
	}
	if strings.Contains(err.Error(), "through the referrers API or the sha256-<hex> tag") {
		t.Errorf("message names places that were not checked: %v", err)
	}

	// Without a registry the kit itself carries no signature.
	_, err = ImportFrom(context.Background(), src, unsigned, f.opts())
	if err == nil || !strings.Contains(err.Error(), "carries no signature") {
		t.Errorf("layout import without signatures: %v", err)
	}
}
