package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

func TestFindUnknownEntry(t *testing.T) {
	cases := []struct {
		name      string
		mediaType string
		damaged   bool
	}{
		{"OCI index", ocispec.MediaTypeImageIndex, false},
		{"OCI manifest", ocispec.MediaTypeImageManifest, false},
		{"Docker manifest", "application/vnd.docker.distribution.manifest.v2+json", false},
		{"flipped bit", "application/vnd.oci.image.indey.v1+json", true},
		{"empty", "", true},
	}
	for _, c := range cases {
		index := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest}, {MediaType: c.mediaType}}}
		err := FindUnknownEntry(index, DamagedIndexAdvice)
		if got := err != nil; got != c.damaged {
			t.Errorf("%s: error %v, want damaged %v", c.name, err, c.damaged)
		}
		if !c.damaged {
			continue
		}
		if !strings.Contains(err.Error(), "copy the kit file again") {
			t.Errorf("%s: error gives no next step: %v", c.name, err)
		}
		if !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: error does not wrap ErrInvalidKit: %v", c.name, err)
		}
	}
}

func TestFindUnknownEntryFolderAdvice(t *testing.T) {
	index := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: "application/vnd.oci.image.indey.v1+json"}}}
	err := FindUnknownEntry(index, DamagedFolderIndexAdvice)
	if err == nil {
		t.Fatal("no error for an unknown media type")
	}
	if !strings.Contains(err.Error(), "copy the folder again") {
		t.Errorf("error does not advise copying the folder: %v", err)
	}
	if strings.Contains(err.Error(), "kit file") {
		t.Errorf("error names a kit file for a folder: %v", err)
	}
}

// TestParseIndexDamage checks that each kind of damaged index.json is
// rejected with the advice of its source, a kit file or a layout folder.
func TestParseIndexDamage(t *testing.T) {
	cases := []struct {
		name string
		json string
		want string
	}{
		{"schemaVersion", `{"schemaVersion":3,"manifests":[]}`, "schemaVersion 3, expected 2"},
		{"truncated", `{"schemaVersion":2,"manif`, "decoding index.json"},
		{"flipped key", `{"schemaVersion":2,"manifestz":[]}`, `no manifests list, which every OCI image index has, but has the unknown key "manifestz"`},
		{"no manifests", `{"schemaVersion":2}`, "no manifests list"},
		{"string schemaVersion", `{"schemaVersion":"2","manifests":[]}`,
			`schemaVersion is "2", a string, but must be the number 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKitIndex([]byte(c.json))
			if err == nil {
				t.Fatal("kit file: no error")
			}
			checkDamageError(t, err, c.want, "copy the kit file again")

			dir := t.TempDir()
			writeTestFile(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
			writeTestFile(t, filepath.Join(dir, "index.json"), c.json)
			_, _, err = OpenDir(dir)
			if err == nil {
				t.Fatal("folder: no error")
			}
			checkDamageError(t, err, c.want, "copy the folder again")
		})
	}
}

func TestParseIndexMissingManifestsHints(t *testing.T) {
	_, err := ParseKitIndex([]byte(`{"schemaVersion":2,"manifestz":[]}`))
	if err == nil {
		t.Fatal("no error for an index.json without a manifests list")
	}
	if !strings.Contains(err.Error(), "stella ouk build --image") {
		t.Errorf("error lacks the image archive hint: %v", err)
	}
}

func TestParseIndexEmptyManifests(t *testing.T) {
	if _, err := ParseKitIndex([]byte(`{"schemaVersion":2,"manifests":[],"x-extension":1}`)); err != nil {
		t.Errorf("an empty manifests list with an unknown key is rejected: %v", err)
	}
}

func checkDamageError(t *testing.T, err error, want, advice string) {
	t.Helper()
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q: %v", want, err)
	}
	if !strings.Contains(err.Error(), advice) {
		t.Errorf("error lacks %q: %v", advice, err)
	}
	if !HasDamagedIndexAdvice(err.Error()) {
		t.Errorf("HasDamagedIndexAdvice is false for: %v", err)
	}
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Errorf("error does not wrap ErrInvalidKit: %v", err)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
