package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	internalerrdef "stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// wrappedRegistry starts go-containerregistry's in-memory registry on
// loopback behind wrap and returns its host:port.
func wrappedRegistry(t *testing.T, referrers bool, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	inner := ggcr.New(ggcr.WithReferrersSupport(referrers), ggcr.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(wrap(checkManifestPut(inner)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// onManifestPut calls hook for each manifest upload whose body contains
// marker. A hook that returns true has written the response itself.
func onManifestPut(marker string, hook func(http.ResponseWriter) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				if bytes.Contains(body, []byte(marker)) && hook(w) {
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// denied writes a 403 DENIED response, as a registry policy that
// rejects a manifest does.
func denied(w http.ResponseWriter) bool {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, `{"errors":[{"code":"DENIED","message":"rejected by test policy"}]}`)
	return true
}

func TestPushDeniedSignatureKeepsTag(t *testing.T) {
	for _, api := range []bool{true, false} {
		name := "referrers API"
		if !api {
			name = "tag fallback"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			kit1 := f.buildKit("kit1.tar", "1.0.0", 1, "")
			kit2 := f.buildKit("kit2.tar", "2.0.0", 2, "")
			var deny atomic.Bool
			host := wrappedRegistry(t, api, onManifestPut(oci.MediaTypeSigstoreBundle, func(w http.ResponseWriter) bool {
				return deny.Load() && denied(w)
			}))
			c := plainClient(t, host)
			ref := host + "/ouk:latest"
			first := pushFile(t, c, kit1, ref)

			deny.Store(true)
			repo := repository(t, c, ref)
			open := func() (io.ReadCloser, error) { return os.Open(kit2) }
			_, err := PushKitStream(context.Background(), open, repo, "latest", PushOptions{})
			if err == nil {
				t.Fatal("push with a rejected signature succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "tag "+ref+" was not moved") {
				t.Errorf("error does not state that tag %s was not moved:\n%s", ref, msg)
			}
			if !strings.Contains(msg, first.Digest) {
				t.Errorf("error does not name kit 1 (%s), which the tag still names:\n%s", first.Digest, msg)
			}
			desc, err := repo.Resolve(context.Background(), "latest")
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest.String() != first.Digest {
				t.Errorf("tag names %s after the failed push, want kit 1 %s", desc.Digest, first.Digest)
			}
			// Importers still get the signed kit 1 through the tag.
			res, _ := importRef(t, c, newStore(t), f.keys, ref)
			if res.Version != "1.0.0" {
				t.Errorf("import through the tag got kit %s, want 1.0.0", res.Version)
			}
		})
	}
}

func TestPushInterruptedBeforeTag(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The interrupt arrives while the signature referrer goes up.
	host := wrappedRegistry(t, false, onManifestPut(oci.MediaTypeSigstoreBundle, func(http.ResponseWriter) bool {
		cancel()
		return false
	}))
	c := plainClient(t, host)
	repo := repository(t, c, host+"/ouk:1")
	open := func() (io.ReadCloser, error) { return os.Open(kit) }
	_, err := PushKitStream(ctx, open, repo, "1", PushOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted push: %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "tag "+host+"/ouk:1 was not created") {
		t.Errorf("error does not say that the tag was not created:\n%s", err)
	}
	if _, err := repo.Resolve(context.Background(), "1"); !isNotFound(err) {
		t.Errorf("tag resolves after an interrupted push: %v, want not found", err)
	}
}

// storeImageSignature stores a signature manifest whose subject is the
// image, as a site that signs the kit's images would have, and returns it.
func storeImageSignature(t *testing.T, store interface {
	Push(context.Context, ocispec.Descriptor, io.Reader) error
}, image ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer := []byte(`{"test":"image signature"}`)
	layerDesc := ocispec.Descriptor{MediaType: oci.MediaTypeSigstoreBundle, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	for _, b := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data}, {layerDesc, layer}} {
		if err := store.Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil && !errors.Is(err, internalerrdef.ErrAlreadyExists) {
			t.Fatal(err)
		}
	}
	subject := ocispec.Descriptor{MediaType: image.MediaType, Digest: image.Digest, Size: image.Size}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSigstoreBundle,
		Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layerDesc}, Subject: &subject}
	m.SchemaVersion = 2
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := store.Push(ctx, desc, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return desc
}

func TestMirrorDeniedReferrerLeavesTagUnset(t *testing.T) {
	_, _, store, bundle := importKitFromRegistry(t)
	var image ocispec.Descriptor
	for _, d := range bundle.Manifests {
		if d.Annotations[oci.AnnotationRole] == oci.RoleImage {
			image = d
		}
	}
	sig := storeImageSignature(t, store, image)

	var deny atomic.Bool
	host := wrappedRegistry(t, true, onManifestPut(oci.MediaTypeSigstoreBundle, func(w http.ResponseWriter) bool {
		return deny.Load() && denied(w)
	}))
	c := plainClient(t, host)
	opts := MirrorOptions{Repository: c.Repository}
	deny.Store(true)
	_, err := MirrorImages(context.Background(), store, bundle, host+"/site", opts)
	if err == nil {
		t.Fatal("mirror with a rejected image signature succeeded")
	}
	target := host + "/site/stella-ops/scanner:0.1.0"
	if !strings.Contains(err.Error(), "tag "+target+" was not created") {
		t.Errorf("error does not say that the tag was not created:\n%s", err)
	}
	repo := repository(t, c, target)
	if _, err := repo.Resolve(context.Background(), "0.1.0"); !isNotFound(err) {
		t.Errorf("image tag resolves although its signature was rejected: %v, want not found", err)
	}

	// Once the registry accepts the signature, the image is tagged with
	// its signature listed.
	deny.Store(false)
	out, err := MirrorImages(context.Background(), store, bundle, host+"/site", opts)
	if err != nil {
		t.Fatalf("mirror: %v", err)
	}
	if !out[0].Tagged {
		t.Errorf("second mirror: %+v, want the image tagged", out[0])
	}
	if out[0].Referrers != 1 {
		t.Errorf("second mirror: %d referrers, want 1", out[0].Referrers)
	}
	var listed []ocispec.Descriptor
	err = repo.Referrers(context.Background(), image, "", func(page []ocispec.Descriptor) error {
		listed = append(listed, page...)
		return nil
	})
	if err != nil || len(listed) != 1 || listed[0].Digest != sig.Digest {
		t.Errorf("referrers of the mirrored image: %v, %v; want %s", listed, err, sig.Digest)
	}
}
