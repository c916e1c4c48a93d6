package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/oci"
)

func TestParseSequence(t *testing.T) {
	valid := map[string]int64{"1": 1, "31": 31, "031": 31, "089": 89, "0000000042": 42,
		"9223372036854775807": 9223372036854775807}
	for text, want := range valid {
		got, ok := parseSequence(text)
		if !ok {
			t.Errorf("parseSequence(%q) rejected it, want %d", text, want)
			continue
		}
		if got != want {
			t.Errorf("parseSequence(%q) = %d, want %d", text, got, want)
		}
	}
	invalid := []string{"", "0", "000", "-5", "+5", "0x1f", "0X1F", "0b101", "0o31", "1_000", "3.0", "1e3",
		" 7", "7 ", "٣", "9223372036854775808", "99999999999999999999"}
	for _, text := range invalid {
		if got, ok := parseSequence(text); ok {
			t.Errorf("parseSequence(%q) = %d, want it rejected", text, got)
		}
	}
}

// A base kit built by an earlier release may carry a catalogue name that
// --feed now rejects; --drop-source still takes it, so the source can go.
func TestDropSourceTakesOldCatalogueNames(t *testing.T) {
	spec := kitSpec{Base: "base.tar", DropSources: []string{"regional:cert/fr", "osv"}}
	if err := spec.checkRemovalFlags(); err != nil {
		t.Errorf("checkRemovalFlags(%v) = %v, want nil", spec.DropSources, err)
	}
	for _, bad := range []string{"regional:", "osv2", ""} {
		spec.DropSources = []string{bad}
		if err := spec.checkRemovalFlags(); err == nil {
			t.Errorf("checkRemovalFlags accepts --drop-source %q", bad)
		}
	}
}

func TestParseImagesMirrorTargets(t *testing.T) {
	digestA := "@sha256:" + strings.Repeat("a", 64)
	digestB := "@sha256:" + strings.Repeat("b", 64)
	for _, tc := range []struct {
		name string
		refs []string
		// collision is the target named in the error, or "" when the
		// references are accepted.
		collision string
	}{
		{"tag and digest on other hosts",
			[]string{"a.example.test/stella-ops/scanner:0.1.0" + digestA, "b.example.test/stella-ops/scanner:0.1.0" + digestB},
			"stella-ops/scanner:0.1.0"},
		{"tag and same digest on other hosts",
			[]string{"a.example.test/stella-ops/scanner:0.1.0" + digestA, "b.example.test/stella-ops/scanner:0.1.0" + digestA},
			""},
		// Without two digests the collision depends on the loaded images,
		// which checkImageTargets compares.
		{"two-part and full reference",
			[]string{"stella-ops/scanner:0.1.0", "registry.example.test/stella-ops/scanner:0.1.0"}, ""},
		{"tag and digest beside tag only",
			[]string{"a.example.test/stella-ops/scanner:0.1.0" + digestA, "b.example.test/stella-ops/scanner:0.1.0"}, ""},
		{"two-part references of other repositories",
			[]string{"stella-ops/scanner:0.1.0", "other/scanner:0.1.0"}, ""},
		{"digests only", []string{"a.example.test/stella-ops/scanner" + digestA, "b.example.test/stella-ops/scanner" + digestB}, ""},
		// Docker reads a one-part reference as docker.io/library/NAME.
		{"one-part reference", []string{"scanner:0.1.0"}, ""},
		{"one-part reference by digest", []string{"scanner" + digestA}, ""},
		{"one-part and library references", []string{"scanner:0.1.0" + digestA, "library/scanner:0.1.0" + digestB},
			"library/scanner:0.1.0"},
		{"one-part and Docker Hub references", []string{"scanner:0.1.0" + digestA, "docker.io/library/scanner:0.1.0" + digestB},
			"library/scanner:0.1.0"},
		{"one-part and other host", []string{"scanner:0.1.0" + digestA, "registry.example.test/scanner:0.1.0" + digestB}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var specs []string
			for i, ref := range tc.refs {
				specs = append(specs, fmt.Sprintf("%s=image-%d", ref, i))
			}
			_, err := parseImages(specs)
			if tc.collision == "" {
				if err != nil {
					t.Errorf("parseImages(%q): %v, want no error", tc.refs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "both mirror to "+tc.collision) {
				t.Errorf("parseImages(%q): %v, want a collision on %s", tc.refs, err, tc.collision)
			}
		})
	}
}

func TestCheckImageTargetsByDigest(t *testing.T) {
	image := func(ref string, hex byte) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex,
			Digest:      digest.Digest("sha256:" + strings.Repeat(string(hex), 64)),
			Annotations: map[string]string{oci.AnnotationRole: oci.RoleImage, oci.AnnotationImageRef: ref}}
	}
	same := []ocispec.Descriptor{image("stella-ops/scanner:0.1.0", 'a'), image("registry.example.test/stella-ops/scanner:0.1.0", 'a')}
	if err := checkImageTargets(same); err != nil {
		t.Errorf("checkImageTargets with one digest under two references: %v, want nil", err)
	}
	other := []ocispec.Descriptor{image("stella-ops/scanner:0.1.0", 'a'), image("registry.example.test/stella-ops/scanner:0.1.0", 'b')}
	err := checkImageTargets(other)
	if err == nil || !strings.Contains(err.Error(), "both mirror to stella-ops/scanner:0.1.0") {
		t.Errorf("checkImageTargets with two digests: %v, want a collision on stella-ops/scanner:0.1.0", err)
	}
	var usage usageError
	if !errors.As(err, &usage) {
		t.Errorf("checkImageTargets error %T, want a usage error (exit code 2)", err)
	}
}

