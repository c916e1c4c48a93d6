package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/oci"
)

// TestInspectVerifyIncompleteFolder checks a layout folder that has its
// index.json but lacks the file of the bundle index, as a folder cut short
// while it is copied does. Inspect, verify and a watch name the missing
// file and say to copy the folder again, as import does, and inspect and
// verify exit 3.
func TestInspectVerifyIncompleteFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	drop := filepath.Join(e.dir, "drop")
	dir := filepath.Join(drop, "layout")
	extractTar(t, kit, dir)
	var bundleFile string
	for _, d := range readLayoutIndex(t, dir).Manifests {
		if d.ArtifactType == oci.ArtifactTypeBundle {
			bundleFile = filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
		}
	}
	if bundleFile == "" {
		t.Fatal("index.json lists no bundle index")
	}
	if err := os.Remove(bundleFile); err != nil {
		t.Fatal(err)
	}

	for _, command := range []string{"import", "inspect", "verify"} {
		r := e.run("ouk", command, "--key", e.pub, dir)
		if r.code != exitRejected {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", command, r.code, exitRejected, r.stderr)
		}
		if !strings.Contains(r.stderr, bundleFile) {
			t.Errorf("%s: error does not name the missing file %s: %s", command, bundleFile, r.stderr)
		}
		if !strings.Contains(r.stderr, "copy it again") {
			t.Errorf("%s: error does not say to copy the folder again: %s", command, r.stderr)
		}
		for _, wrong := range []string{"no bundle index found", ": not found"} {
			if strings.Contains(r.stderr, wrong) {
				t.Errorf("%s: error contains %q: %s", command, wrong, r.stderr)
			}
		}
	}

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != exitRejected {
		t.Errorf("watch --once: exit %d, want %d\nstderr: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, bundleFile) {
		t.Errorf("watch log does not name the missing file %s: %s", bundleFile, r.stderr)
	}
	if strings.Contains(r.stderr, "reading bundle index") {
		t.Errorf("watch log shows the raw read error: %s", r.stderr)
	}
}

// TestInspectFolderMissingManifest checks a layout folder that lacks
// the file of a manifest below the bundle index: inspect names the file
// and exits 3.
func TestInspectFolderMissingManifest(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)
	var manifestFile string
	for _, d := range readLayoutIndex(t, dir).Manifests {
		if d.ArtifactType != oci.ArtifactTypeBundle {
			continue
		}
		var bundle struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		readJSONFile(t, filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), &bundle)
		if len(bundle.Manifests) == 0 {
			t.Fatal("the bundle index lists no manifest")
		}
		manifestFile = filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(bundle.Manifests[0].Digest, "sha256:"))
	}
	if err := os.Remove(manifestFile); err != nil {
		t.Fatal(err)
	}

	r := e.run("ouk", "inspect", "--key", e.pub, dir)
	if r.code != exitRejected {
		t.Errorf("inspect: exit %d, want %d\nstderr: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, manifestFile) {
		t.Errorf("inspect: error does not name the missing file %s: %s", manifestFile, r.stderr)
	}
	if !strings.Contains(r.stderr, "copy it again") {
		t.Errorf("inspect: error does not say to copy the folder again: %s", r.stderr)
	}
}

// TestInspectTruncatedPlainTar cuts an uncompressed kit file after
// index.json, at an entry boundary, where archive/tar sees a clean end of
// the archive. Inspect, verify and import all report a truncated file and
// exit 3.
func TestInspectTruncatedPlainTar(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	data, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	cut := int64(-1)
	r := bytes.NewReader(data)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "index.json" {
			start := r.Size() - int64(r.Len())
			cut = start + (hdr.Size+511)/512*512
		}
	}
	if cut < 0 || cut >= int64(len(data))-1024 {
		t.Fatalf("index.json is not followed by blobs in %s", kit)
	}
	truncated := filepath.Join(e.dir, "truncated.tar")
	if err := os.WriteFile(truncated, data[:cut], 0o644); err != nil {
		t.Fatal(err)
	}

	for _, command := range []string{"import", "inspect", "verify"} {
		r := e.run("ouk", command, "--key", e.pub, truncated)
		if r.code != exitRejected {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", command, r.code, exitRejected, r.stderr)
		}
		if !strings.Contains(r.stderr, "truncated") || !strings.Contains(r.stderr, "again") {
			t.Errorf("%s: error does not say the file is truncated and to copy it again: %s", command, r.stderr)
		}
		if strings.Contains(r.stderr, ": not found") {
			t.Errorf("%s: error shows a raw not-found error: %s", command, r.stderr)
		}
	}
}
