package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// buildUnsignedKit builds a kit without --key that carries image.
func (e *env) buildUnsignedKit(name, image string) string {
	e.t.Helper()
	out := filepath.Join(e.dir, name)
	feeds := filepath.Join(repoRoot(e.t), "testdata", "feeds")
	e.must("ouk", "build", "-o", out, "--version", "1.0.0", "--sequence", "1",
		"--feed", "osv="+filepath.Join(feeds, "osv"),
		"--feed", "regional:demo-cert="+filepath.Join(feeds, "regional"),
		"--image", scannerRef+"="+image)
	return out
}

// registryRepos lists the repositories of the registry at host.
func registryRepos(t *testing.T, host string) []string {
	t.Helper()
	out := tool(t, nil, "crane", "catalog", "--insecure", host)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// assertNoRepoUnder fails the test when the registry at host contains a
// repository under prefix.
func assertNoRepoUnder(t *testing.T, host, prefix string) {
	t.Helper()
	for _, repo := range registryRepos(t, host) {
		if strings.HasPrefix(repo, prefix+"/") {
			t.Errorf("registry contains %s, which the mirror must not push", repo)
		}
	}
}

func TestMirrorLayoutChecksSignature(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	signedDir := filepath.Join(e.dir, "signed-layout")
	untarKit(t, e.buildKit("signed.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image), signedDir)
	unsignedDir := filepath.Join(e.dir, "unsigned-layout")
	untarKit(t, e.buildUnsignedKit("unsigned.tar", image), unsignedDir)
	_, otherPub := e.keygen("other-keys")
	keysDir := filepath.Join(e.store, "keys")
	mirrorTo := func(prefix string, args ...string) result {
		t.Helper()
		return e.run(append([]string{"ouk", "mirror", "--plain-http", "--to", reg.host + "/" + prefix}, args...)...)
	}
	assertNoStore := func(t *testing.T) {
		t.Helper()
		if _, err := os.Stat(e.store); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("mirror of a layout folder touched the store %s: %v", e.store, err)
		}
	}

	t.Run("unsigned layout rejected", func(t *testing.T) {
		for _, dryRun := range []bool{false, true} {
			args := []string{unsignedDir}
			if dryRun {
				args = append(args, "--dry-run")
			}
			r := mirrorTo("unsigned", args...)
			expectFailure(t, r, exitRejected, "the kit carries no signature", "--insecure-skip-signature")
			if strings.Contains(r.stdout, "would push") || strings.Contains(r.stdout, "pushed") {
				t.Errorf("dry run %v reports images to push:\n%s", dryRun, r.stdout)
			}
		}
		assertNoRepoUnder(t, reg.host, "unsigned")
		assertNoStore(t)
	})
	t.Run("wrong key rejected", func(t *testing.T) {
		r := mirrorTo("wrong", "--key", otherPub, signedDir)
		expectFailure(t, r, exitRejected, "its signature does not verify with the trusted key "+otherPub, "so another key signed it", keysDir)
		assertNoRepoUnder(t, reg.host, "wrong")
		assertNoStore(t)
	})
	t.Run("no key rejected", func(t *testing.T) {
		r := mirrorTo("nokey", signedDir)
		expectFailure(t, r, exitRejected, "no trusted key is configured", keysDir)
		assertNoRepoUnder(t, reg.host, "nokey")
	})
	t.Run("right key accepted", func(t *testing.T) {
		r := mirrorTo("key", "--key", otherPub, "--key", e.pub, "-o", "json", signedDir)
		if r.code != 0 {
			t.Fatalf("mirror with the right key: exit %d\n%s", r.code, r.stderr)
		}
		var rep mirrorReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("decoding mirror report: %v\n%s", err, r.stdout)
		}
		if rep.SignedBy != e.pub {
			t.Errorf("report signedBy %q, want %q", rep.SignedBy, e.pub)
		}
		got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/key/stella-ops/scanner:0.1.0")
		if got != digests["index"] {
			t.Errorf("mirrored digest %s, want %s", got, digests["index"])
		}
		assertNoStore(t)
	})
	t.Run("insecure skip signature warns", func(t *testing.T) {
		r := mirrorTo("skip", "--insecure-skip-signature", unsignedDir)
		if r.code != 0 {
			t.Fatalf("mirror with --insecure-skip-signature: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "without a valid signature (--insecure-skip-signature)") {
			t.Errorf("no warning about the missing signature:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "the kit carries no signature") {
			t.Errorf("warning does not say why the signature failed:\n%s", r.stderr)
		}
	})
	t.Run("expired kit rejected", func(t *testing.T) {
		t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
		expiredDir := filepath.Join(e.dir, "expired-layout")
		untarKit(t, e.buildKit("expired.tar", "--version", "0.9.0", "--sequence", "1", "--expires", "1h",
			"--image", scannerRef+"="+image), expiredDir)
		r := mirrorTo("expired", "--key", e.pub, expiredDir)
		expectFailure(t, r, exitRejected, "kit 0.9.0 expired at 2001-09-09T02:46:40Z", "--allow-expired to mirror it anyway")
		assertNoRepoUnder(t, reg.host, "expired")
		r = mirrorTo("expired", "--key", e.pub, "--allow-expired", expiredDir)
		if r.code != 0 {
			t.Fatalf("mirror with --allow-expired: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "mirroring it because --allow-expired is set") {
			t.Errorf("no warning about the expiry:\n%s", r.stderr)
		}
	})
	t.Run("store keys folder accepted", func(t *testing.T) {
		raw, err := os.ReadFile(e.pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(keysDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(keysDir, "cosign.pub"), string(raw))
		r := mirrorTo("storekeys", signedDir)
		if r.code != 0 {
			t.Fatalf("mirror with the key in %s: exit %d\n%s", keysDir, r.code, r.stderr)
		}
		got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/storekeys/stella-ops/scanner:0.1.0")
		if got != digests["index"] {
			t.Errorf("mirrored digest %s, want %s", got, digests["index"])
		}
	})
	t.Run("stored kit whose key was removed", func(t *testing.T) {
		// The previous subtest put the key into the store's keys folder.
		e.must("ouk", "import", filepath.Join(e.dir, "signed.tar"))
		if r := mirrorTo("active-trusted"); r.code != 0 {
			t.Fatalf("mirror of the active kit: exit %d\n%s", r.code, r.stderr)
		}
		if err := os.Remove(filepath.Join(keysDir, "cosign.pub")); err != nil {
			t.Fatal(err)
		}
		r := mirrorTo("active-revoked")
		expectFailure(t, r, exitRejected, "is no longer trusted")
		assertNoRepoUnder(t, reg.host, "active-revoked")
		if r := mirrorTo("active-key", "--key", e.pub); r.code != 0 {
			t.Errorf("mirror of the active kit with --key: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// addLayoutImage copies the blobs of the OCI image layout imageDir into the
// layout folder dir and returns the descriptor of its image index.
func addLayoutImage(t *testing.T, imageDir, dir string) ocispec.Descriptor {
	t.Helper()
	blobs := filepath.Join(imageDir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		raw, err := os.ReadFile(filepath.Join(blobs, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "blobs", "sha256", entry.Name()), string(raw))
	}
	var index ocispec.Index
	readJSONFile(t, filepath.Join(imageDir, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("image layout %s lists %d manifests, want 1", imageDir, len(index.Manifests))
	}
	d := index.Manifests[0]
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

// copyDir copies the layout folder src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		writeFile(t, filepath.Join(dst, rel), string(raw))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMirrorLayoutPushesOnlySignedImages(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	signedDir := filepath.Join(e.dir, "signed-layout")
	untarKit(t, e.buildKit("signed.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image), signedDir)

	// A second image that no signature covers.
	binary := filepath.Join(e.dir, "extra-binary")
	writeFile(t, binary, strings.Repeat("unsigned extra image\n", 300))
	extraDir := filepath.Join(e.dir, "extra-image")
	const extraRef = "example.test/attacker/extra:1.0"
	if _, err := layout.BuildDemoImage(context.Background(), map[string]string{"linux/amd64": binary}, extraRef,
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), extraDir); err != nil {
		t.Fatal(err)
	}
	extraAnnotations := map[string]string{oci.AnnotationRole: oci.RoleImage, oci.AnnotationImageRef: extraRef}

	t.Run("image added to index.json", func(t *testing.T) {
		dir := filepath.Join(e.dir, "added-entry")
		copyDir(t, signedDir, dir)
		extra := addLayoutImage(t, extraDir, dir)
		extra.Annotations = extraAnnotations
		var index ocispec.Index
		readJSONFile(t, filepath.Join(dir, "index.json"), &index)
		index.Manifests = append(index.Manifests, extra)
		writeJSONFile(t, filepath.Join(dir, "index.json"), index)

		r := e.run("ouk", "mirror", "--plain-http", "--to", reg.host+"/added", "--key", e.pub, "-o", "json", dir)
		if r.code != 0 {
			t.Fatalf("mirror: exit %d\n%s", r.code, r.stderr)
		}
		var rep mirrorReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("decoding mirror report: %v\n%s", err, r.stdout)
		}
		for _, img := range rep.Images {
			if img.Source == extraRef || img.Digest == extra.Digest.String() {
				t.Errorf("mirror pushed the image that only index.json lists: %+v", img)
			}
		}
		if len(rep.Images) != 1 || rep.Images[0].Digest != digests["index"] {
			t.Errorf("mirror report %+v, want only the signed image %s", rep.Images, digests["index"])
		}
		assertNoRepoUnder(t, reg.host, "added/attacker")
	})

	t.Run("image added to the bundle index", func(t *testing.T) {
		dir := filepath.Join(e.dir, "forged-bundle")
		copyDir(t, signedDir, dir)
		extra := addLayoutImage(t, extraDir, dir)
		extra.Annotations = extraAnnotations
		var index ocispec.Index
		readJSONFile(t, filepath.Join(dir, "index.json"), &index)
		forged := false
		for i, d := range index.Manifests {
			if d.ArtifactType != oci.ArtifactTypeBundle {
				continue
			}
			var bundle ocispec.Index
			readJSONFile(t, filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), &bundle)
			bundle.Manifests = append(bundle.Manifests, extra)
			raw, err := json.Marshal(bundle)
			if err != nil {
				t.Fatal(err)
			}
			dg := digest.FromBytes(raw)
			writeFile(t, filepath.Join(dir, "blobs", "sha256", dg.Encoded()), string(raw))
			index.Manifests[i].Digest, index.Manifests[i].Size = dg, int64(len(raw))
			forged = true
		}
		if !forged {
			t.Fatal("index.json lists no bundle index")
		}
		writeJSONFile(t, filepath.Join(dir, "index.json"), index)

		r := e.run("ouk", "mirror", "--plain-http", "--to", reg.host+"/forged", "--key", e.pub, dir)
		expectFailure(t, r, exitRejected, "no signature verifies with a trusted key", "not this kit")
		assertNoRepoUnder(t, reg.host, "forged")
	})

	t.Run("layer replaced", func(t *testing.T) {
		dir := filepath.Join(e.dir, "replaced-layer")
		copyDir(t, signedDir, dir)
		var platform ocispec.Manifest
		readJSONFile(t, filepath.Join(dir, "blobs", "sha256", digest.Digest(digests["linux/amd64"]).Encoded()), &platform)
		layer := filepath.Join(dir, "blobs", "sha256", platform.Layers[0].Digest.Encoded())
		raw, err := os.ReadFile(layer)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 0xff
		writeFile(t, layer, string(raw))

		r := e.run("ouk", "mirror", "--plain-http", "--to", reg.host+"/replaced", "--key", e.pub, dir)
		expectFailure(t, r, exitRejected, platform.Layers[0].Digest.String())
		// The blobs sent before the bad layer may remain, but the tag must not.
		tagURL := "http://" + reg.host + "/v2/replaced/stella-ops/scanner/manifests/0.1.0"
		req, err := http.NewRequest(http.MethodHead, tagURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD %s: status %d, want 404: a layer did not match its digest, so the tag must not exist",
				tagURL, resp.StatusCode)
		}
	})
}
