package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildArgs returns the arguments of a build from the fixture OSV feed.
func (e *env) buildArgs(extra ...string) []string {
	out := filepath.Join(e.dir, "kit.tar.zst")
	return append([]string{"ouk", "build", "-o", out, "--key", e.key,
		"--feed", "osv=" + fixtureFeed(e.t, "osv")}, extra...)
}

// mustReject runs a build that should stop on its command line and checks
// that the error mentions each of want and that no kit was written.
func (e *env) mustReject(args []string, want ...string) {
	e.t.Helper()
	r := e.run(args...)
	if r.code != exitUsage {
		e.t.Errorf("stella %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, exitUsage, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			e.t.Errorf("stella %s: error lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	assertNoFile(e.t, filepath.Join(e.dir, "kit.tar.zst"))
}

func TestBuildExpiresOverflowRejected(t *testing.T) {
	e := newEnv(t)
	for _, value := range []string{"106752d", "3000000d", "99999999d", "99999999999999999999d", "999999999999999h"} {
		e.mustReject(e.buildArgs("--expires", value), `"`+value+`"`, "106751d")
	}
}

// A registry address given as the base kit gets the way to copy it into
// a layout folder, not a file system error about a missing path.
func TestBuildBaseRegistrySourceRejected(t *testing.T) {
	e := newEnv(t)
	e.mustReject(e.buildArgs("--base", "oci://127.0.0.1:9/stella/kit:30"),
		"--base takes a kit file or layout folder", "oras cp -r --to-oci-layout 127.0.0.1:9/stella/kit:30 DIR:TAG")
	r := e.run("ouk", "delta", "--from", "oci://127.0.0.1:9/stella/kit:30", "--to", "new.tar", "-o",
		filepath.Join(e.dir, "d.tar"))
	assertFailure(t, "delta --from oci://", r, exitUsage, "--from takes a kit file or layout folder")
}

func TestBuildExpiresMaxDaysAccepted(t *testing.T) {
	e := newEnv(t)
	e.must(e.buildArgs("--expires", "106751d")...)
}

// TestBuildSourceDateEpochPastTarRange checks that build rejects a
// SOURCE_DATE_EPOCH that no USTAR header can hold, with exit code 2.
func TestBuildSourceDateEpochPastTarRange(t *testing.T) {
	for _, epoch := range []string{"9000000000", "253402214400"} { // 2255 and 9999-12-31
		t.Run(epoch, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", epoch)
			e := newEnv(t)
			e.mustReject(e.buildArgs("--expires", "2d"), "SOURCE_DATE_EPOCH is "+epoch, "2242-03-16T12:56:31Z")
		})
	}
}

func TestBuildInvalidImageRefRejected(t *testing.T) {
	e := newEnv(t)
	cases := map[string]string{
		"UPPER/Case:1":                        `invalid repository "Case"`,
		"registry.example.test/a:b:c":         `invalid tag "b:c"`,
		"Scanner:1":                           `invalid repository "library/Scanner"`,
		"scanner:a:b":                         `invalid tag "a:b"`,
		"registry.example.test/a@sha256:0000": `invalid digest "sha256:0000"`,
	}
	for ref, problem := range cases {
		// The image folder need not exist: the reference is checked first.
		e.mustReject(e.buildArgs("--image", ref+"=image"), `image reference "`+ref+`" is invalid`, problem)
	}
}

func TestBuildInvalidImageRefInKitFile(t *testing.T) {
	e := newEnv(t)
	spec := "output: kit.tar.zst\nkey: keys/cosign.key\nimages:\n  - UPPER/Case:1=image\n"
	file := filepath.Join(e.dir, "kit.yaml")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustReject([]string{"ouk", "build", "-f", file}, `image reference "UPPER/Case:1" is invalid`)
}

func TestBuildDuplicateImageRefRejected(t *testing.T) {
	e := newEnv(t)
	ref := "registry.example.test/stella-ops/scanner:0.1.0"
	e.mustReject(e.buildArgs("--image", ref+"=image-a", "--image", ref+"=image-b"),
		`"`+ref+`" is given twice`)

	// The mirror drops the registry host, so these two land on one tag.
	// Their digests differ, which the build finds out only once it loads them.
	imageA := demoImage(t, t.TempDir())
	imageB := bigImage(t, t.TempDir())
	other := "other.example.test/stella-ops/scanner:0.1.0"
	e.mustReject(e.buildArgs("--image", ref+"="+imageA, "--image", other+"="+imageB),
		`"`+ref+`" (sha256:`, `"`+other+`" (sha256:`, "both mirror to stella-ops/scanner:0.1.0")

	// With a digest as well, the mirror still pushes to the tag.
	refA := ref + "@sha256:" + strings.Repeat("a", 64)
	otherB := other + "@sha256:" + strings.Repeat("b", 64)
	e.mustReject(e.buildArgs("--image", refA+"=image-a", "--image", otherB+"=image-b"),
		`"`+refA+`" and "`+otherB+`" both mirror to stella-ops/scanner:0.1.0`)

	// A first component without '.' or ':' is part of the repository.
	short := "stella-ops/scanner:0.1.0"
	e.mustReject(e.buildArgs("--image", short+"="+imageA, "--image", ref+"="+imageB),
		`"`+short+`" (sha256:`, `"`+ref+`" (sha256:`, "both mirror to stella-ops/scanner:0.1.0")

	// One image under two references that go to one tag overwrites nothing.
	sameImage := demoImage(t, t.TempDir())
	e.must(e.buildArgs("--image", short+"="+imageA, "--image", ref+"="+sameImage)...)
}

// Docker reads scanner:0.1.0 as docker.io/library/scanner:0.1.0, so both
// references mirror to library/scanner:0.1.0.
func TestBuildOnePartImageRefCollision(t *testing.T) {
	e := newEnv(t)
	imageA := demoImage(t, t.TempDir())
	imageB := bigImage(t, t.TempDir())
	short, full := "scanner:0.1.0", "docker.io/library/scanner:0.1.0"
	e.mustReject(e.buildArgs("--image", short+"="+imageA, "--image", full+"="+imageB),
		`"`+short+`" (sha256:`, `"`+full+`" (sha256:`, "both mirror to library/scanner:0.1.0")
}

func TestBuildDuplicateImageRefAcrossKitFile(t *testing.T) {
	e := newEnv(t)
	ref := "registry.example.test/stella-ops/scanner:0.1.0"
	spec := "output: kit.tar.zst\nkey: keys/cosign.key\nimages:\n  - " + ref + "=image-a\n"
	file := filepath.Join(e.dir, "kit.yaml")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustReject([]string{"ouk", "build", "-f", file, "--image", ref + "=image-b"}, `"`+ref+`" is given twice`)
}

// Docker reads scanner as scanner:latest, so two images under scanner and
// scanner:latest give one Docker name to two images.
func TestBuildUntaggedImageRefCollision(t *testing.T) {
	e := newEnv(t)
	imageA := demoImage(t, t.TempDir())
	imageB := bigImage(t, t.TempDir())
	e.mustReject(e.buildArgs("--image", "scanner="+imageA, "--image", "scanner:latest="+imageB),
		`"scanner" (sha256:`, `"scanner:latest" (sha256:`, "both name library/scanner:latest", "by digest only")
}

// TestBuildAlreadyExpiredWarns checks that a build whose SOURCE_DATE_EPOCH
// lies further back than --expires writes the kit but warns that it has
// already expired, and that a longer --expires gets no such warning.
func TestBuildAlreadyExpiredWarns(t *testing.T) {
	created := time.Now().Add(-60 * 24 * time.Hour)
	t.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(created.Unix(), 10))
	e := newEnv(t)
	expiry := created.Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)

	r := e.run(e.buildArgs("--expires", "30d")...)
	if r.code != 0 {
		t.Fatalf("build of an expired kit: exit %d, want 0\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"warning: the kit expires at " + expiry, "--allow-expired", "SOURCE_DATE_EPOCH"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("build of an expired kit: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "Expired: yes, at "+expiry) {
		t.Errorf("build of an expired kit: report lacks the Expired line:\n%s", r.stdout)
	}

	quiet := e.run(append([]string{"-q"}, e.buildArgs("--expires", "30d", "--format", "json")...)...)
	if quiet.code != 0 {
		t.Fatalf("build -q --format json: exit %d\n%s", quiet.code, quiet.stderr)
	}
	var res struct{ Expired bool }
	if err := json.Unmarshal([]byte(quiet.stdout), &res); err != nil {
		t.Fatalf("decoding build output: %v\n%s", err, quiet.stdout)
	}
	if !res.Expired {
		t.Errorf("build JSON output has expired false for an expired kit:\n%s", quiet.stdout)
	}

	valid := e.run(e.buildArgs("--expires", "90d", "--format", "json")...)
	if valid.code != 0 {
		t.Fatalf("build with --expires 90d: exit %d\n%s", valid.code, valid.stderr)
	}
	if strings.Contains(valid.stderr, "the kit expires at") {
		t.Errorf("build of a kit that has not expired warns about expiry:\n%s", valid.stderr)
	}
	res.Expired = true
	if err := json.Unmarshal([]byte(valid.stdout), &res); err != nil {
		t.Fatalf("decoding build output: %v\n%s", err, valid.stdout)
	}
	if res.Expired {
		t.Errorf("build JSON output has expired true for a kit that expires in 30 days:\n%s", valid.stdout)
	}
}

func TestBuildEpochZeroNeedsSequence(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	e := newEnv(t)
	e.mustReject(e.buildArgs(), "SOURCE_DATE_EPOCH is 0", "--sequence")

	out := e.must(e.buildArgs("--sequence", "1")...)
	if !strings.Contains(out, "(sequence 1)") {
		t.Errorf("build with SOURCE_DATE_EPOCH=0 and --sequence 1 reports:\n%s", out)
	}
}
