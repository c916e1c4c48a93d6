package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

func fixtureOptions(t *testing.T, out string) Options {
	t.Helper()
	feeds := filepath.Join("..", "..", "testdata", "feeds")
	return Options{
		Output:  out,
		Version: "1.0.0",
		Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Feeds: []vulndb.Feed{
			{Kind: "osv", Path: filepath.Join(feeds, "osv")},
			{Kind: "regional", Name: "demo-cert", Path: filepath.Join(feeds, "regional")},
		},
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kit.tar", "kit.tar.gz", "kit.tar.zst"} {
		a := filepath.Join(dir, "a-"+name)
		b := filepath.Join(dir, "b-"+name)
		if _, err := Build(context.Background(), fixtureOptions(t, a)); err != nil {
			t.Fatal(err)
		}
		if _, err := Build(context.Background(), fixtureOptions(t, b)); err != nil {
			t.Fatal(err)
		}
		ra, _ := os.ReadFile(a)
		rb, _ := os.ReadFile(b)
		if !bytes.Equal(ra, rb) {
			t.Errorf("%s: two builds differ", name)
		}
	}
}

func TestBuildBundleIndex(t *testing.T) {
	out := filepath.Join(t.TempDir(), "kit.tar")
	opts := fixtureOptions(t, out)
	opts.Sequence = 7
	opts.Expires = 48 * time.Hour
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	k, err := OpenKit(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if k.Bundle.Digest.String() != res.Digest {
		t.Errorf("bundle digest %s, result says %s", k.Bundle.Digest, res.Digest)
	}
	if k.Meta.Sequence != 7 || !k.Meta.Expires.Equal(opts.Created.Add(48*time.Hour)) {
		t.Errorf("meta = %+v", k.Meta)
	}
	idx, err := k.BundleIndex(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{oci.RoleDB, oci.RoleSBOM} {
		if _, ok := oci.Child(idx, role); !ok {
			t.Errorf("bundle index has no %s child", role)
		}
	}
	if k.Index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "1.0.0" {
		t.Errorf("index.json does not tag the bundle with the version")
	}
}

func TestBuildRejectsUnknownSuffix(t *testing.T) {
	_, err := Build(context.Background(), fixtureOptions(t, filepath.Join(t.TempDir(), "kit.tar.bz2")))
	if !errors.Is(err, errdef.ErrUnknownCompression) {
		t.Fatalf("err = %v, want ErrUnknownCompression", err)
	}
}

func TestBuildRejectsEpochDefaultSequence(t *testing.T) {
	dir := t.TempDir()
	opts := fixtureOptions(t, filepath.Join(dir, "kit.tar"))
	opts.Created = time.Unix(0, 0)
	_, err := Build(context.Background(), opts)
	if !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Fatalf("build at the Unix epoch without a sequence: err = %v, want ErrInvalidArgument", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kit.tar")); !os.IsNotExist(err) {
		t.Errorf("a rejected build wrote kit.tar (stat: %v)", err)
	}

	opts.Sequence = 1
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("build at the Unix epoch with sequence 1: %v", err)
	}
	if res.Sequence != 1 {
		t.Errorf("sequence = %d, want 1", res.Sequence)
	}
}

func TestBuildRejectsNonSPDXSBOM(t *testing.T) {
	dir := t.TempDir()
	sbom := filepath.Join(dir, "bom.json")
	os.WriteFile(sbom, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`), 0o644)
	opts := fixtureOptions(t, filepath.Join(dir, "kit.tar"))
	opts.SBOM = sbom
	_, err := Build(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "SPDX 2.3") {
		t.Fatalf("err = %v, want an error asking for SPDX 2.3", err)
	}
	if _, statErr := os.Stat(opts.Output); statErr == nil {
		t.Errorf("a failed build left a kit at %s", opts.Output)
	}
}

// A document with every field that SPDX 2.3 requires of a document is
// carried as it is, whatever else it holds.
func TestReadSBOMAcceptsCompleteDocument(t *testing.T) {
	doc := `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","dataLicense":"CC0-1.0","name":"x",` +
		`"documentNamespace":"https://example.test/x","creationInfo":{"created":"2026-01-01T00:00:00Z",` +
		`"creators":["Tool: example"]},"packages":[]}`
	path := filepath.Join(t.TempDir(), "bom.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := readSBOM(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != doc {
		t.Errorf("readSBOM changed the document: %s", raw)
	}
}

func TestReadSBOMNamesFormat(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"cyclonedx", `{"bomFormat":"CycloneDX","specVersion":"1.5"}`,
			[]string{"is a CycloneDX 1.5 document", "SPDX 2.3 JSON SBOM only", "syft convert", "leave out --sbom"}},
		{"spdx 2.2", `{"spdxVersion":"SPDX-2.2"}`, []string{`spdxVersion "SPDX-2.2"`, "SPDX 2.3 JSON SBOM only"}},
		{"other json", `{"packages":[]}`, []string{"has no spdxVersion field", "not an SPDX JSON document"}},
		{"not json", `<bom/>`, []string{"is not JSON", "syft convert"}},
		{"spdx 2.3 stub", `{"spdxVersion":"SPDX-2.3"}`, []string{"not a complete SPDX 2.3 document",
			`SPDXID "SPDXRef-DOCUMENT"`, `dataLicense "CC0-1.0"`, "name", "documentNamespace", "creationInfo"}},
		{"spdx 2.3 without creators", `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","dataLicense":"CC0-1.0",` +
			`"name":"x","documentNamespace":"https://example.test/x","creationInfo":{"created":"2026-01-01T00:00:00Z"}}`,
			[]string{"it does not have creationInfo.creators, which"}},
		{"spdx 2.3 wrong types", `{"spdxVersion":"SPDX-2.3","name":7}`, []string{"fields of the expected types"}},
		{"version as number", `{"spdxVersion":2.3,"name":"x"}`, []string{`field "spdxVersion" is a JSON number`,
			`SPDX-2.3`, "syft convert"}},
		{"array", `[{"spdxVersion":"SPDX-2.3"}]`, []string{"is a JSON array", "SPDX 2.3 JSON SBOM only"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bom.json")
			if err := os.WriteFile(path, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readSBOM(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), `spdxVersion ""`) {
				t.Errorf("error quotes an empty spdxVersion: %v", err)
			}
			if json.Valid([]byte(c.doc)) && strings.Contains(err.Error(), "is not JSON") {
				t.Errorf("error calls valid JSON not JSON: %v", err)
			}
		})
	}
}

