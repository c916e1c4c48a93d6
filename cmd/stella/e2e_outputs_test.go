package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputNamingAnInputRefused checks that build and delta refuse an
// output file that is one of their inputs, and leave that input as it was.
func TestOutputNamingAnInputRefused(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	before, err := os.ReadFile(series[1].full)
	if err != nil {
		t.Fatal(err)
	}
	// A second name for the new kit, through a hard link, is the same file.
	linked := filepath.Join(e.dir, "linked.tar")
	if err := os.Link(series[1].full, linked); err != nil {
		t.Fatal(err)
	}
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	cases := map[string][]string{
		"delta -o the new kit":                {"ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", series[1].full, "--key", e.key},
		"delta -o a link to --to":             {"ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", linked, "--key", e.key},
		"build -o the base":                   {"ouk", "build", "--base", series[1].full, "-o", series[1].full, "--feed", "osv=" + filepath.Join(feeds, "osv")},
		"build -o and --full-output one file": {"ouk", "build", "--base", series[0].full, "--delta", "-o", filepath.Join(e.dir, "n.delta.tar"), "--full-output", "./n.delta.tar", "--feed", "osv=" + filepath.Join(feeds, "osv")},
		"build --full-output base":            {"ouk", "build", "--base", series[1].full, "--delta", "-o", filepath.Join(e.dir, "d.tar"), "--full-output", series[1].full, "--feed", "osv=" + filepath.Join(feeds, "osv")},
	}
	for name, args := range cases {
		r := e.run(args...)
		if r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d", name, r.code, exitUsage)
		}
		if !strings.Contains(r.stderr, "writing it would replace that input") && !strings.Contains(r.stderr, "give two different files") {
			t.Errorf("%s: stderr %q does not name the colliding file", name, r.stderr)
		}
	}
	// The full kit's name derived from -o is named as such.
	derived := filepath.Join(e.dir, "night-02.tar.zst")
	if filepath.Clean(series[1].full) == derived {
		r := e.run("ouk", "build", "--base", series[1].full, "--delta", "-o", filepath.Join(e.dir, "night-02.delta.tar.zst"),
			"--sequence", "9", "--feed", "osv="+filepath.Join(feeds, "osv"))
		if r.code != exitUsage || !strings.Contains(r.stderr, "named from -o") || !strings.Contains(r.stderr, "choose another with --full-output") {
			t.Errorf("derived full kit name: exit %d, stderr %q", r.code, r.stderr)
		}
	} else {
		t.Fatalf("the series' night 2 is %s, not %s", series[1].full, derived)
	}
	after, err := os.ReadFile(series[1].full)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the input kit changed (read error %v)", err)
	}
}

// TestDeltaCreatesOutputFolder checks that delta, like build, creates the
// folders above its output file.
func TestDeltaCreatesOutputFolder(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(2)
	out := filepath.Join(e.dir, "new", "folder", "d.tar")
	e.must("ouk", "delta", "--from", series[0].full, "--to", series[1].full, "-o", out, "--key", e.key)
	if _, err := os.Stat(out); err != nil {
		t.Errorf("delta output: %v", err)
	}
}

// TestSignRefusesItsInputsAsOutput checks that sign does not write its
// signature over the kit or the key, and creates the signature's folder.
func TestSignRefusesItsInputsAsOutput(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	keyBefore, err := os.ReadFile(e.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{kit, e.key} {
		r := e.run("ouk", "sign", "--key", e.key, "--output-signature", out, kit)
		if r.code != exitUsage || !strings.Contains(r.stderr, "writing it would replace that input") {
			t.Errorf("sign --output-signature %s: exit %d, stderr %q", filepath.Base(out), r.code, r.stderr)
		}
	}
	if keyAfter, _ := os.ReadFile(e.key); !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("sign replaced the signing key")
	}
	sig := filepath.Join(e.dir, "new", "kit.tar.sig")
	e.must("ouk", "sign", "--key", e.key, "--output-signature", sig, kit)
	e.must("ouk", "verify", "--key", e.pub, "--signature", sig, kit)
}

// TestSignReplacesSignatureFile checks that sign puts a new file in place
// of an earlier signature rather than writing into it, so that a failed
// write cannot leave half a signature and another name of the earlier
// file keeps its content.
func TestSignReplacesSignatureFile(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	sig := kit + ".sig"
	other := filepath.Join(e.dir, "other.txt")
	if err := os.WriteFile(other, []byte("earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, sig); err != nil {
		t.Fatal(err)
	}
	e.must("ouk", "sign", "--key", e.key, kit)
	if b, _ := os.ReadFile(other); string(b) != "earlier" {
		t.Errorf("sign wrote into the earlier signature file, so its other name now holds %q", b)
	}
	e.must("ouk", "verify", "--key", e.pub, "--signature", sig, kit)
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if strings.HasPrefix(entry.Name(), ".kit.tar.sig.") {
			t.Errorf("sign left the temporary file %s", entry.Name())
		}
	}
}

// TestBuildOutputFolderRejected checks that build rejects an output that
// is an existing folder before it builds anything, and leaves the folder
// as it was.
func TestBuildOutputFolderRejected(t *testing.T) {
	e := newEnv(t)
	folder := filepath.Join(e.dir, "dirout.tar")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "build", "-o", folder, "--sequence", "2", "--feed", "osv="+fixtureFeed(t, "osv"))
	if r.code != exitUsage {
		t.Errorf("build -o a folder: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	for _, want := range []string{"-o " + folder + " is an existing folder", "give -o another file name"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("build -o a folder: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// A rejection before the build prints none of the build's warnings.
	if strings.Contains(r.stderr, "no signing key given") {
		t.Errorf("build -o a folder ran the build before it failed:\n%s", r.stderr)
	}
	entries, err := os.ReadDir(folder)
	if err != nil {
		t.Fatalf("the output folder is gone: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("build -o a folder wrote %d entries into it", len(entries))
	}
	temps, _ := filepath.Glob(filepath.Join(e.dir, ".dirout.tar.*"))
	if len(temps) != 0 {
		t.Errorf("build -o a folder left temporary files: %v", temps)
	}
}

// TestDeltaFullKitNameNeedsName checks that build --delta stops when the
// full kit's name derived from -o would be a hidden file or still contain
// ".delta.", and accepts such a -o with --full-output.
func TestDeltaFullKitNameNeedsName(t *testing.T) {
	e := newEnv(t)
	series := e.buildSeries(1)
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	for _, name := range []string{".delta.tar", "a.delta.delta.tar.zst"} {
		out := filepath.Join(e.dir, name)
		r := e.run("ouk", "build", "--base", series[0].full, "--delta", "-o", out, "--sequence", "9",
			"--feed", "osv="+filepath.Join(feeds, "osv"), "--key", e.key)
		assertFailure(t, name, r, exitUsage, "named from -o "+out, "--full-output FILE")
		assertNoFile(t, out)
	}
	out := filepath.Join(e.dir, "a.delta.delta.tar.zst")
	e.must("ouk", "build", "--base", series[0].full, "--delta", "-o", out, "--full-output",
		filepath.Join(e.dir, "a.tar.zst"), "--sequence", "9", "--feed", "osv="+filepath.Join(feeds, "osv"), "--key", e.key)
}
