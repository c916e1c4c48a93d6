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

// TestIndexJSONDamageFileAndFolder damages index.json of a kit file and
// of a layout folder, and checks that import, verify and inspect reject
// each with advice to copy the file or the folder again.
func TestIndexJSONDamageFileAndFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	good := filepath.Join(e.dir, "good")
	extractTar(t, kit, good)
	original, err := os.ReadFile(filepath.Join(good, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	const bundleEntry = `"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json"`
	if !strings.Contains(string(original), bundleEntry) {
		t.Fatalf("index.json does not start its manifests list with an image index: %s", original)
	}
	cases := []struct {
		name   string
		damage func(string) string
		want   string
	}{
		{"schemaVersion", func(s string) string {
			return strings.Replace(s, `"schemaVersion":2`, `"schemaVersion":3`, 1)
		}, "schemaVersion 3, expected 2"},
		{"truncated", func(string) string { return `{"schemaVersion":2,"manif` }, "decoding index.json"},
		{"flipped key", func(s string) string {
			return strings.Replace(s, `"manifests"`, `"manifestz"`, 1)
		}, `has no manifests list, which every OCI image index has, but has the unknown key "manifestz"`},
		{"entry media type", func(s string) string {
			return strings.Replace(s, bundleEntry, `"manifests":[{"mediaType":"application/vnd.oci.image.indey.v1+json"`, 1)
		}, `with media type "application/vnd.oci.image.indey.v1+json", which is no manifest or index media type`},
		// The entry of the signature manifest, whose damage hides the
		// signature, is damage too, not an unsigned kit.
		{"signature entry media type", func(s string) string {
			return damageSignatureEntry(t, s)
		}, `with media type "application/vnd.oci.image.manifezt.v1+json", which is no manifest or index media type`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			extractTar(t, kit, dir)
			damaged := tc.damage(string(original))
			if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(damaged), 0o644); err != nil {
				t.Fatal(err)
			}
			k := &kitParts{entries: readTar(t, kit)}
			k.entries[k.find("index.json")].data = []byte(damaged)
			file := e.write(t, "damaged.tar", k)

			inputs := []indexJSONInput{
				{dir, "index.json is damaged, so copy the folder again", "kit file"},
				{file, "index.json is damaged, so copy the kit file again", "copy the folder"},
			}
			checkIndexJSONRejected(t, e, inputs, tc.want, func(label string, r result) {
				if strings.Contains(r.stderr, "--insecure-skip-signature") {
					t.Errorf("%s: stderr advises skipping the signature check: %s", label, r.stderr)
				}
				if strings.Contains(r.stderr, "not a Stella Ops kit") {
					t.Errorf("%s: stderr calls the damaged kit no kit: %s", label, r.stderr)
				}
			})
		})
	}
}

