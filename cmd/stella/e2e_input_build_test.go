package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
)

// assertFailure checks a run's exit code and that its error contains every
// string of wants. label names the run in failures.
func assertFailure(t *testing.T, label string, r result, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit %d, want %d\n%s", label, r.code, code, r.stderr)
	}
	for _, want := range wants {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%s: error does not mention %q:\n%s", label, want, r.stderr)
		}
	}
}

// inspectImages returns the image references that `ouk inspect` lists.
func inspectImages(e *env, kit string) []string {
	e.t.Helper()
	var rep struct {
		Images []struct {
			Ref string `json:"ref"`
		} `json:"images"`
	}
	out := e.must("ouk", "inspect", "-o", "json", kit)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("decoding inspect output: %v\n%s", err, out)
	}
	var refs []string
	for _, img := range rep.Images {
		refs = append(refs, img.Ref)
	}
	return refs
}

func TestBuildBaseCarriesImages(t *testing.T) {
	e := newEnv(t)
	const ref = "registry.example.test/stella-ops/scanner:0.1.0"
	base := e.buildKit("kit3.tar.zst", "--version", "3", "--sequence", "3", "--image", ref+"="+demoImage(t, e.dir))
	deltaKit := filepath.Join(e.dir, "k10.delta.tar.zst")
	out := e.must("ouk", "build", "--base", base, "--delta", "-o", deltaKit, "--version", "10", "--sequence", "10",
		"--feed", "osv="+fixtureFeed(t, "osv"), "--feed", "regional:demo-cert="+fixtureFeed(t, "regional"), "--key", e.key)
	if !strings.Contains(out, "Image: "+ref+" (carried over from the base kit)") {
		t.Errorf("build output does not list the carried image:\n%s", out)
	}
	full := filepath.Join(e.dir, "k10.tar.zst")
	if got := inspectImages(e, full); len(got) != 1 || got[0] != ref {
		t.Errorf("kit built on a base without --image lists images %v, want [%s]", got, ref)
	}

	// The base holds the image's layers (6 MiB of random bytes), so the
	// delta stays small and still activates the full kit's digest.
	info, err := os.Stat(deltaKit)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 1<<20 {
		t.Errorf("delta is %d bytes; it carries the image layers the base holds", info.Size())
	}
	e.must("ouk", "import", "--key", e.pub, base)
	res := e.importJSON(deltaKit)
	fullStore := newEnvWithKeys(t, e)
	fullStore.must("ouk", "import", "--key", e.pub, full)
	if got, want := e.activeDigest(), fullStore.activeDigest(); got != want {
		t.Errorf("delta activates %s (%+v), the full kit %s", got, res, want)
	}

	dropped := filepath.Join(e.dir, "k11.tar.zst")
	e.must("ouk", "build", "--base", full, "-o", dropped, "--drop-base-images", "--sequence", "11",
		"--feed", "osv="+fixtureFeed(t, "osv"), "--feed", "regional:demo-cert="+fixtureFeed(t, "regional"), "--key", e.key)
	if got := inspectImages(e, dropped); len(got) != 0 {
		t.Errorf("kit built with --drop-base-images lists images %v", got)
	}
	r := e.run("ouk", "build", "-o", dropped, "--drop-base-images", "--key", e.key)
	assertFailure(t, "--drop-base-images without --base", r, exitUsage, "--drop-base-images needs --base")
	r = e.run("ouk", "build", "--base", full, "-o", dropped, "--drop-base-images", "--sequence", "12",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+filepath.Join(e.dir, "image"),
		"--feed", "osv="+fixtureFeed(t, "osv"), "--key", e.key)
	assertFailure(t, "--drop-base-images with --image", r, exitUsage, "--drop-base-images builds a kit without images")
	r = e.run("ouk", "build", "-o", dropped, "--expires", "+30d", "--feed", "osv="+fixtureFeed(t, "osv"), "--key", e.key)
	assertFailure(t, "--expires +30d", r, exitUsage, `--expires is "+30d"`)
}

func TestBuildOutputSuffixExitsUsage(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "build", "-o", filepath.Join(e.dir, "k.zip"), "--feed", "osv="+fixtureFeed(t, "osv"))
	assertFailure(t, "build -o k.zip", r, exitUsage, `"`+filepath.Join(e.dir, "k.zip")+`"`,
		".tar, .tar.gz, .tgz, .tar.zst or .tzst")
	assertNoFile(t, filepath.Join(e.dir, "k.zip"))

	base := e.buildKit("base.tar.zst", "--sequence", "1")
	r = e.run("ouk", "build", "--base", base, "--delta", "-o", filepath.Join(e.dir, "d.tar.zst"),
		"--full-output", filepath.Join(e.dir, "full.7z"), "--feed", "osv="+fixtureFeed(t, "osv"),
		"--drop-source", "regional:demo-cert", "--key", e.key)
	assertFailure(t, "build --full-output full.7z", r, exitUsage, "full.7z", ".tar.zst")
	assertNoFile(t, filepath.Join(e.dir, "d.tar.zst"))
}

