package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// regctl runs regctl with a configuration of its own, so that it reaches
// the test registry over plain HTTP and leaves the user's configuration
// alone, and returns its trimmed stdout.
func regctl(t *testing.T, reg *testRegistry, args ...string) string {
	t.Helper()
	env := []string{"HOME=" + t.TempDir()}
	return tool(t, env, "regctl", append(args, "--host", "reg="+reg.host+",tls=disabled")...)
}

// TestRegistryRegctlCopyVerifies covers a layout folder that
// `regctl image copy --referrers` copied out of a registry. regctl lists
// the kit's signature in an image index tagged sha256-<bundle hex>, the
// referrers tag schema, and not in index.json.
func TestRegistryRegctlCopyVerifies(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "push", "--plain-http", kit, reg.host+"/stella/kit:1")
	dir := filepath.Join(e.dir, "regctl-layout")
	regctl(t, reg, "image", "copy", "--referrers", reg.host+"/stella/kit:1", "ocidir://"+dir+":1")

	index := readLayoutIndex(t, dir)
	tagged := false
	for _, d := range index.Manifests {
		if d.ArtifactType == oci.MediaTypeSigstoreBundle {
			t.Fatalf("regctl listed the signature manifest %s in index.json, so the copy does not cover the tag index", d.Digest)
		}
		if strings.HasPrefix(d.Annotations[oci.AnnotationRefName], "sha256-") {
			tagged = true
		}
	}
	if !tagged {
		t.Fatalf("regctl wrote no sha256-<hex> tag into index.json: %+v", index.Manifests)
	}

	out := e.must("ouk", "verify", "--key", e.pub, dir)
	if !strings.Contains(out, "Signature in kit: passed") {
		t.Errorf("verify of the regctl copy does not pass the signature:\n%s", out)
	}
	res := decodeImport(t, e.must("ouk", "import", "--key", e.pub, "-o", "json", dir))
	if !strings.HasSuffix(res.SignedBy, "cosign.pub") {
		t.Errorf("import of the regctl copy: signed by %q, want the test key", res.SignedBy)
	}

	drop := filepath.Join(e.dir, "drop")
	if err := os.CopyFS(filepath.Join(drop, "kit-1"), os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	r := e.runOn(filepath.Join(e.dir, "store-watch"), "ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Errorf("watch of the regctl copy: exit %d\n%s", r.code, r.stderr)
	}

	// These copies keep the signature, as docs/registry.md states. Each
	// is imported into a new store, so that no earlier import vouches for it.
	regctl(t, reg, "image", "copy", "--referrers", "ocidir://"+dir+":1", reg.host+"/regctl-back/kit:1")
	regctl(t, reg, "image", "copy", "--referrers", reg.host+"/stella/kit:1", reg.host+"/regctl-copy/kit:1")
	tool(t, nil, "oras", "cp", "-r", "--from-plain-http", reg.host+"/stella/kit:1", "--to-plain-http", reg.host+"/oras-copy/kit:1")
	for _, repo := range []string{"regctl-back", "regctl-copy", "oras-copy"} {
		store := filepath.Join(e.dir, "store-"+repo)
		r := e.runOn(store, "ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/"+repo+"/kit:1")
		if r.code != 0 {
			t.Errorf("import of the copy in %s: exit %d\n%s", repo, r.code, r.stderr)
		}
	}
}

// TestRegistryRegctlLayoutSourceAdvice covers `regctl image copy
// --referrers` from a layout folder unpacked from a kit file of an earlier
// stella release. regctl finds referrers in a layout only through a
// sha256-<hex> tag, which such a folder lacks, so the copy leaves the
// signature behind. The rejection must name that case and not advise the
// same command again.
func TestRegistryRegctlLayoutSourceAdvice(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	dir := filepath.Join(e.dir, "kit-layout")
	untarKit(t, kit, dir)
	removeReferrersTag(t, dir)
	if out := regctl(t, reg, "artifact", "list", "--format", "{{len .Descriptors}}", "ocidir://"+dir+":1.0.0"); out != "0" {
		t.Skipf("regctl now finds %s referrers in a kit layout folder without a sha256-<hex> tag, so a copy keeps the signature", out)
	}
	regctl(t, reg, "image", "copy", "--referrers", "ocidir://"+dir+":1.0.0", reg.host+"/regctl/kit:1")

	r := e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/regctl/kit:1")
	expectFailure(t, r, exitRejected, reg.host+"/regctl/kit lists no signature referrer",
		"by `regctl image copy --referrers` from a layout folder unpacked from a kit file of an earlier stella release, "+
			"which lacks the sha256-<hex> tag through which regctl finds the signature",
		"Push the signed kit file or folder again with `stella ouk push`", "`oras cp -r --from-oci-layout`")

	// The advised copy keeps the signature.
	tool(t, nil, "oras", "cp", "-r", "--from-oci-layout", dir+":1.0.0", "--to-plain-http", reg.host+"/oras/kit:1")
	e.must("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/oras/kit:1")
}

// TestRegistryRegctlKitLayoutKeepsSignature covers `regctl image copy
// --referrers` from a layout folder unpacked from a kit file into a
// registry. regctl finds the signature through the sha256-<hex> tag that
// the kit carries, so the kit imports from the registry as signed.
func TestRegistryRegctlKitLayoutKeepsSignature(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	dir := filepath.Join(e.dir, "kit-layout")
	untarKit(t, kit, dir)
	regctl(t, reg, "image", "copy", "--referrers", "ocidir://"+dir+":1.0.0", reg.host+"/regctl/kit:1")

	res := decodeImport(t, e.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json",
		"oci://"+reg.host+"/regctl/kit:1"))
	if !strings.HasSuffix(res.SignedBy, "cosign.pub") {
		t.Errorf("import of the regctl copy: signed by %q, want the test key", res.SignedBy)
	}
}

