package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

// writeKitSBOM writes the SBOM that the kit file kit carries to path.
func writeKitSBOM(t *testing.T, kit, path string) {
	t.Helper()
	k := &kitParts{entries: readTar(t, kit)}
	_, bundle := k.bundle(t)
	for _, c := range bundle.Manifests {
		if c.Annotations[oci.AnnotationRole] != oci.RoleSBOM {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(k.blob(t, c.Digest.String()), &m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, k.blob(t, m.Layers[0].Digest.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("kit %s has no SBOM", kit)
}

// The SBOM that build writes gives each image a pkg:oci purl, whose
// version is the image digest by definition, and its tag as the version.
// The purl type has no OSV ecosystem, so the scan skips the image, and a
// skipped identifier is no version mismatch.
func TestScanKitSBOMNoVersionMismatch(t *testing.T) {
	e := newEnv(t)
	image := demoImage(t, e.dir)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	e.importJSON(kit)
	sbomPath := filepath.Join(e.dir, "kit.spdx.json")
	writeKitSBOM(t, kit, sbomPath)

	rep, _ := e.scan(sbomPath)
	skippedImage := false
	for _, s := range rep.Skipped {
		if strings.Contains(s.Reason, "pkg:oci/") {
			skippedImage = true
		}
	}
	if !skippedImage {
		t.Fatalf("scan skipped %+v, want the image's pkg:oci purl among them", rep.Skipped)
	}
	if len(rep.VersionMismatches) != 0 {
		t.Errorf("versionMismatches = %+v, want none for identifiers that were not looked up", rep.VersionMismatches)
	}

	r := e.run("scan", "--sbom", sbomPath, "--env-file", filepath.Join(e.dir, "none.env"))
	if r.code != 0 {
		t.Fatalf("scan: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "version mismatch") {
		t.Errorf("scan text reports a version mismatch for the kit's own SBOM:\n%s", r.stdout)
	}
}