func TestBuildVersionMustBeRefName(t *testing.T) {
	e := newEnv(t)
	kit := filepath.Join(e.dir, "kit.tar")
	r := e.run("ouk", "build", "-o", kit, "--version", "bad version/../x", "--feed", "osv="+fixtureFeed(t, "osv"))
	assertFailure(t, "--version 'bad version/../x'", r, exitUsage, `"bad version/../x"`, "- . _ : @ +")
	assertNoFile(t, kit)

	// A version with every allowed separator builds, and skopeo reads the
	// kit by it.
	const version = "2026.12.04-rc_1+b:7@x/y--z"
	e.must("ouk", "build", "-o", kit, "--version", version, "--feed", "osv="+fixtureFeed(t, "osv"))
	skopeo := toolPath(t, "skopeo")
	runTool(t, skopeo, "inspect", "--raw", "oci-archive:"+kit+":"+version)
}

func TestBuildSequenceMustBePositive(t *testing.T) {
	e := newEnv(t)
	kit := filepath.Join(e.dir, "kit.tar")
	for _, seq := range []string{"0", "-5", "000", "0x1f", "0b101", "0o31", "1_000", "+5", "3.0", "",
		"9223372036854775808"} {
		r := e.run("ouk", "build", "-o", kit, "--sequence", seq, "--feed", "osv="+fixtureFeed(t, "osv"))
		assertFailure(t, "--sequence "+seq, r, exitUsage, `--sequence is "`+seq+`"`, "positive whole number in decimal digits")
		assertNoFile(t, kit)
	}
	for _, seq := range []string{"0", "0x1f", "089x", "soon"} {
		file := e.writeTestFile("seq.yaml", "output: kit.tar\nsequence: "+seq+"\n")
		r := e.run("ouk", "build", "-f", file)
		assertFailure(t, "sequence: "+seq+" in a build file", r, exitUsage, "seq.yaml", "line 2",
			`key "sequence" is "`+seq+`"`, "positive whole number in decimal digits")
		assertNoFile(t, kit)
	}
}

func TestBuildSequenceLeadingZerosAreDecimal(t *testing.T) {
	e := newEnv(t)
	sequenceOf := func(args ...string) int64 {
		t.Helper()
		var res struct {
			Sequence int64 `json:"sequence"`
		}
		out := e.must(append([]string{"ouk", "build", "--format", "json", "--feed", "osv=" + fixtureFeed(t, "osv")}, args...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("decoding build result: %v\n%s", err, out)
		}
		return res.Sequence
	}
	for flag, want := range map[string]int64{"031": 31, "089": 89, "007": 7, "42": 42} {
		if got := sequenceOf("-o", filepath.Join(e.dir, "flag-"+flag+".tar"), "--sequence", flag); got != want {
			t.Errorf("--sequence %s gave sequence %d, want %d", flag, got, want)
		}
	}
	for text, want := range map[string]int64{"031": 31, "089": 89, `"042"`: 42} {
		file := e.writeTestFile("seq.yaml", "output: file.tar\nsequence: "+text+"\n")
		if got := sequenceOf("-f", file); got != want {
			t.Errorf("sequence: %s in a build file gave sequence %d, want %d", text, got, want)
		}
	}
}

func TestBuildFileErrorsNameKey(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, content string
		wants         []string
	}{
		{"typo", "output: kit.tar\nfeed:\n  - osv=feeds/osv\n",
			[]string{"typo.yaml", "line 2", `unknown key "feed"`, `did you mean "feeds"?`, "dropBaseImages", "docs/build-file.md"}},
		{"kind", "output: kit.tar\nfeeds: osv=feeds/osv\n",
			[]string{"kind.yaml", "line 2", `key "feeds"`, "give a list"}},
		{"number", "output: kit.tar\nsequence: soon\n",
			[]string{"line 2", `key "sequence" is "soon"`, "whole number"}},
		{"twice", "output: kit.tar\noutput: other.tar\n",
			[]string{"line 2", `key "output" is given twice (first on line 1)`}},
		{"expires", "output: kit.tar\nversion: x\nexpires: -5d\n",
			[]string{"expires.yaml", "line 3", `key "expires" is "-5d"`, "720h or 30d", "or never"}},
	}
	for _, c := range cases {
		file := e.writeTestFile(c.name+".yaml", c.content)
		r := e.run("ouk", "build", "-f", file)
		assertFailure(t, c.name, r, exitUsage, c.wants...)
		if strings.Contains(r.stderr, "JSON") {
			t.Errorf("%s: error speaks of JSON:\n%s", c.name, r.stderr)
		}
	}

	// A version that YAML reads as a number keeps its spelling.
	file := e.writeTestFile("number-version.yaml", "output: kit.tar\nversion: 1.10\n")
	out := e.must("ouk", "build", "-f", file, "--format", "json")
	if !strings.Contains(out, `"version": "1.10"`) {
		t.Errorf("version 1.10 in a build file was not kept as written:\n%s", out)
	}
}

