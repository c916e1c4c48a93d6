package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const annotationBaseDigest = "org.stellaops.ouk.base.digest"

// orasLayout copies ref from the registry into a new layout folder with
// `oras cp -r`, as `ouk inspect oci://…` advises, and returns the folder.
func orasLayout(t *testing.T, ref, dir string) string {
	t.Helper()
	tag := ref[strings.LastIndex(ref, ":")+1:]
	tool(t, nil, "oras", "cp", "-r", "--from-plain-http", ref, "--to-oci-layout", dir+":"+tag)
	return dir
}

// readLayoutIndex decodes the index.json of a layout folder.
func readLayoutIndex(t *testing.T, dir string) ocispec.Index {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatalf("decoding %s/index.json: %v", dir, err)
	}
	return index
}

// deltaEntry returns the index.json entry of the delta manifest.
func deltaEntry(t *testing.T, index ocispec.Index) *ocispec.Descriptor {
	t.Helper()
	for i, d := range index.Manifests {
		if d.ArtifactType == deltaManifestType {
			return &index.Manifests[i]
		}
	}
	t.Fatalf("index.json lists no %s entry", deltaManifestType)
	return nil
}

// copyLayout copies a layout folder, with its index.json replaced by index.
func copyLayout(t *testing.T, src, dst string, index ocispec.Index) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeOmitted deletes from the layout folder dir the blobs that its
// delta manifest declares omitted, which turns a complete copy into a
// delta.
func removeOmitted(t *testing.T, dir string) {
	t.Helper()
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()) }
	read := func(d digest.Digest, v any) {
		raw, err := os.ReadFile(blob(d))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("decoding %s: %v", d, err)
		}
	}
	var m ocispec.Manifest
	read(deltaEntry(t, readLayoutIndex(t, dir)).Digest, &m)
	var cfg struct {
		Omitted []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"omitted"`
	}
	read(m.Config.Digest, &cfg)
	if len(cfg.Omitted) == 0 {
		t.Fatal("the delta omits no blob, so the copy stays complete")
	}
	for _, o := range cfg.Omitted {
		if err := os.Remove(blob(o.Digest)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRegistryOrasCopyImports covers kits that `oras cp -r` copied from a
// registry into layout folders. oras writes index.json entries without
// the annotations stella gives them, tags the bundle index with the
// registry tag and lists the kit's image indexes beside it. A copy out of
// a registry is complete, so the delta here is such a copy without the
// blobs its delta manifest omits.
func TestRegistryOrasCopyImports(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	img, _ := registryDemoImage(t, t.TempDir())
	series := e.buildSeries(2, "--image", scannerRef+"="+img)
	repo := reg.host + "/stella/kit"
	e.must("ouk", "push", "--plain-http", series[0].full, repo+":2026.12.02")
	// `oras cp -r` of an unpacked delta, like an older stella push, sends
	// the delta manifest along as a referrer of the bundle index.
	plain := filepath.Join(e.dir, "night-02.delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", plain, "--key", e.key)
	unpacked := filepath.Join(e.dir, "delta-layout")
	untarKit(t, plain, unpacked)
	tool(t, nil, "oras", "cp", "-r", "--from-oci-layout", unpacked+":night-02", "--to-plain-http", repo+":2026.12.03")

	copies := t.TempDir()
	full := orasLayout(t, repo+":2026.12.02", filepath.Join(copies, "full"))
	complete := orasLayout(t, repo+":2026.12.03", filepath.Join(copies, "complete"))
	index := readLayoutIndex(t, complete)
	if entry := deltaEntry(t, index); entry.Annotations[annotationBaseDigest] != "" {
		t.Fatalf("oras kept the base annotations in index.json (%v), so this test no longer covers an entry without them",
			entry.Annotations)
	}
	delta := filepath.Join(copies, "delta")
	copyLayout(t, complete, delta, index)
	removeOmitted(t, delta)

	t.Run("delta onto base", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		site.importJSON(series[0].full)
		var rep struct {
			Kind string `json:"kind"`
			Base struct {
				Digest string `json:"digest"`
			} `json:"base"`
			BaseInStore *bool `json:"baseInStore"`
		}
		if err := json.Unmarshal([]byte(site.must("ouk", "inspect", "-o", "json", delta)), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Kind != "delta" || rep.Base.Digest != series[0].digest {
			t.Errorf("inspect: kind %q, base %s; want a delta of %s", rep.Kind, rep.Base.Digest, series[0].digest)
		}
		if rep.BaseInStore == nil || !*rep.BaseInStore {
			t.Errorf("inspect: baseInStore %v, want true", rep.BaseInStore)
		}
		site.must("ouk", "verify", "--key", e.pub, delta)
		res := site.importJSON(delta)
		if res.Digest != series[1].digest || res.Kind != "delta" || res.BaseDigest != series[0].digest {
			t.Errorf("import: digest %s, kind %s, base %s; want delta %s of %s",
				res.Digest, res.Kind, res.BaseDigest, series[1].digest, series[0].digest)
		}
	})

	t.Run("full then delta", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		site.importJSON(full)
		res := site.importJSON(delta)
		if res.Digest != series[1].digest {
			t.Errorf("import of the delta after the full copy activated %s, want %s", res.Digest, series[1].digest)
		}
	})

	t.Run("base missing", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		r := site.run("ouk", "import", "--key", e.pub, delta)
		if r.code != exitRejected {
			t.Fatalf("import without the base: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
		}
		for _, want := range []string{"kit night-02 is a delta of kit night-01", series[0].digest,
			"import kit night-01 or its delta first"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("message lacks %q:\n%s", want, r.stderr)
			}
		}
	})

	t.Run("watch", func(t *testing.T) {
		site := newEnvWithKeys(t, e)
		drop := filepath.Join(site.dir, "drop")
		copyLayout(t, full, filepath.Join(drop, "a-full"), readLayoutIndex(t, full))
		copyLayout(t, delta, filepath.Join(drop, "b-delta"), index)
		r := site.run("ouk", "watch", "--once", "--key", e.pub, drop)
		if r.code != 0 {
			t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
		}
		if got := site.activeDigest(); got != series[1].digest {
			t.Errorf("after watch, active %s; want the delta's kit %s", got, series[1].digest)
		}
		if !strings.Contains(r.stderr, "kind=delta") {
			t.Errorf("watch does not log the copied delta as a delta:\n%s", r.stderr)
		}
	})

	// An index.json whose annotations disagree with the signed delta
	// manifest is rejected, though the store holds the base.
	for _, tc := range []struct{ name, key, value string }{
		{"other base digest", annotationBaseDigest, series[1].digest},
		{"other base version", "org.stellaops.ouk.base.version", "night-00"},
		{"other kind", "org.stellaops.ouk.kind", "full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := readLayoutIndex(t, delta)
			deltaEntry(t, changed).Annotations = map[string]string{tc.key: tc.value}
			dir := filepath.Join(t.TempDir(), "kit")
			copyLayout(t, delta, dir, changed)
			site := newEnvWithKeys(t, e)
			site.importJSON(series[0].full)
			r := site.run("ouk", "import", "--key", e.pub, dir)
			if r.code != exitRejected {
				t.Fatalf("import: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
			}
			for _, want := range []string{tc.key + `="` + tc.value + `"`, "changed after the delta was signed"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("message lacks %q:\n%s", want, r.stderr)
				}
			}
			if got := site.activeDigest(); got != series[0].digest {
				t.Errorf("active kit after the rejection is %s, want %s", got, series[0].digest)
			}
		})
	}
}

// TestStreamDeltaWithoutIndexAnnotations imports a delta kit file whose
// index.json entry of the delta manifest carries no annotations, as in a
// tar of a folder that oras wrote. The base comes from the delta manifest
// once it has arrived in the stream.
func TestStreamDeltaWithoutIndexAnnotations(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	plain := filepath.Join(e.dir, "delta.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", plain, "--key", e.key)
	write := func(name string, annotations map[string]string) string {
		k := kitParts{entries: readTar(t, plain)}
		index := k.index(t)
		deltaEntry(t, index).Annotations = annotations
		k.setIndex(t, index)
		path := filepath.Join(e.dir, name)
		writeTar(t, path, k.entries)
		return path
	}
	bare := write("bare.tar", nil)

	site := newEnvWithKeys(t, e)
	r := site.run("ouk", "import", "--key", e.pub, bare)
	if r.code != exitRejected {
		t.Fatalf("import without the base: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if want := "import kit night-01 or its delta first"; !strings.Contains(r.stderr, want) {
		t.Errorf("message lacks %q:\n%s", want, r.stderr)
	}

	site.importJSON(series[0].full)
	if res := site.importJSON(bare); res.Digest != series[1].digest || res.BaseDigest != series[0].digest {
		t.Errorf("import onto the base: digest %s, base %s; want %s of %s", res.Digest, res.BaseDigest, series[1].digest, series[0].digest)
	}

	changed := write("changed.tar", map[string]string{"org.stellaops.ouk.base.version": "night-00"})
	other := newEnvWithKeys(t, e)
	other.importJSON(series[0].full)
	r = other.run("ouk", "import", "--key", e.pub, changed)
	if r.code != exitRejected || !strings.Contains(r.stderr, "changed after the delta was signed") {
		t.Errorf("import of a delta whose index.json names another base: exit %d, want %d and a message about the change\n%s",
			r.code, exitRejected, r.stderr)
	}
}