// removeReferrersTag takes the image indexes tagged sha256-<hex> out of
// index.json of the layout folder dir, as in a kit of an earlier stella
// release, which listed its signature only in index.json.
func removeReferrersTag(t *testing.T, dir string) {
	t.Helper()
	index := readLayoutIndex(t, dir)
	var keep []ocispec.Descriptor
	for _, d := range index.Manifests {
		if !layout.IsReferrersTagEntry(d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == len(index.Manifests) {
		t.Fatalf("index.json of %s lists no sha256-<hex> tag", dir)
	}
	index.Manifests = keep
	writeJSONFile(t, filepath.Join(dir, "index.json"), index)
}

// TestRegistryRegctlCopyOtherCommands covers inspect, push and delta on a
// layout folder that `regctl image copy --referrers` copied out of a
// registry, whose signature is listed only in a sha256-<hex> tagged index.
func TestRegistryRegctlCopyOtherCommands(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	e.must("ouk", "push", "--plain-http", kit2, reg.host+"/stella/kit:2")
	dir := filepath.Join(e.dir, "regctl-layout")
	regctl(t, reg, "image", "copy", "--referrers", reg.host+"/stella/kit:2", "ocidir://"+dir+":2")

	out := e.must("ouk", "inspect", "--key", e.pub, dir)
	if !strings.Contains(out, "of the bundle index, verified by") {
		t.Errorf("inspect of the regctl copy does not show a verified signature:\n%s", out)
	}

	e.must("ouk", "push", "--plain-http", dir, reg.host+"/pushed/kit:2")
	r := e.runOn(filepath.Join(e.dir, "store-pushed"), "ouk", "import", "--plain-http", "--key", e.pub,
		"oci://"+reg.host+"/pushed/kit:2")
	if r.code != 0 {
		t.Errorf("import of the kit pushed from the regctl copy: exit %d\n%s", r.code, r.stderr)
	}

	deltaKit := filepath.Join(e.dir, "delta.tar")
	e.must("ouk", "delta", "--from", kit1, "--to", dir, "-o", deltaKit, "--key", e.key)
	store := filepath.Join(e.dir, "store-delta")
	for _, k := range []string{kit1, deltaKit} {
		if r := e.runOn(store, "ouk", "import", "--key", e.pub, k); r.code != 0 {
			t.Errorf("import of %s: exit %d\n%s", filepath.Base(k), r.code, r.stderr)
		}
	}
}

// TestRegistryRegctlTwoKitsInOneFolder covers two kits that `regctl image
// copy` put into one layout folder under two tags. Every command must
// reject the folder with one reason that names both kits and advises
// copying each kit into a folder of its own. Verify used to pass the
// first kit.
func TestRegistryRegctlTwoKitsInOneFolder(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	for _, v := range []string{"1", "2"} {
		kit := e.buildKit("kit-"+v+".tar", "--version", "1.0."+v, "--sequence", v)
		e.must("ouk", "push", "--plain-http", kit, reg.host+"/stella/kit:"+v)
	}
	dir := filepath.Join(e.dir, "two-kits")
	for _, v := range []string{"1", "2"} {
		regctl(t, reg, "image", "copy", "--referrers", reg.host+"/stella/kit:"+v, "ocidir://"+dir+":"+v)
	}
	wants := []string{"2 bundle indexes", "1.0.1", "1.0.2", "copy each kit into a layout folder of its own"}
	for _, args := range [][]string{
		{"ouk", "verify", "--key", e.pub, dir},
		{"ouk", "inspect", dir},
		{"ouk", "import", "--key", e.pub, dir},
		{"ouk", "mirror", "--plain-http", "--key", e.pub, "--to", reg.host + "/mirror", dir},
	} {
		r := e.run(args...)
		if r.code == 0 {
			t.Errorf("stella %s: exit 0, want a rejection\n%s", strings.Join(args, " "), r.stdout)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stella %s: error lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
			}
		}
	}
}

// TestRegistryRegctlDamagedTagPush covers push of a regctl layout copy
// whose index tagged for the bundle is cut short. The kit's signature is
// listed only there, so push must call the layout damaged and advise
// copying it again, leave the tag unset, and not advise signing the kit.
func TestRegistryRegctlDamagedTagPush(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "push", "--plain-http", kit, reg.host+"/stella/kit:1")
	dir := filepath.Join(e.dir, "regctl-layout")
	regctl(t, reg, "image", "copy", "--referrers", reg.host+"/stella/kit:1", "ocidir://"+dir+":1")

	damaged := false
	for _, d := range readLayoutIndex(t, dir).Manifests {
		if !strings.HasPrefix(d.Annotations[oci.AnnotationRefName], "sha256-") {
			continue
		}
		if err := os.Truncate(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), d.Size/2); err != nil {
			t.Fatal(err)
		}
		damaged = true
	}
	if !damaged {
		t.Fatal("regctl wrote no sha256-<hex> tag into index.json")
	}

	r := e.run("ouk", "push", "--plain-http", dir, reg.host+"/pushed/kit:1")
	assertFailure(t, "push of the damaged copy", r, exitRejected, "layout is damaged", "copy it again")
	if strings.Contains(r.stderr, "--key") {
		t.Errorf("push advises signing a kit whose signature index is damaged:\n%s", r.stderr)
	}
	imported := e.runOn(filepath.Join(e.dir, "store-pushed"), "ouk", "import", "--plain-http", "--key", e.pub,
		"oci://"+reg.host+"/pushed/kit:1")
	if imported.code == 0 {
		t.Errorf("push of the damaged copy set the tag, and the kit imports from it")
	}
}