func TestSettingsFileErrorsNameKey(t *testing.T) {
	e := newEnv(t)
	// quota status reads only a store that exists.
	e.withStore(func(*cas.Store) {})
	path := filepath.Join(e.store, "config.yaml")
	if err := os.WriteFile(path, []byte("quota:\n  anonymousLimt: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("quota", "status")
	assertFailure(t, "settings typo", r, exitError, path, "line 2", `unknown key "anonymousLimt" under "quota"`,
		`did you mean "anonymousLimit"?`, "docs/operations.md")
	if strings.Contains(r.stderr, "JSON") {
		t.Errorf("settings error speaks of JSON:\n%s", r.stderr)
	}
}

func FuzzDecodeYAMLFile(f *testing.F) {
	for _, seed := range []string{
		"output: kit.tar\nversion: 1.10\nsequence: 7\nfeeds: [osv=feeds/osv]\nrollup: true\n",
		"output: kit.tar\nfeed:\n  - osv=feeds/osv\n",
		"output: &a kit.tar\nsbom: *a\n",
		"quota:\n  anonymousLimit: 5\n  reminderFraction: .nan\n",
		"quota:\n  anonymousLimit: 017\n  freeTierLimit: 1e3\n  reminderAt: \"40\"\n",
		"quota:\n  anonymousLimit: 99999999999999999999\n  reminderAt: 0x1F\n",
		"quota:\n  anonymousLimit: 5\n---\nquota:\n  freeTierLimit: 50\n",
		"- a\n",
		"output: [kit.tar\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var spec kitSpec
		if err := decodeYAMLFile(raw, &spec); err != nil && strings.Contains(err.Error(), "JSON") {
			t.Errorf("build file error speaks of JSON: %v", err)
		}
		var cfg config
		if err := decodeYAMLFile(raw, &cfg); err != nil && strings.Contains(err.Error(), "JSON") {
			t.Errorf("settings error speaks of JSON: %v", err)
		}
	})
}

func TestBuildOnBaseRejectsLowerSequence(t *testing.T) {
	e := newEnv(t)
	base := e.buildKit("base.tar.zst", "--version", "10", "--sequence", "10")
	for _, extra := range [][]string{{"-o", filepath.Join(e.dir, "next.delta.tar.zst"), "--delta"},
		{"-o", filepath.Join(e.dir, "next.tar.zst")}} {
		args := append([]string{"ouk", "build", "--base", base, "--sequence", "5", "--key", e.key,
			"--feed", "osv=" + fixtureFeed(t, "osv"), "--drop-source", "regional:demo-cert"}, extra...)
		r := e.run(args...)
		label := strings.Join(extra, " ")
		assertFailure(t, label, r, exitUsage, "kit sequence 5 is not above 10", base, "downgrade", "11 or higher")
		assertNoFile(t, extra[1])
		assertNoFile(t, filepath.Join(e.dir, "next.tar.zst"))
	}
}

func TestBuildRejectsWrongImageDigest(t *testing.T) {
	e := newEnv(t)
	image := demoImage(t, e.dir)
	const wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	ref := "registry.example.test/stella-ops/scanner@" + wrong
	kit := filepath.Join(e.dir, "kit.tar")
	r := e.run("ouk", "build", "-o", kit, "--image", ref+"="+image, "--feed", "osv="+fixtureFeed(t, "osv"))
	assertFailure(t, "--image with a wrong digest", r, exitUsage, ref, "index digest sha256:", image)
	assertNoFile(t, kit)
}

func TestBuildRejectsBadImageSource(t *testing.T) {
	e := newEnv(t)
	text := e.writeTestFile("notes.txt", "hello\n")
	kit := filepath.Join(e.dir, "kit.tar")
	for path, want := range map[string]string{e.dir: "the folder has no oci-layout file", text: "starts with bytes"} {
		r := e.run("ouk", "build", "-o", kit, "--image", "registry.example.test/a:1="+path)
		assertFailure(t, "--image ...="+path, r, exitUsage, "image source "+path+" is not an OCI layout folder or oci-archive tar", want)
		for _, kitWords := range []string{"kit stream", "invalid kit"} {
			if strings.Contains(r.stderr, kitWords) {
				t.Errorf("--image ...=%s: error speaks of a %q:\n%s", path, kitWords, r.stderr)
			}
		}
		assertNoFile(t, kit)
	}
}

// --expires never overrides the expires key of a build file, so a one-off
// kit without expiry needs no other file.
func TestBuildExpiresNeverOverridesFile(t *testing.T) {
	e := newEnv(t)
	file := e.writeTestFile("expiring.yaml", "output: kit.tar\nexpires: 1h\n")
	var res struct {
		Expires string `json:"expires"`
	}
	out := e.must("ouk", "build", "-f", file, "--format", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Expires == "" {
		t.Fatalf("the build file's expires: 1h gave no expiry:\n%s", out)
	}
	out = e.must("ouk", "build", "-f", file, "--expires", "never", "-o", filepath.Join(e.dir, "never.tar"), "--format", "json")
	res.Expires = ""
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Expires != "" {
		t.Errorf("--expires never kept the expiry %s of the build file", res.Expires)
	}
}
