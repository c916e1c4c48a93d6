package mirror

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// upgradedRegistry starts one in-memory registry without the referrers
// API and serves its storage on two loopback addresses: the first as it
// is, the second with a referrers API that lists nothing. The second
// address acts as a registry that gained the API after kits were pushed
// with the sha256-<hex> tag, whose API lists only referrers pushed since.
// It returns both host:port values.
func upgradedRegistry(t *testing.T) (before, after string) {
	t.Helper()
	inner := checkManifestPut(ggcr.New(ggcr.WithReferrersSupport(false), ggcr.Logger(log.New(io.Discard, "", 0))))
	plain := httptest.NewServer(inner)
	t.Cleanup(plain.Close)
	withAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			io.WriteString(w, `{"schemaVersion":2,"mediaType":"`+ocispec.MediaTypeImageIndex+`","manifests":[]}`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(withAPI.Close)
	return strings.TrimPrefix(plain.URL, "http://"), strings.TrimPrefix(withAPI.URL, "http://")
}

// openUnsignedKit opens the kit file at path and returns it with a copy of
// its index that keeps only the image index entries that are not referrers
// tag indexes. The copy drops the signature manifests and the tag index
// that lists them, so a push of it carries no signature. The kit is closed
// when t ends.
func openUnsignedKit(t *testing.T, path string) (*delta.Kit, ocispec.Index) {
	t.Helper()
	k, err := delta.OpenKit(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	var unsigned ocispec.Index
	unsigned.SchemaVersion = 2
	for _, d := range k.Index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && !layout.IsReferrersTagEntry(d) {
			unsigned.Manifests = append(unsigned.Manifests, d)
		}
	}
	return k, unsigned
}

func TestOpenKitReadsTagWhenAPIListsNone(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	before, after := upgradedRegistry(t)
	pushed := pushFile(t, plainClient(t, before), kit, before+"/ouk:1")

	c := plainClient(t, after)
	repo := repository(t, c, after+"/ouk:1")
	src, err := OpenKit(context.Background(), repo, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(src.Index.Manifests) - 1; n != 1 {
		t.Fatalf("OpenKit found %d signatures, want the one that the sha256-<hex> tag lists (lookup: %s)", n, src.SignatureLookup)
	}
	res, err := importer.ImportFrom(context.Background(), src.Storage(), src.Index, importer.Options{Store: newStore(t), Keys: f.keys})
	if err != nil {
		t.Fatalf("import from the upgraded registry: %v", err)
	}
	if res.Digest != pushed.Digest {
		t.Errorf("import: digest %s, want %s", res.Digest, pushed.Digest)
	}
	if res.SignedBy == "" {
		t.Errorf("import: kit %s has no signer, want a signed kit", res.Digest)
	}
}

func TestOpenKitDescribesSignatureLookup(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	before, after := upgradedRegistry(t)
	// The pushes leave the signature out, as a copy without referrers does.
	k, unsigned := openUnsignedKit(t, kit)
	c := plainClient(t, before, after)
	push := func(ref string, opts PushOptions) string {
		t.Helper()
		repo := repository(t, c, ref)
		res, err := PushKit(context.Background(), k.Storage, unsigned, repo, repo.Reference.Reference, opts)
		if err != nil {
			t.Fatal(err)
		}
		return "sha256-" + strings.TrimPrefix(res.Digest, "sha256:")
	}
	tag := push(before+"/with-sbom:1", PushOptions{AllowUnsigned: true})
	push(before+"/bare:1", PushOptions{SkipSBOMReferrer: true, AllowUnsigned: true})

	// A push without a signature leaves the SBOM referrer, which a copy
	// without referrers would leave behind too.
	pushedUnsigned := "the kit was pushed without a signature"
	copied := "`oras cp -r`"
	for _, tc := range []struct {
		name, ref, want, advice string
	}{
		{"tag only, SBOM referrer", before + "/with-sbom:1",
			"the registry has no referrers API, and tag " + tag + " lists 1 referrer of the kit, which is no signature",
			pushedUnsigned},
		{"tag only, no referrer", before + "/bare:1",
			"the registry has no referrers API, and tag " + tag + " does not exist", copied},
		{"API and tag, SBOM referrer", after + "/with-sbom:1",
			"the referrers API lists no referrer of the kit, and tag " + tag + " lists 1 referrer of the kit, which is no signature",
			pushedUnsigned},
		{"API and tag, no referrer", after + "/bare:1",
			"the referrers API lists no referrer of the kit, and tag " + tag + " does not exist", copied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := repository(t, c, tc.ref)
			src, err := OpenKit(context.Background(), repo, "1", nil)
			if err != nil {
				t.Fatal(err)
			}
			if src.SignatureLookup != tc.want {
				t.Errorf("lookup %q, want %q", src.SignatureLookup, tc.want)
			}
			_, err = importer.ImportFrom(context.Background(), src.Storage(), src.Index, importer.Options{Store: newStore(t),
				Keys: f.keys, Registry: tc.ref, SignatureLookup: src.SignatureLookup, OtherReferrers: src.OtherReferrers})
			if err == nil {
				t.Fatal("import of the unsigned copy succeeded, want ErrSignature")
			}
			if !errors.Is(err, errdef.ErrSignature) {
				t.Errorf("import of the unsigned copy: %v, want ErrSignature", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("import of the unsigned copy: %v, want the error to quote the lookup", err)
			}
			if !strings.Contains(err.Error(), tc.advice) {
				t.Errorf("import of the unsigned copy: %v, want the advice %q", err, tc.advice)
			}
			if tc.advice == pushedUnsigned && strings.Contains(err.Error(), "stella ouk push") {
				t.Errorf("import of a kit pushed unsigned advises stella ouk push: %v", err)
			}
		})
	}
}

func TestPushUnsignedKeepsTag(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	host := memRegistry(t, false)
	c := plainClient(t, host)
	signed := pushFile(t, c, kit, host+"/ouk:latest")

	second := f.buildKit("kit2.tar", "2.0.0", 2, "")
	k, unsigned := openUnsignedKit(t, second)
	repo := repository(t, c, host+"/ouk:latest")
	_, err := PushKit(context.Background(), k.Storage, unsigned, repo, "latest", PushOptions{})
	if !errors.Is(err, errdef.ErrSignature) {
		t.Errorf("push of an unsigned kit: %v, want ErrSignature", err)
	}
	if err == nil || !strings.Contains(err.Error(), "--allow-unsigned") {
		t.Errorf("push of an unsigned kit: %v, want the error to name --allow-unsigned", err)
	}
	desc, err := repo.Resolve(context.Background(), "latest")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != signed.Digest {
		t.Errorf("tag latest names %s after the rejected push, want the signed kit %s", desc.Digest, signed.Digest)
	}

	res, err := PushKit(context.Background(), k.Storage, unsigned, repo, "latest", PushOptions{AllowUnsigned: true})
	if err != nil {
		t.Fatalf("push with AllowUnsigned: %v", err)
	}
	if res.Digest == signed.Digest {
		t.Errorf("push with AllowUnsigned returned the digest of the first kit")
	}
}