// A build on a base from the same feeds changes nothing, so it reuses the
// base's layers and adds no empty overlay.
func TestBuildWithBaseAddsNoEmptyLayer(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	baseOpts := fixtureOptions(t, base)
	baseOpts.Sequence = 1
	resBase, err := Build(context.Background(), baseOpts)
	if err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Base = base
	opts.Version = "1.0.1"
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers != resBase.Layers {
		t.Errorf("kit built on a base from the same feeds has %d DB layers, want the base's %d", res.Layers, resBase.Layers)
	}
}

func TestBuildRejectsSequenceNotAboveBase(t *testing.T) {
	dir := t.TempDir()
	base := buildBase(t, dir, 10)
	cases := []struct {
		name     string
		sequence int64
		delta    bool
		wants    []string
	}{
		{"lower", 5, false, []string{"kit sequence 5 is not above 10", base, "downgrade", "11 or higher"}},
		{"lower delta", 5, true, []string{"kit sequence 5 is not above 10", base, "downgrade", "11 or higher"}},
		{"equal", 10, false, []string{"kit sequence 10 is not above 10", "no order", "11 or higher"}},
		{"equal delta", 10, true, []string{"kit sequence 10 is not above 10", "no order", "11 or higher"}},
	}
	for _, c := range cases {
		opts := fixtureOptions(t, filepath.Join(dir, c.name+".tar"))
		opts.Version, opts.Sequence, opts.Base = "1.0.1", c.sequence, base
		if c.delta {
			opts.DeltaOutput = filepath.Join(dir, c.name+".delta.tar")
		}
		_, err := Build(context.Background(), opts)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", c.name, err)
			continue
		}
		for _, want := range c.wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, want)
			}
		}
		for _, out := range []string{opts.Output, opts.DeltaOutput} {
			if _, statErr := os.Stat(out); out != "" && statErr == nil {
				t.Errorf("%s: a rejected build wrote %s", c.name, out)
			}
		}
	}

	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Version, opts.Sequence, opts.Base = "1.0.1", 11, base
	if _, err := Build(context.Background(), opts); err != nil {
		t.Errorf("sequence 11 on a base of sequence 10: %v", err)
	}
}

func TestBuildRejectsDefaultSequenceBelowBase(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	baseOpts := fixtureOptions(t, base)
	baseOpts.Sequence = baseOpts.Created.Unix() + 1000
	if _, err := Build(context.Background(), baseOpts); err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Version, opts.Base = "1.0.1", base
	_, err := Build(context.Background(), opts)
	if !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
	if !strings.Contains(err.Error(), "the creation time in Unix seconds") {
		t.Errorf("error %q does not say the sequence is the creation time", err)
	}
}

