package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"stella-ops.org/ouk/mirror"
)

// noDeltaReferrer fails the test when a push result lists a delta manifest.
func noDeltaReferrer(t *testing.T, command string, res mirror.PushResult) {
	t.Helper()
	for _, r := range res.Referrers {
		if r.ArtifactType == deltaManifestType {
			t.Errorf("%s attached delta manifest %s to %s; the registry holds the complete kit, so it needs none",
				command, r.Digest, r.Subject)
		}
	}
}

// tarLayout writes the layout folder dir as a plain tar file at path:
// oci-layout, index.json, then the blobs sorted by name.
func tarLayout(t *testing.T, dir, path string) {
	t.Helper()
	entry := func(name string) tarEntry {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		return tarEntry{hdr: tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}, data: data}
	}
	entries := []tarEntry{entry("oci-layout"), entry("index.json")}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(blobs))
	for _, b := range blobs {
		names = append(names, b.Name())
	}
	slices.Sort(names)
	for _, name := range names {
		entries = append(entries, entry("blobs/sha256/"+name))
	}
	writeTar(t, path, entries)
}

// TestOrasCopyOfDeltaTagIsFull follows an operator who pushes
// nightly deltas into a registry and carries a kit out of it with
// `oras cp -r --to-oci-layout`. The registry keeps one referrer list per
// bundle digest, and a kit and its delta share that digest, so a copy of
// the full kit's tag lists the delta manifest that an older stella push
// attached. The copy holds every blob, so it must import as a full kit on
// a store without the base, as `import oci://` of the same tag does.
func TestOrasCopyOfDeltaTagIsFull(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	series := e.buildSeries(2)
	repo := reg.host + "/stella/kit"
	e.must("ouk", "push", "--plain-http", series[0].full, repo+":night-01")
	pushed := e.must("ouk", "push", "--plain-http", "-o", "json", series[1].delta, repo+":night-02")
	noDeltaReferrer(t, "push of the delta file", decodePush(t, pushed))

	// Older stella versions attached the delta manifest on push, as
	// `oras cp -r` of the unpacked delta does, so registries in use carry
	// it as a referrer of the bundle index.
	plain := filepath.Join(e.dir, "night-02.delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", plain, "--key", e.key)
	unpacked := filepath.Join(e.dir, "delta-layout")
	untarKit(t, plain, unpacked)
	tool(t, nil, "oras", "cp", "-r", "--from-oci-layout", unpacked+":night-02", "--to-plain-http", repo+":night-02")

	e.must("ouk", "push", "--plain-http", series[1].full, repo+":full-02")
	copied := orasLayout(t, repo+":full-02", filepath.Join(e.dir, "copied"))
	deltaEntry(t, readLayoutIndex(t, copied))

	t.Run("inspect", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		var rep inspectReport
		if err := json.Unmarshal([]byte(site.must("ouk", "inspect", "-o", "json", copied)), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Kind != "full" {
			t.Errorf("inspect: kind %q, want full", rep.Kind)
		}
		if rep.Base != nil {
			t.Errorf("inspect: base %+v, want none", rep.Base)
		}
		if rep.Blobs.Missing != 0 || rep.Blobs.InKit != rep.Blobs.Count {
			t.Errorf("inspect: %d of %d blobs in the copy, %d in neither; want all in the copy",
				rep.Blobs.InKit, rep.Blobs.Count, rep.Blobs.Missing)
		}
		for _, s := range rep.Signatures {
			if s.Subject == "delta manifest" {
				t.Errorf("inspect lists a signature of the delta manifest, which import ignores: %+v", s)
			}
		}
		site.must("ouk", "verify", "--key", e.pub, copied)
	})

	t.Run("import without base", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		r := site.run("ouk", "import", "--key", e.pub, "-o", "json", copied)
		if r.code != 0 {
			t.Fatalf("import: exit %d, want 0\n%s", r.code, r.stderr)
		}
		res := decodeImport(t, r.stdout)
		if res.Digest != series[1].digest {
			t.Errorf("import activated %s, want %s", res.Digest, series[1].digest)
		}
		if res.Kind != "full" || res.BaseDigest != "" {
			t.Errorf("import: kind %q, base %q; want a full kit", res.Kind, res.BaseDigest)
		}
	})

	t.Run("import onto base", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		site.importJSON(series[0].full)
		res := site.importJSON(copied)
		if res.Digest != series[1].digest || res.Kind != "full" {
			t.Errorf("import: digest %s, kind %q; want full kit %s", res.Digest, res.Kind, series[1].digest)
		}
	})

	t.Run("watch", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		drop := filepath.Join(site.dir, "drop")
		copyLayout(t, copied, filepath.Join(drop, "copied"), readLayoutIndex(t, copied))
		r := site.run("ouk", "watch", "--once", "--key", e.pub, drop)
		if r.code != 0 {
			t.Fatalf("watch --once: exit %d, want 0\n%s", r.code, r.stderr)
		}
		if got := site.activeDigest(); got != series[1].digest {
			t.Errorf("after watch, active %s; want %s", got, series[1].digest)
		}
		if !strings.Contains(r.stderr, "kind=full") {
			t.Errorf("watch does not log the copy as a full kit:\n%s", r.stderr)
		}
	})

	t.Run("tar of the copy", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		kit := filepath.Join(site.dir, "copied.tar")
		tarLayout(t, copied, kit)
		res := site.importJSON(kit)
		if res.Digest != series[1].digest || res.Kind != "full" {
			t.Errorf("import of the tar: digest %s, kind %q; want full kit %s", res.Digest, res.Kind, series[1].digest)
		}
	})

	t.Run("push to repository without base", func(t *testing.T) {
		r := e.run("ouk", "push", "--plain-http", "-o", "json", copied, reg.host+"/fresh/kit:night-02")
		if r.code != 0 {
			t.Fatalf("push of the copy: exit %d, want 0\n%s", r.code, r.stderr)
		}
		noDeltaReferrer(t, "push of the copy", decodePush(t, r.stdout))
	})

	t.Run("build from the copy", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "night-03.tar.zst")
		r := e.run("ouk", "build", "--version", "night-03", "--sequence", "3", "--feed", "osv="+e.nightFeed(3),
			"--key", e.key, "--base", copied, "-o", out)
		if r.code != 0 {
			t.Errorf("build --base with the copy: exit %d, want 0\n%s", r.code, r.stderr)
		}
	})

	t.Run("push active after a delta import", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		site.importJSON(series[0].full)
		if res := site.importJSON(plain); res.Kind != "delta" {
			t.Fatalf("import of the delta file: kind %q, want delta", res.Kind)
		}
		target := reg.host + "/site/kit:night-02"
		out := site.must("ouk", "push", "--plain-http", "-o", "json", "active", target)
		noDeltaReferrer(t, "push active", decodePush(t, out))
		discover := tool(t, nil, "oras", "discover", "--plain-http", "--format", "json", target)
		if strings.Contains(discover, deltaManifestType) {
			t.Errorf("oras discover lists a delta manifest in %s:\n%s", target, discover)
		}
	})
}