func TestCreationTimeBeyondTarRange(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "9000000000")
	_, err := creationTime()
	if err == nil {
		t.Fatal("no error for a time that USTAR headers cannot hold")
	}
	if code := exitCode(err); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(err.Error(), "2242-03-16T12:56:31Z") {
		t.Errorf("error does not name the latest time: %v", err)
	}
}

func TestCreationTimeAtTarLimit(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "8589934591")
	created, err := creationTime()
	if err != nil {
		t.Fatal(err)
	}
	if created.Unix() != 8589934591 {
		t.Errorf("creation time %s, want 8589934591 s after the epoch", created)
	}
}

// FuzzBuildFileOptions decodes a build file and turns it into build
// options, as `stella ouk build -f FILE` does before the build starts.
func FuzzBuildFileOptions(f *testing.F) {
	// The YAML examples of the build file's documentation.
	if doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "build-file.md")); err == nil {
		for _, block := range strings.Split(string(doc), "```yaml\n")[1:] {
			yamlText, _, _ := strings.Cut(block, "```")
			f.Add([]byte(yamlText))
		}
	}
	for _, seed := range []string{
		"output: kit.tar.zst\nsequence: 031\nexpires: 30d\nfeeds: [osv=feeds/osv, regional:demo-cert=feeds/cert]\n",
		"output: kit.tar\nimages:\n  - scanner=images/a=b\n  - library/scanner:latest=images/b\n",
		"output: kit.tar\nimages:\n  - registry.example/scanner:0.1@sha256:" + strings.Repeat("0", 64) + "=images/a\n",
		"output: kit.tgz\nbase: oci://registry.example/kits:30\nrollup: true\ndropSources: [nvd]\n",
		"output: kit\nfeeds: [regional:=x, osv=, =x]\nexpires: never\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var spec kitSpec
		if err := decodeYAMLFile(raw, &spec); err != nil {
			return
		}
		spec.resolvePaths("builds")
		opts, err := spec.options()
		if err != nil {
			if err.Error() == "" {
				t.Fatal("options returned an empty error")
			}
			return
		}
		for _, feed := range opts.Feeds {
			if err := feed.Validate(); err != nil {
				t.Fatalf("accepted feed %+v that Validate rejects: %v", feed, err)
			}
		}
		for _, img := range opts.Images {
			if img.Ref == "" || img.Path == "" || strings.Contains(img.Ref, "=") {
				t.Fatalf("accepted image %+v", img)
			}
		}
		if spec.Sequence != nil && opts.Sequence <= 0 {
			t.Fatalf("accepted sequence %q as %d", *spec.Sequence, opts.Sequence)
		}
		if opts.Expires < 0 {
			t.Fatalf("accepted expires %q as %s", spec.Expires, opts.Expires)
		}
	})
}
