package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// fixture is a store on disk, a trusted key and its signer.
type fixture struct {
	t      testing.TB
	dir    string
	store  *cas.Store
	keys   []sign.TrustedKey
	signer crypto.Signer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := cas.Open(filepath.Join(dir, "db"), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	priv, pub, err := sign.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := sign.LoadTrustedKeys([]string{pubPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, store: store, keys: keys, signer: signer}
}

// kit builds a signed kit from the fixture feeds and returns its bytes.
func (f *fixture) kit(version string, seq int64) []byte {
	f.t.Helper()
	return f.kitAs(version+".tar", version, seq)
}

// kitAs builds a signed kit into the file name, whose suffix picks the
// compression, and returns its bytes.
func (f *fixture) kitAs(name, version string, seq int64) []byte {
	f.t.Helper()
	out := filepath.Join(f.dir, name)
	feeds := filepath.Join("..", "testdata", "feeds")
	_, err := build.Build(context.Background(), build.Options{
		Output:   out,
		Version:  version,
		Sequence: seq,
		Created:  time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Signer:   f.signer,
		Feeds: []vulndb.Feed{
			{Kind: "osv", Path: filepath.Join(feeds, "osv")},
			{Kind: "regional", Name: "demo-cert", Path: filepath.Join(feeds, "regional")},
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

func (f *fixture) opts() Options {
	return Options{Store: f.store, Keys: f.keys}
}

func (f *fixture) blobCount() int {
	f.t.Helper()
	n := 0
	if err := f.store.Blobs(context.Background(), func(cas.BlobInfo) error { n++; return nil }); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestImportStreamActivates(t *testing.T) {
	f := newFixture(t)
	res, err := ImportStream(context.Background(), bytes.NewReader(f.kit("1.0.0", 1)), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	active, err := f.store.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if active.Digest.String() != res.Digest || active.Version != "1.0.0" {
		t.Errorf("active = %s %s, want %s 1.0.0", active.Digest, active.Version, res.Digest)
	}
	if res.LayersIndexed == 0 {
		t.Errorf("no DB layer indexed")
	}
	if res.SignedBy == "" {
		t.Errorf("result does not name the key that signed the kit")
	}
}

func TestImportRejectedLeavesStoreUnchanged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := ImportStream(ctx, bytes.NewReader(f.kit("2.0.0", 2)), f.opts()); err != nil {
		t.Fatal(err)
	}
	before := f.blobCount()
	older := f.kit("1.0.0", 1)
	_, err := ImportStream(ctx, bytes.NewReader(older), f.opts())
	if !errors.Is(err, errdef.ErrDowngrade) {
		t.Fatalf("err = %v, want ErrDowngrade", err)
	}
	if got := f.blobCount(); got != before {
		t.Errorf("store holds %d blobs after a rejected import, want %d", got, before)
	}
	active, _ := f.store.Active(ctx)
	if active.Version != "2.0.0" {
		t.Errorf("active version = %q after a rejected import", active.Version)
	}
}

func TestImportUntrustedKey(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	_, err := ImportStream(context.Background(), bytes.NewReader(other.kit("1.0.0", 1)), f.opts())
	if !errors.Is(err, errdef.ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
	opts := f.opts()
	opts.InsecureSkipSignature = true
	res, err := ImportStream(context.Background(), bytes.NewReader(other.kit("1.0.0", 1)), opts)
	if err != nil {
		t.Fatalf("with InsecureSkipSignature: %v", err)
	}
	if len(res.Warnings) == 0 {
		t.Errorf("no warning for a kit imported without a valid signature")
	}
}

func TestImportKitWithoutExpiry(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	opts := f.opts()
	opts.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	// The fixture kit never expires, so the clock alone must not reject it.
	if _, err := ImportStream(context.Background(), bytes.NewReader(raw), opts); err != nil {
		t.Fatalf("kit without expiry rejected: %v", err)
	}
}

func TestImportAgainIsNoOp(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	if _, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts()); err != nil {
		t.Fatal(err)
	}
	res, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyActive || res.BlobsStored != 0 {
		t.Errorf("second import: alreadyActive %v, %d blobs stored", res.AlreadyActive, res.BlobsStored)
	}
	hist, _ := f.store.History(context.Background())
	if len(hist) != 1 {
		t.Errorf("history has %d entries after importing one kit twice", len(hist))
	}
}

func FuzzReadIndexJSON(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}`))
	f.Add([]byte(`{"schemaVersion":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := readIndexJSON(bytes.NewReader(b))
		if err == nil && idx.SchemaVersion != 2 {
			t.Fatalf("accepted schemaVersion %d", idx.SchemaVersion)
		}
	})
}

func FuzzReadLayoutFile(f *testing.F) {
	f.Add([]byte(`{"imageLayoutVersion":"1.0.0"}`))
	f.Add([]byte(`{"imageLayoutVersion":"2.0.0"}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = layout.ReadKitLayoutFile(bytes.NewReader(b))
	})
}

func TestImportDirRejectsUnsignedLargeBlob(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, raw, dir)

	// index.json gains a manifest, not covered by the signature, that
	// references a 5 MiB blob.
	big := bytes.Repeat([]byte{0x5a}, 5<<20)
	bigDesc := writeBlob(t, dir, "application/octet-stream", big)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[{"mediaType":"application/octet-stream","digest":"` + bigDesc.Digest.String() + `","size":` + strconv.Itoa(len(big)) + `}]}`)
	mDesc := writeBlob(t, dir, ocispec.MediaTypeImageManifest, manifest)
	writeBlob(t, dir, "application/vnd.oci.empty.v1+json", []byte("{}"))
	var idx ocispec.Index
	rawIdx, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(rawIdx, &idx)
	idx.Manifests = append(idx.Manifests, mDesc)
	rawIdx, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), rawIdx, 0o644)

	_, err := ImportDir(context.Background(), dir, f.opts())
	if !errors.Is(err, errdef.ErrInvalidKit) || !strings.Contains(err.Error(), "not part of the signed bundle index") {
		t.Fatalf("err = %v, want a rejection of the unsigned blob", err)
	}
	if ok, _ := f.store.Exists(context.Background(), bigDesc); ok {
		t.Errorf("the unsigned 5 MiB blob was stored")
	}
}

func writeLayoutFolder(t *testing.T, kit []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(kit))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		data, _ := io.ReadAll(tr)
		os.WriteFile(p, data, 0o644)
	}
}

func writeBlob(t *testing.T, dir, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(data)
	p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func TestHistoryRecordsSkippedSignature(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	opts := f.opts()
	opts.InsecureSkipSignature = true
	if _, err := ImportStream(context.Background(), bytes.NewReader(other.kit("1.0.0", 1)), opts); err != nil {
		t.Fatal(err)
	}
	hist, err := f.store.History(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || !strings.Contains(hist[0].Note, "--insecure-skip-signature") {
		t.Errorf("history = %+v, want a note about the skipped signature check", hist)
	}
}

func TestImportChecksFreeSpace(t *testing.T) {
	f := newFixture(t)
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		p := filepath.Join(f.dir, platform[6:])
		data := make([]byte, 6<<20)
		rand.NewChaCha8([32]byte{byte(i + 1)}).Read(data)
		os.WriteFile(p, data, 0o755)
		bins[platform] = p
	}
	imageDir := filepath.Join(f.dir, "image")
	ref := "registry.example.test/stella-ops/scanner:0.1.0"
	if _, err := layout.BuildDemoImage(context.Background(), bins, ref, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), imageDir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, "kit.tar")
	_, err := build.Build(context.Background(), build.Options{
		Output: out, Version: "1.0.0", Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Signer: f.signer,
		Images: []build.Image{{Ref: ref, Path: imageDir}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)

	opts := f.opts()
	opts.FreeSpace = func(string) (int64, error) { return 8 << 20, nil }
	_, err = ImportStream(context.Background(), bytes.NewReader(raw), opts)
	if !errors.Is(err, errdef.ErrDiskFull) || !strings.Contains(err.Error(), "free disk") {
		t.Fatalf("err = %v, want a free disk space error", err)
	}
	// A full disk is no fault of the kit, so the import keeps the small
	// verified blobs it stored, as an interrupted transfer does.
	if n := f.largeBlobCount(); n != 0 {
		t.Errorf("store holds %d image layers after the import failed for lack of space", n)
	}
	opts.FreeSpace = func(string) (int64, error) { return 1 << 40, nil }
	if _, err := ImportStream(context.Background(), bytes.NewReader(raw), opts); err != nil {
		t.Fatalf("import with enough space: %v", err)
	}
}

// failingReader returns the first n bytes of data, then err.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := copy(p, f.data[:min(len(f.data), f.n)])
	f.data, f.n = f.data[k:], f.n-k
	return k, nil
}

func TestTransferErrorKeepsVerifiedBlobs(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	broken := &failingReader{data: raw, n: len(raw) * 3 / 4, err: errors.New("connection reset by peer")}
	if _, err := ImportStream(context.Background(), broken, f.opts()); err == nil {
		t.Fatal("import of a broken transfer succeeded")
	}
	if f.blobCount() == 0 {
		t.Errorf("a broken transfer removed the blobs it had verified")
	}
	res, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsSkipped == 0 {
		t.Errorf("the second attempt stored every blob again")
	}
}

func TestHistoryRecordsImageWarnings(t *testing.T) {
	f := newFixture(t)
	opts := f.opts()
	var checked []ocispec.Descriptor
	opts.ImageWarnings = func(children []ocispec.Descriptor) []string {
		checked = children
		return []string{"image reference warning"}
	}
	res, err := ImportStream(context.Background(), bytes.NewReader(f.kit("1.0.0", 1)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) == 0 {
		t.Errorf("ImageWarnings got no children of the bundle index")
	}
	if !slices.Equal(res.ImageWarnings, []string{"image reference warning"}) {
		t.Errorf("result image warnings = %q, want the warning of ImageWarnings", res.ImageWarnings)
	}
	if slices.Contains(res.Warnings, "image reference warning") {
		t.Errorf("result warnings = %q, want the image warning only in ImageWarnings", res.Warnings)
	}
	hist, err := f.store.History(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || !strings.Contains(hist[0].Note, "image reference warning") {
		t.Errorf("history = %+v, want a note with the image warning", hist)
	}
}
