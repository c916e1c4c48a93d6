package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/oci"
)

// regctlOffline runs regctl on layout folders, with a home folder of its
// own so that it leaves the user's configuration alone, and returns its
// trimmed stdout.
func regctlOffline(t *testing.T, args ...string) string {
	t.Helper()
	return tool(t, []string{"HOME=" + t.TempDir()}, "regctl", args...)
}

// listedReferrers returns the artifact type and digest of each referrer
// that `regctl artifact list` finds for ref, one "TYPE DIGEST" line each.
func listedReferrers(t *testing.T, ref string) []string {
	t.Helper()
	out := regctlOffline(t, "artifact", "list", "--format",
		`{{range .Descriptors}}{{.ArtifactType}} {{.Digest}}{{"\n"}}{{end}}`, ref)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// layoutSignatures returns the digests of the signature manifests that
// index.json of the layout folder dir lists.
func layoutSignatures(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, d := range readLayoutIndex(t, dir).Manifests {
		if d.ArtifactType == oci.MediaTypeSigstoreBundle {
			out = append(out, d.Digest.String())
		}
	}
	return out
}

// inspectBundleSignatures returns the signatures of the bundle index that
// `stella ouk inspect -o json` reports for kit.
func inspectBundleSignatures(t *testing.T, e *env, kit string) []signatureInfo {
	t.Helper()
	var rep inspectReport
	out := e.must("ouk", "inspect", "-o", "json", "--key", e.pub, kit)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decoding inspect of %s: %v\n%s", kit, err, out)
	}
	var sigs []signatureInfo
	for _, s := range rep.Signatures {
		if s.Subject == "bundle index" {
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// TestRegctlCopiesKitLayout covers `regctl image copy --referrers` out of
// a layout folder unpacked from a kit file that stella built. regctl
// (v0.11.7) finds the referrers in a layout only through an image index
// tagged sha256-<hex of the bundle digest>, so the copy keeps the
// signature only when the kit carries that index.
func TestRegctlCopiesKitLayout(t *testing.T) {
	toolPath(t, "regctl")
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	dir := filepath.Join(e.dir, "kit-layout")
	untarKit(t, kit, dir)
	sigs := layoutSignatures(t, dir)
	if len(sigs) != 1 {
		t.Fatalf("index.json of the kit lists %d signature manifests, want 1", len(sigs))
	}

	listed := listedReferrers(t, "ocidir://"+dir+":1.0.0")
	want := oci.MediaTypeSigstoreBundle + " " + sigs[0]
	if len(listed) != 1 || listed[0] != want {
		t.Fatalf("regctl artifact list of the kit layout = %q, want [%q]", listed, want)
	}

	copyDir := filepath.Join(e.dir, "regctl-copy")
	regctlOffline(t, "image", "copy", "--referrers", "ocidir://"+dir+":1.0.0", "ocidir://"+copyDir+":1.0.0")
	if n := len(layoutSignatures(t, copyDir)); n != 0 {
		t.Fatalf("regctl listed %d signature manifests in index.json of the copy, so the copy does not cover "+
			"the tagged index", n)
	}
	out := e.must("ouk", "verify", "--key", e.pub, copyDir)
	if !strings.Contains(out, "Signature in kit: passed") {
		t.Errorf("verify of the regctl copy does not pass the signature:\n%s", out)
	}
	res := decodeImport(t, e.must("ouk", "import", "--key", e.pub, "-o", "json", copyDir))
	if !strings.HasSuffix(res.SignedBy, "cosign.pub") {
		t.Errorf("import of the regctl copy: signed by %q, want the test key", res.SignedBy)
	}

	// The signature is listed in index.json and in the tagged index, and
	// counts once.
	for _, k := range []string{kit, dir} {
		got := inspectBundleSignatures(t, e, k)
		if len(got) != 1 {
			t.Errorf("inspect of %s reports %d signatures of the bundle index, want 1: %+v", filepath.Base(k), len(got), got)
			continue
		}
		if !got[0].Verified {
			t.Errorf("inspect of %s: the signature did not verify: %s", filepath.Base(k), got[0].Reason)
		}
	}
}

// TestRegctlListsDeltaSignature covers the deltas that `stella ouk build
// --delta` and `stella ouk delta` write: regctl finds the signature of
// the bundle index in each, and each still imports over its base.
func TestRegctlListsDeltaSignature(t *testing.T) {
	toolPath(t, "regctl")
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	built := e.buildKit("built-delta.tar", "--version", "2.0.0", "--sequence", "2", "--base", kit1, "--delta",
		"--full-output", filepath.Join(e.dir, "kit2.tar"))
	written := filepath.Join(e.dir, "written-delta.tar")
	e.must("ouk", "delta", "--from", kit1, "--to", filepath.Join(e.dir, "kit2.tar"), "-o", written, "--key", e.key)

	for _, d := range []string{built, written} {
		name := strings.TrimSuffix(filepath.Base(d), ".tar")
		dir := filepath.Join(e.dir, name)
		untarKit(t, d, dir)
		var bundleSigs []string
		for _, s := range inspectBundleSignatures(t, e, d) {
			bundleSigs = append(bundleSigs, oci.MediaTypeSigstoreBundle+" "+s.Digest)
		}
		if len(bundleSigs) != 1 {
			t.Errorf("%s: inspect reports %d signatures of the bundle index, want 1", name, len(bundleSigs))
			continue
		}
		listed := listedReferrers(t, "ocidir://"+dir+":2.0.0")
		if len(listed) != 1 || listed[0] != bundleSigs[0] {
			t.Errorf("%s: regctl artifact list = %q, want %q", name, listed, bundleSigs)
		}

		store := filepath.Join(e.dir, "store-"+name)
		for _, k := range []string{kit1, d} {
			if r := e.runOn(store, "ouk", "import", "--key", e.pub, k); r.code != 0 {
				t.Errorf("%s: import of %s: exit %d\n%s", name, filepath.Base(k), r.code, r.stderr)
			}
		}
	}
}
