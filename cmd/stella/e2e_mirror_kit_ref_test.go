package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/sign"
)

// setLayoutImageRef sets the image reference annotation of every image in
// the bundle index of the layout folder dir to ref, as a hand edit would,
// and points index.json at the new bundle index.
func setLayoutImageRef(t *testing.T, dir, ref string) {
	t.Helper()
	setLayoutImageRefs(t, dir, func(int) string { return ref })
}

// setLayoutImageRefs sets the image reference annotation of the image at
// position i among the images of the bundle index of dir to refAt(i).
func setLayoutImageRefs(t *testing.T, dir string, refAt func(i int) string) {
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
		images := 0
		for j, child := range bundle.Manifests {
			if child.Annotations[oci.AnnotationRole] == oci.RoleImage {
				bundle.Manifests[j].Annotations[oci.AnnotationImageRef] = refAt(images)
				images++
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

// signLayoutBundle signs the bundle index of the layout folder dir with the
// private key in keyFile, which has an empty password, and lists the
// signature referrer in index.json, as a build with --key does.
func signLayoutBundle(t *testing.T, dir, keyFile string) {
	t.Helper()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadPrivateKey(pemBytes, nil)
	if err != nil {
		t.Fatal(err)
	}

	var index ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &index)
	var referrers []ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := sign.SignManifest(signer, d, raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, blob := range []struct {
			desc ocispec.Descriptor
			raw  []byte
		}{{ref.ConfigDesc, ref.Config}, {ref.BundleDesc, ref.Bundle}, {ref.ManifestDesc, ref.Manifest}} {
			writeFile(t, filepath.Join(dir, "blobs", "sha256", blob.desc.Digest.Encoded()), string(blob.raw))
		}
		referrers = append(referrers, ref.ManifestDesc)
	}
	if len(referrers) == 0 {
		t.Fatal("index.json lists no bundle index")
	}

	index.Manifests = append(index.Manifests, referrers...)
	writeJSONFile(t, filepath.Join(dir, "index.json"), index)
}

// A kit with an invalid image reference is still usable for scanning, so
// verify and import accept it and warn as inspect does, with and without
// -o json.
func TestInvalidImageRefWarnings(t *testing.T) {
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, e.buildUnsignedKit("kit.tar", image), dir)
	const badRef = "b.test/x//scanner:0.1.0"
	setLayoutImageRef(t, dir, badRef)
	signLayoutBundle(t, dir, e.key)

	for _, tc := range layoutWarningCommands(e, dir) {
		r := e.run(tc.args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s", tc.name, r.code, r.stderr)
		}
		for _, want := range []string{"invalid image reference, which `stella ouk mirror` rejects", badRef} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, want, r.stderr)
			}
		}
		if strings.HasSuffix(tc.name, "json") {
			requireJSONWarning(t, tc.name, r.stdout, badRef)
		}
	}
}

// requireJSONWarning fails unless stdout is one JSON document whose
// warnings array has an entry that contains want.
func requireJSONWarning(t *testing.T, name, stdout, want string) {
	t.Helper()
	var report struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Errorf("%s: stdout is not one JSON document: %v\n%s", name, err, stdout)
		return
	}
	for _, warning := range report.Warnings {
		if strings.Contains(warning, want) {
			return
		}
	}
	t.Errorf("%s: no entry of warnings contains %q: %q", name, want, report.Warnings)
}

// A kit with two images on one tag is rejected by mirror, so inspect,
// verify and import warn about it, with and without -o json.
func TestImageRefCollisionWarnings(t *testing.T) {
	e := newEnv(t)
	imageA, _ := registryDemoImage(t, e.dir)
	imageB := demoImage(t, t.TempDir())
	kit := filepath.Join(e.dir, "kit.tar")
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	e.must("ouk", "build", "-o", kit, "--version", "1.0.0", "--sequence", "1", "--feed", "osv="+filepath.Join(feeds, "osv"),
		"--image", "registry.example.test/a/scanner:0.1.0="+imageA, "--image", "registry.example.test/b/scanner:0.1.0="+imageB)
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, kit, dir)
	refs := []string{"docker.io/library/scanner:latest", "scanner:latest"}
	setLayoutImageRefs(t, dir, func(i int) string { return refs[i] })
	signLayoutBundle(t, dir, e.key)

	for _, tc := range layoutWarningCommands(e, dir) {
		r := e.run(tc.args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s", tc.name, r.code, r.stderr)
		}
		// The log quotes its message, so the quotes around each reference
		// are escaped on stderr.
		for _, want := range []string{`\"docker.io/library/scanner:latest\"`, `\"scanner:latest\"`,
			"both mirror to library/scanner:latest", "`stella ouk mirror` rejects the kit"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %s:\n%s", tc.name, want, r.stderr)
			}
		}
		if strings.HasSuffix(tc.name, "json") {
			requireJSONWarning(t, tc.name, r.stdout, "both mirror to library/scanner:latest")
		} else if strings.Contains(r.stdout, "both mirror to") {
			t.Errorf("%s: stdout repeats the warning of stderr:\n%s", tc.name, r.stdout)
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

// layoutCommand is one stella command line and the name a failure shows.
type layoutCommand struct {
	name string
	args []string
}

// layoutWarningCommands returns inspect, verify and import of the layout
// folder dir, each in text and in JSON output. Import runs twice, so the
// second import finds the kit active and must warn again.
func layoutWarningCommands(e *env, dir string) []layoutCommand {
	return []layoutCommand{
		{"inspect", []string{"ouk", "inspect", "--key", e.pub, dir}},
		{"inspect json", []string{"ouk", "inspect", "--key", e.pub, "-o", "json", dir}},
		{"verify", []string{"ouk", "verify", "--key", e.pub, dir}},
		{"verify json", []string{"ouk", "verify", "--key", e.pub, "-o", "json", dir}},
		{"import", []string{"ouk", "import", "--key", e.pub, dir}},
		{"import json", []string{"ouk", "import", "--key", e.pub, "-o", "json", dir}},
	}
}