func TestBuildCreatesOutputFolders(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base", "kit.tar")
	baseOpts := fixtureOptions(t, base)
	baseOpts.Sequence = 1
	if _, err := Build(context.Background(), baseOpts); err != nil {
		t.Fatalf("build into a missing folder: %v", err)
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("kit not written: %v", err)
	}

	opts := fixtureOptions(t, filepath.Join(dir, "full", "a", "next.tar"))
	opts.Version, opts.Sequence, opts.Base = "1.0.1", 2, base
	opts.DeltaOutput = filepath.Join(dir, "delta", "b", "next.delta.tar")
	if _, err := Build(context.Background(), opts); err != nil {
		t.Fatalf("build with a delta into missing folders: %v", err)
	}
	for _, out := range []string{opts.Output, opts.DeltaOutput} {
		if _, err := os.Stat(out); err != nil {
			t.Errorf("output not written: %v", err)
		}
	}
}

// A build with a delta renames both files only once both are written, so
// a build that fails on the delta leaves the kit's old file as it was and
// no temporary file behind.
func TestBuildDeltaFailureWritesNeither(t *testing.T) {
	dir := t.TempDir()
	base := buildBase(t, dir, 1)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(outDir, "next.tar")
	oldKit := []byte("kit of an earlier build")
	if err := os.WriteFile(full, oldKit, 0o644); err != nil {
		t.Fatal(err)
	}

	opts := fixtureOptions(t, full)
	opts.Version, opts.Sequence, opts.Base = "1.0.1", 2, base
	// The delta's folder cannot be created under a file, so the build
	// fails on the delta.
	opts.DeltaOutput = filepath.Join(file, "next.delta.tar")
	if _, err := Build(context.Background(), opts); err == nil {
		t.Fatal("build with a delta under a file succeeded")
	}
	got, err := os.ReadFile(full)
	if err != nil {
		t.Fatalf("the kit's earlier file is gone: %v", err)
	}
	if !bytes.Equal(got, oldKit) {
		t.Errorf("a build whose delta failed replaced the kit %s", full)
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "next.tar" {
			t.Errorf("a failed build left %s in %s", e.Name(), outDir)
		}
	}
}

// A failed build removes the folders it created for its output.
func TestBuildFailureRemovesCreatedFolders(t *testing.T) {
	dir := t.TempDir()
	base := buildBase(t, dir, 1)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions(t, filepath.Join(dir, "new", "a", "next.tar"))
	opts.Version, opts.Sequence, opts.Base = "1.0.1", 2, base
	opts.DeltaOutput = filepath.Join(file, "next.delta.tar")
	if _, err := Build(context.Background(), opts); err == nil {
		t.Fatal("build with a delta under a file succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed build left the folder it created for its kit (%v)", err)
	}
}

// The cleanup of CreateParentFolder keeps a folder that holds a file, and
// every folder once the output is written.
func TestCreateParentFolderCleanup(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a", "b", "kit.tar")
	cleanup, err := CreateParentFolder(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(out); err != nil {
		t.Errorf("cleanup after the write removed the output: %v", err)
	}

	out = filepath.Join(dir, "c", "d", "kit.tar")
	if cleanup, err = CreateParentFolder(out); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "c", "other")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Lstat(filepath.Join(dir, "c", "d")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup kept the empty folder c/d (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("cleanup removed a folder that holds a file: %v", err)
	}
}

func TestBuildOutputUnderFileFails(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Build(context.Background(), fixtureOptions(t, filepath.Join(file, "kit.tar")))
	if err == nil {
		t.Fatal("build under a file succeeded")
	}
	if !strings.Contains(err.Error(), "creating folder "+file) {
		t.Errorf("error %q does not name the folder it could not create", err)
	}
}

func TestBuildChecksImageRefDigest(t *testing.T) {
	dir := t.TempDir()
	image := testImage(t, dir)
	index, _, err := layout.OpenDir(image)
	if err != nil {
		t.Fatal(err)
	}
	imageDigest := index.Manifests[0].Digest
	repo, _, _ := strings.Cut(testImageRef, ":")
	wrong := digest.FromString("other content")

	for _, ref := range []string{repo + "@" + wrong.String(), testImageRef + "@" + wrong.String()} {
		opts := fixtureOptions(t, filepath.Join(dir, "wrong.tar"))
		opts.Images = []Image{{Ref: ref, Path: image}}
		_, err := Build(context.Background(), opts)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", ref, err)
			continue
		}
		for _, want := range []string{ref, wrong.String(), "index digest " + imageDigest.String(), image} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", ref, err, want)
			}
		}
		if _, statErr := os.Stat(opts.Output); statErr == nil {
			t.Errorf("%s: a rejected build wrote %s", ref, opts.Output)
		}
	}

	for _, ref := range []string{repo + "@" + imageDigest.String(), testImageRef + "@" + imageDigest.String()} {
		opts := fixtureOptions(t, filepath.Join(dir, "right.tar"))
		opts.Images = []Image{{Ref: ref, Path: image}}
		if _, err := Build(context.Background(), opts); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// TestBuildDeltaKilledBetweenRenames checks what a build killed between
// the renames of the kit and its delta leaves: the new kit and no delta,
// rather than the earlier delta beside a kit it does not belong to.
func TestBuildDeltaKilledBetweenRenames(t *testing.T) {
	dir := t.TempDir()
	base := buildBase(t, dir, 1)
	opts := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	opts.Version, opts.Sequence, opts.Base = "1.0.1", 2, base
	opts.DeltaOutput = filepath.Join(dir, "next.delta.tar")
	if _, err := Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}

	deltaLeft := true
	afterKitCommit = func() {
		_, err := os.Stat(opts.DeltaOutput)
		deltaLeft = err == nil
	}
	t.Cleanup(func() { afterKitCommit = func() {} })
	opts.Version = "1.0.1-rebuilt"
	if _, err := Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if deltaLeft {
		t.Error("the earlier delta was still in place when the new kit was renamed into place")
	}
	if _, err := os.Stat(opts.DeltaOutput); err != nil {
		t.Errorf("new delta not written: %v", err)
	}
}

