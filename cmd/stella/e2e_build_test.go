package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBuildFromKitFile(t *testing.T) {
	e := newEnv(t)
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	demoImage(t, e.dir)
	spec := "output: from-yaml.tar.gz\n" +
		"version: 3.1.4\n" +
		"sequence: 314\n" +
		"expires: 30d\n" +
		"key: keys/cosign.key\n" +
		"feeds:\n  - osv=" + filepath.Join(feeds, "osv") + "\n" +
		"images:\n  - registry.example.test/stella-ops/scanner:0.1.0=image\n"
	if err := os.WriteFile(filepath.Join(e.dir, "kit.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("ouk", "build", "-f", filepath.Join(e.dir, "kit.yaml"))
	kit := filepath.Join(e.dir, "from-yaml.tar.gz")
	e.must("ouk", "import", "--key", e.pub, kit)
	st := e.status()
	if st.Active.Version != "3.1.4" || st.Active.Sequence != 314 || st.Active.Expires.IsZero() {
		t.Errorf("kit from kit.yaml: %+v", st.Active)
	}
	if len(st.Active.Images) != 1 || len(st.Active.Images[0].Platforms) != 2 {
		t.Errorf("images = %+v, want one image with two platforms", st.Active.Images)
	}
}

func TestBuildImageFromOCIArchive(t *testing.T) {
	e := newEnv(t)
	layoutDir := demoImage(t, e.dir)
	archive := filepath.Join(e.dir, "scanner.oci.tar")
	tarFolder(t, layoutDir, archive)
	kit := e.buildKit("kit.tar", "--image", "registry.example.test/stella-ops/scanner:0.1.0="+archive)
	e.must("ouk", "import", "--key", e.pub, kit)
	imgs := e.status().Active.Images
	if len(imgs) != 1 || strings.Join(imgs[0].Platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("images = %+v", imgs)
	}
}

func TestBuildCarriesGivenSBOM(t *testing.T) {
	shared := sharedTestdata(t)
	e := newEnv(t)
	given := filepath.Join(shared, "spdx", "bitnami-postgresql.spdx.json")
	kit := e.buildKit("kit.tar", "--sbom", given)
	k := &kitParts{entries: readTar(t, kit)}
	_, bundle := k.bundle(t)
	want, _ := os.ReadFile(given)
	for _, c := range bundle.Manifests {
		if c.Annotations["org.stellaops.ouk.role"] != "sbom" {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(k.blob(t, c.Digest.String()), &m); err != nil {
			t.Fatal(err)
		}
		if got := k.blob(t, m.Layers[0].Digest.String()); string(got) != string(want) {
			t.Errorf("the kit's SBOM differs from the one given")
		}
		return
	}
	t.Fatalf("kit has no SBOM child")
}

func TestBuildGeneratesSBOM(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "5.0.0")
	k := &kitParts{entries: readTar(t, kit)}
	_, bundle := k.bundle(t)
	for _, c := range bundle.Manifests {
		if c.Annotations["org.stellaops.ouk.role"] != "sbom" {
			continue
		}
		var m ocispec.Manifest
		json.Unmarshal(k.blob(t, c.Digest.String()), &m)
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(k.blob(t, m.Layers[0].Digest.String()), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) < 2 {
			t.Errorf("generated SBOM: version %q, %d packages", doc.SPDXVersion, len(doc.Packages))
		}
		return
	}
	t.Fatalf("kit has no SBOM child")
}

// tarFolder writes the files under dir as a plain tar, as `tar -C dir -cf` would.
func tarFolder(t *testing.T, dir, out string) {
	t.Helper()
	var entries []tarEntry
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		entries = append(entries, tarEntry{hdr: tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg}, data: data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeTar(t, out, entries)
}

func TestBuildFileOutputFolderCreated(t *testing.T) {
	e := newEnv(t)
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	file := e.writeTestFile("nightly.yaml", "output: out/kit-31.tar.zst\nsequence: 31\n"+
		"feeds: [osv="+filepath.Join(feeds, "osv")+"]\n")
	e.must("ouk", "build", "-f", file)
	if _, err := os.Stat(filepath.Join(e.dir, "out", "kit-31.tar.zst")); err != nil {
		t.Errorf("kit not written to the output folder: %v", err)
	}
}

// TestBuildImagePathWithEquals checks that --image and the build file's
// images split REF=PATH at the first "=", because a path may contain one.
func TestBuildImagePathWithEquals(t *testing.T) {
	e := newEnv(t)
	folder := filepath.Join(e.dir, "a=b")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	layoutDir := demoImage(t, folder)
	ref := "registry.example.test/stella-ops/scanner:0.1.0"

	out := e.must(e.buildArgs("--sequence", "2", "--image", ref+"="+layoutDir)...)
	if !strings.Contains(out, "Image: "+ref+"\n") {
		t.Errorf("build with --image %s=%s reports:\n%s", ref, layoutDir, out)
	}

	// The build file resolves the relative path against its own folder.
	spec := "output: from-yaml.tar\nsequence: 3\nimages:\n  - " + ref + "=a=b/image\n"
	if err := os.WriteFile(filepath.Join(e.dir, "kit.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out = e.must("ouk", "build", "-f", filepath.Join(e.dir, "kit.yaml"))
	if !strings.Contains(out, "Image: "+ref+"\n") {
		t.Errorf("build from a build file with the image path a=b/image reports:\n%s", out)
	}
}