// TestSkipSignatureDamagedSignatureEntry damages the media type of the
// signature manifest's entry in index.json of a kit file and of a layout
// folder. It checks that import rejects each as damaged, with the same
// exit code and advice with and without --insecure-skip-signature, and
// that the active kit and the history stay as they were.
func TestSkipSignatureDamagedSignatureEntry(t *testing.T) {
	e := newEnv(t)
	first := e.buildKit("first.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "import", "--key", e.pub, first)
	active := e.activeDigest()
	history := e.must("ouk", "history", "-o", "json")

	kit := e.buildKit("kit.tar", "--version", "2.0.0", "--sequence", "2")
	k := &kitParts{entries: readTar(t, kit)}
	i := k.find("index.json")
	damaged := damageSignatureEntry(t, string(k.entries[i].data))
	k.entries[i].data = []byte(damaged)
	file := e.write(t, "damaged.tar", k)
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(damaged), 0o644); err != nil {
		t.Fatal(err)
	}

	const want = `with media type "application/vnd.oci.image.manifezt.v1+json", which is no manifest or index media type`
	inputs := []indexJSONInput{
		{dir, "index.json is damaged, so copy the folder again", "kit file"},
		{file, "index.json is damaged, so copy the kit file again", "copy the folder"},
	}
	for _, input := range inputs {
		for _, args := range [][]string{
			{"ouk", "import", "--key", e.pub, input.path},
			{"ouk", "import", "--insecure-skip-signature", input.path},
			{"ouk", "import", "--insecure-skip-signature", "--key", e.pub, input.path},
		} {
			r := e.run(args...)
			label := strings.Join(args[1:len(args)-1], " ") + " " + filepath.Base(input.path)
			if r.code != exitRejected {
				t.Errorf("%s: exit %d, want %d\nstderr: %s", label, r.code, exitRejected, r.stderr)
			}
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q: %s", label, want, r.stderr)
			}
			if !strings.Contains(r.stderr, input.advice) {
				t.Errorf("%s: stderr lacks %q: %s", label, input.advice, r.stderr)
			}
			if strings.Contains(r.stderr, input.wrong) {
				t.Errorf("%s: stderr contains %q: %s", label, input.wrong, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "without a valid signature") {
				t.Errorf("%s: output reports the damaged kit as unsigned:\nstdout: %s\nstderr: %s", label, r.stdout, r.stderr)
			}
			if got := e.activeDigest(); got != active {
				t.Fatalf("%s: active kit is %s, want %s as before", label, got, active)
			}
			if got := e.must("ouk", "history", "-o", "json"); got != history {
				t.Errorf("%s: history changed:\nbefore: %s\nafter: %s", label, history, got)
			}
		}
	}
}

// damageSignatureEntry returns the index.json indexJSON with a flipped
// letter in the media type of the signature manifest's entry. A kit lists
// its signature in the referrers tag index too, so the entry of that index
// gets a flipped letter as well, and the damage hides the signature.
func damageSignatureEntry(t *testing.T, indexJSON string) string {
	t.Helper()
	return damageEntries(t, indexJSON, true)
}

// damageEntries returns the index.json indexJSON with a flipped letter in
// the media type of the signature manifest's entry and, when tagIndex is
// set, in that of the referrers tag index.
func damageEntries(t *testing.T, indexJSON string, tagIndex bool) string {
	t.Helper()
	var index map[string]any
	if err := json.Unmarshal([]byte(indexJSON), &index); err != nil {
		t.Fatal(err)
	}
	entries, _ := index["manifests"].([]any)
	damaged, damagedTag := false, false
	for _, entry := range entries {
		fields, _ := entry.(map[string]any)
		artifactType, _ := fields["artifactType"].(string)
		if strings.Contains(artifactType, "sigstore.bundle") {
			fields["mediaType"] = "application/vnd.oci.image.manifezt.v1+json"
			damaged = true
		}
		annotations, _ := fields["annotations"].(map[string]any)
		tag, _ := annotations["org.opencontainers.image.ref.name"].(string)
		if tagIndex && strings.HasPrefix(tag, "sha256-") {
			fields["mediaType"] = "application/vnd.oci.image.indey.v1+json"
			damagedTag = true
		}
	}
	if !damaged {
		t.Fatalf("index.json lists no signature manifest: %s", indexJSON)
	}
	if tagIndex && !damagedTag {
		t.Fatalf("index.json lists no referrers tag index: %s", indexJSON)
	}
	b, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIndexJSONUnknownEntrySigned adds an entry of an unknown media type to
// index.json of a signed kit, and checks that import, verify and inspect
// accept it. The image-layout spec forbids failing on an unknown media
// type, and the signature shows that the kit arrived whole.
func TestIndexJSONUnknownEntrySigned(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	k := &kitParts{entries: readTar(t, kit)}
	i := k.find("index.json")
	var index map[string]any
	if err := json.Unmarshal(k.entries[i].data, &index); err != nil {
		t.Fatal(err)
	}
	entries, _ := index["manifests"].([]any)
	if len(entries) == 0 {
		t.Fatalf("index.json lists no entries: %s", k.entries[i].data)
	}
	first, _ := entries[0].(map[string]any)
	extra := map[string]any{"mediaType": "application/vnd.example.note.v1+json",
		"digest": first["digest"], "size": first["size"]}
	index["manifests"] = append(entries, extra)
	b, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	k.entries[i].data = b
	file := e.write(t, "extra.tar", k)

	for _, command := range []string{"verify", "inspect", "import"} {
		r := e.run("ouk", command, "--key", e.pub, file)
		if r.code != 0 {
			t.Errorf("%s: exit %d, want 0\nstderr: %s", command, r.code, r.stderr)
		}
	}
}

// TestIndexJSONMissingFileAndFolder removes index.json from a kit file and
// from a layout folder, and checks that import, verify and inspect give
// the advice to copy the file or the folder again.
func TestIndexJSONMissingFileAndFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)
	if err := os.Remove(filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	k := &kitParts{entries: readTar(t, kit)}
	i := k.find("index.json")
	k.entries = append(k.entries[:i], k.entries[i+1:]...)
	file := e.write(t, "no-index.tar", k)

	inputs := []indexJSONInput{
		{dir, "index.json is damaged, so copy the folder again", "copy the file again"},
		{file, "index.json is damaged, so copy the kit file again", "copy the folder"},
	}
	checkIndexJSONRejected(t, e, inputs, "index.json", nil)
}