// buildBase builds a kit of the fixture feeds with sequence as base.tar in
// dir and returns its path.
func buildBase(t *testing.T, dir string, sequence int64) string {
	t.Helper()
	base := filepath.Join(dir, "base.tar")
	opts := fixtureOptions(t, base)
	opts.Sequence = sequence
	if _, err := Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	return base
}

func FuzzCheckSBOM(f *testing.F) {
	for _, p := range []string{
		filepath.Join("..", "..", "..", "shared", "testdata", "spdx", "bitnami-postgresql.spdx.json"),
		filepath.Join("..", "..", "testdata", "sbom", "demo-app.cdx.json"),
		filepath.Join("..", "sbom", "testdata", "scanner.cdx.json"),
	} {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","dataLicense":"CC0-1.0","name":"x",` +
		`"documentNamespace":"https://example.test/x","creationInfo":{"created":"2026-01-01T00:00:00Z",` +
		`"creators":["Tool: example"]}}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","creationInfo":{"creators":"Tool: example"}}`))
	f.Add([]byte(`{"spdxVersion":2.3}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz.spdx.json"
		err := checkSBOM(path, data)
		if err == nil {
			if !json.Valid(data) {
				t.Fatalf("accepted an SBOM that is not JSON: %q", data)
			}
			if missing := missingSPDXFields(data); len(missing) > 0 {
				t.Fatalf("accepted an SBOM that lacks %v", missing)
			}
			return
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
		if strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "Go value") {
			t.Fatalf("error names a Go type: %v", err)
		}
	})
}

// A folder that another process creates while CreateParentFolder runs is
// that process's, and the cleanup leaves it.
func TestCreateParentFolderKeepsOthersFolder(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	out := filepath.Join(shared, "mine", "kit.tar")
	beforeMkdir = func(d string) {
		if d == shared {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { beforeMkdir = nil }()
	cleanup, err := CreateParentFolder(out)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(filepath.Join(shared, "mine")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup kept the folder it created (%v)", err)
	}
	if _, err := os.Stat(shared); err != nil {
		t.Errorf("cleanup removed the folder another process created: %v", err)
	}
}

// A kit built in the same second as its base, without a version, gets
// ".1" after the default version, so that it differs from the base's.
func TestDefaultVersionDiffersFromBase(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	opts := fixtureOptions(t, base)
	opts.Version, opts.Sequence = "", 1
	first, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != "2026.12.01-000000" {
		t.Fatalf("base version = %q, want the creation time", first.Version)
	}
	next := fixtureOptions(t, filepath.Join(dir, "next.tar"))
	next.Version, next.Sequence, next.Base = "", 2, base
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "2026.12.01-000000.1" {
		t.Errorf("version of a kit built in its base's second = %q, want 2026.12.01-000000.1", res.Version)
	}
	third := fixtureOptions(t, filepath.Join(dir, "third.tar"))
	third.Version, third.Sequence, third.Base = "", 3, next.Output
	res, err = Build(context.Background(), third)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "2026.12.01-000000.2" {
		t.Errorf("version of the third kit of one second = %q, want 2026.12.01-000000.2", res.Version)
	}
}
