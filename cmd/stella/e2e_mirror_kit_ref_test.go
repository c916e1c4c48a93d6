package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// setLayoutImageRef sets the image reference annotation of every image in
// the bundle index of the layout folder dir to ref, as a hand edit would,
// and points index.json at the new bundle index.
func setLayoutImageRef(t *testing.T, dir, ref string) {
	t.Helper()
	var index ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &index)
	edited := false
	for i, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		var bundle ocispec.Index
		readJSONFile(t, filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), &bundle)
		for j, child := range bundle.Manifests {
			if child.Annotations[oci.AnnotationRole] == oci.RoleImage {
				bundle.Manifests[j].Annotations[oci.AnnotationImageRef] = ref
				edited = true
			}
		}
		raw, err := json.Marshal(bundle)
		if err != nil {
			t.Fatal(err)
		}
		dg := digest.FromBytes(raw)
		writeFile(t, filepath.Join(dir, "blobs", "sha256", dg.Encoded()), string(raw))
		index.Manifests[i].Digest, index.Manifests[i].Size = dg, int64(len(raw))
	}
	if !edited {
		t.Fatal("the bundle index lists no image")
	}
	writeJSONFile(t, filepath.Join(dir, "index.json"), index)
}

func TestMirrorInvalidImageRefRejected(t *testing.T) {
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, e.buildUnsignedKit("kit.tar", image), dir)
	const badRef = "b.test/x//scanner:0.1.0"
	setLayoutImageRef(t, dir, badRef)

	// Inspect shows the kit but warns that mirror rejects it.
	r := e.run("ouk", "inspect", dir)
	if r.code != 0 {
		t.Errorf("inspect: exit %d, want 0\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"invalid image reference", badRef} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("inspect stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	for _, dryRun := range []bool{true, false} {
		args := []string{"ouk", "mirror", "--plain-http", "--insecure-skip-signature", "--to", "127.0.0.1:9/site", "-o", "json", dir}
		if dryRun {
			args = append(args, "--dry-run")
		}
		r := e.run(args...)
		expectFailure(t, r, exitRejected, `"`+badRef+`"`, "stella ouk build", "pushed nothing")
		var failure struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
			t.Fatalf("dry run %v: decoding failure: %v\n%s", dryRun, err, r.stdout)
		}
		if failure.Reason != "invalid-kit" {
			t.Errorf("dry run %v: reason %q, want invalid-kit", dryRun, failure.Reason)
		}
	}
}

func TestMirrorDryRunShowsSource(t *testing.T) {
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--image", "stella-ops/scanner:0.1.0="+image)
	e.must("ouk", "import", "--key", e.pub, kit)

	out := e.must("ouk", "mirror", "--dry-run", "--key", e.pub, "--to", "127.0.0.1:9/site")
	want := "would push  127.0.0.1:9/site/stella-ops/scanner:0.1.0@" + digests["index"] + " (from stella-ops/scanner:0.1.0)"
	if !strings.Contains(out, want) {
		t.Errorf("mirror --dry-run output lacks %q:\n%s", want, out)
	}
}