// indexJSONInput is a kit file or layout folder with a damaged or missing
// index.json, the advice to copy it again, and the text of the advice for
// the other form, which stderr must not contain.
type indexJSONInput struct {
	path, advice, wrong string
}

// checkIndexJSONRejected runs import, verify and inspect on each input and
// checks that each exits with exitRejected, and that stderr contains want
// and the input's advice but not its wrong advice. Verify must name the kit
// at most once. When check is not nil, it runs on each result as well.
func checkIndexJSONRejected(t *testing.T, e *env, inputs []indexJSONInput, want string, check func(label string, r result)) {
	t.Helper()
	for _, input := range inputs {
		for _, command := range []string{"import", "verify", "inspect"} {
			args := []string{"ouk", command, input.path}
			if command != "inspect" {
				args = []string{"ouk", command, "--key", e.pub, input.path}
			}
			r := e.run(args...)
			label := command + " " + filepath.Base(input.path)
			if r.code != exitRejected {
				t.Errorf("%s: exit %d, want %d\nstderr: %s", label, r.code, exitRejected, r.stderr)
			}
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q: %s", label, want, r.stderr)
			}
			if !strings.Contains(r.stderr, input.advice) {
				t.Errorf("%s: stderr lacks %q: %s", label, input.advice, r.stderr)
			}
			if strings.Contains(r.stderr, input.wrong) {
				t.Errorf("%s: stderr contains %q: %s", label, input.wrong, r.stderr)
			}
			if command == "verify" && strings.Count(r.stderr, input.path) > 1 {
				t.Errorf("%s: stderr names the kit more than once: %s", label, r.stderr)
			}
			if check != nil {
				check(label, r)
			}
		}
	}
}

// TestDamagedSignatureEntryTagIndexVerifies damages only the media type of
// the signature manifest's entry in index.json. The referrers tag index
// still lists the signature, so verify and import pass the kit as signed,
// as they pass any kit whose signature verifies beside an entry of an
// unknown media type.
func TestDamagedSignatureEntryTagIndexVerifies(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	k := &kitParts{entries: readTar(t, kit)}
	i := k.find("index.json")
	k.entries[i].data = []byte(damageEntries(t, string(k.entries[i].data), false))
	file := e.write(t, "damaged.tar", k)
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, file, dir)

	for _, path := range []string{file, dir} {
		out := e.must("ouk", "verify", "--key", e.pub, path)
		if !strings.Contains(out, "Signature in kit: passed") {
			t.Errorf("verify %s does not pass the signature:\n%s", filepath.Base(path), out)
		}
		store := filepath.Join(e.dir, "store-"+filepath.Base(path))
		r := e.runOn(store, "ouk", "import", "--key", e.pub, "-o", "json", path)
		if r.code != 0 {
			t.Errorf("import %s: exit %d\n%s", filepath.Base(path), r.code, r.stderr)
			continue
		}
		if res := decodeImport(t, r.stdout); !strings.HasSuffix(res.SignedBy, "cosign.pub") {
			t.Errorf("import %s: signed by %q, want the test key", filepath.Base(path), res.SignedBy)
		}
	}
}

// A referrers tag index that does not decode counts as a signature that
// did not verify, so verify and import accept a kit whose signature in
// index.json verifies, from a folder as from a file.
func TestUndecodableTagIndexVerifiedKit(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	k := &kitParts{entries: readTar(t, kit)}
	garbage := []byte(`{"schemaVersion":2,"manifests":[`)
	index := k.index(t)
	replaced := false
	for i, d := range index.Manifests {
		if strings.HasPrefix(d.Annotations[ocispec.AnnotationRefName], "sha256-") {
			k.remove("blobs/sha256/" + d.Digest.Encoded())
			index.Manifests[i].Digest = digest.FromBytes(garbage)
			index.Manifests[i].Size = int64(len(garbage))
			replaced = true
		}
	}
	if !replaced {
		t.Fatal("the kit lists no referrers tag index")
	}
	k.setIndex(t, index)
	k.entries = append(k.entries, blobEntry(garbage))
	file := e.write(t, "tagbad.tar", k)
	dir := filepath.Join(e.dir, "tagbad")
	extractTar(t, file, dir)

	for _, path := range []string{file, dir} {
		r := e.run("ouk", "verify", "--key", e.pub, path)
		if r.code != 0 || !strings.Contains(r.stdout, "Signature in kit: passed") {
			t.Errorf("verify %s: exit %d\n%s%s", filepath.Base(path), r.code, r.stdout, r.stderr)
		}
		store := filepath.Join(e.dir, "store-"+filepath.Base(path))
		if r := e.runOn(store, "ouk", "import", "--key", e.pub, path); r.code != 0 {
			t.Errorf("import %s: exit %d\n%s", filepath.Base(path), r.code, r.stderr)
		}
	}
}

// A kit that carries the signature of another kit, as a mixed-up copy
// does, gets a verify failure and an inspect line that name the kit of
// that signature, rather than that the kit carries no signature.
func TestVerifyNamesSignatureOfAnotherKit(t *testing.T) {
	e := newEnv(t)
	own := &kitParts{entries: readTar(t, e.buildKit("own.tar", "--version", "1.0.0", "--sequence", "1"))}
	other := &kitParts{entries: readTar(t, e.buildKit("other.tar", "--version", "2.0.0", "--sequence", "2"))}
	otherBundle, _ := other.bundle(t)

	index := own.index(t)
	var listed []ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.MediaType == ocispec.MediaTypeImageIndex && d.Digest != otherBundle.Digest &&
			!strings.HasPrefix(d.Annotations[ocispec.AnnotationRefName], "sha256-") {
			listed = append(listed, d)
			continue
		}
		if d.MediaType == ocispec.MediaTypeImageManifest {
			var m ocispec.Manifest
			if err := json.Unmarshal(own.blob(t, d.Digest.String()), &m); err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				own.remove("blobs/sha256/" + l.Digest.Encoded())
			}
		}
		own.remove("blobs/sha256/" + d.Digest.Encoded())
	}
	for _, d := range other.index(t).Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(other.blob(t, d.Digest.String()), &m); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, d)
		own.entries = append(own.entries, blobEntry(other.blob(t, d.Digest.String())))
		for _, l := range m.Layers {
			own.entries = append(own.entries, blobEntry(other.blob(t, l.Digest.String())))
		}
	}
	index.Manifests = listed
	own.setIndex(t, index)
	file := e.write(t, "mixed.tar", own)

	r := e.run("ouk", "verify", "--key", e.pub, file)
	if r.code == 0 {
		t.Fatalf("verify of a kit with another kit's signature passed\n%s", r.stdout)
	}
	want := "signature is for " + otherBundle.Digest.String() + ", not this kit"
	if !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("verify does not say %q:\n%s%s", want, r.stdout, r.stderr)
	}
	r = e.run("ouk", "inspect", "--key", e.pub, file)
	if !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "the kit carries none") {
		t.Errorf("inspect does not say %q:\n%s%s", want, r.stdout, r.stderr)
	}
}
