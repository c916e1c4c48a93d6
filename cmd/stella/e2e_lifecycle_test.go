package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/importer"
)

func TestKitLifecycle(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar.zst", "--version", "1.0.0", "--sequence", "1")
	kit2 := e.buildKit("kit2.tar.gz", "--version", "2.0.0", "--sequence", "2")

	if got := e.activeDigest(); got != "" {
		t.Fatalf("fresh store has active kit %s", got)
	}
	out := e.must("ouk", "verify", "--key", e.pub, kit1)
	if !strings.Contains(out, "passed") {
		t.Errorf("verify output lacks a passed check:\n%s", out)
	}

	var res1 importer.Result
	if err := json.Unmarshal([]byte(e.must("ouk", "import", "--key", e.pub, "-o", "json", kit1)), &res1); err != nil {
		t.Fatal(err)
	}
	if res1.Version != "1.0.0" || res1.BlobsStored == 0 {
		t.Errorf("import of kit 1: version %q, %d blobs stored", res1.Version, res1.BlobsStored)
	}
	st := e.status()
	if st.Active == nil || st.Active.Version != "1.0.0" || st.Active.Digest != res1.Digest {
		t.Fatalf("status after kit 1: %+v", st.Active)
	}
	if st.Active.Records == 0 {
		t.Errorf("status reports no DB records for kit 1")
	}

	// Kit 2 from standard input: blobs shared with kit 1 are skipped.
	raw, err := os.ReadFile(kit2)
	if err != nil {
		t.Fatal(err)
	}
	r := e.runIn(raw, "ouk", "import", "--key", e.pub, "-o", "json", "-")
	if r.code != 0 {
		t.Fatalf("import from stdin: exit %d: %s", r.code, r.stderr)
	}
	var res2 importer.Result
	if err := json.Unmarshal([]byte(r.stdout), &res2); err != nil {
		t.Fatal(err)
	}
	if res2.BlobsSkipped == 0 {
		t.Errorf("kit 2 shares blobs with kit 1, but none was skipped")
	}
	if got := e.status().Active.Version; got != "2.0.0" {
		t.Fatalf("active version after kit 2 = %q", got)
	}

	// The same kit again changes nothing.
	out = e.must("ouk", "import", "--key", e.pub, kit2)
	if !strings.Contains(out, "already active") {
		t.Errorf("re-import output does not say the kit is already active:\n%s", out)
	}

	// Rollback returns to kit 1 without an override; history records it.
	e.must("ouk", "rollback", "--key", e.pub)
	if got := e.status().Active.Version; got != "1.0.0" {
		t.Fatalf("active version after rollback = %q", got)
	}
	hist := e.must("ouk", "history")
	if !strings.Contains(hist, "rollback") {
		t.Errorf("history does not record the rollback:\n%s", hist)
	}
	// An empty or malformed digest or version switches nothing.
	for _, arg := range []string{"", " ", "sha256:", "sha256:xyz", "SHA256:xyz", "kit\x01"} {
		if r := e.run("ouk", "rollback", "--key", e.pub, arg); r.code != exitUsage {
			t.Errorf("rollback %q: exit %d, want %d", arg, r.code, exitUsage)
		}
	}
	if got := e.status().Active.Version; got != "1.0.0" {
		t.Fatalf("active version after malformed rollbacks = %q, want 1.0.0", got)
	}
	// Rolling forward to a named kit by digest prefix, in capitals too.
	e.must("ouk", "rollback", "--key", e.pub, strings.ToUpper(strings.TrimPrefix(res2.Digest, "sha256:")[:12]))
	if got := e.status().Active.Version; got != "2.0.0" {
		t.Fatalf("active version after rollback to kit 2 = %q", got)
	}

	// gc keeps the active kit and the history it is told to keep.
	e.must("ouk", "gc", "--keep", "0")
	if got := e.status().Active.Version; got != "2.0.0" {
		t.Fatalf("active version after gc = %q", got)
	}
	if r := e.run("ouk", "rollback", "--key", e.pub, strings.TrimPrefix(res1.Digest, "sha256:")); r.code == 0 {
		t.Errorf("rollback to a kit gc removed succeeded")
	}
}

func TestImportLayoutFolder(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, kit, dir)
	e.must("ouk", "import", "--key", e.pub, dir)
	if got := e.status().Active.Version; got != "1.0.0" {
		t.Fatalf("active version = %q", got)
	}
}

func TestBuildDeterministic(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1764806400")
	a := e.buildKitNoKey("a.tar.zst")
	b := e.buildKitNoKey("b.tar.zst")
	ra, _ := os.ReadFile(a)
	rb, _ := os.ReadFile(b)
	if !bytes.Equal(ra, rb) {
		t.Fatalf("two unsigned builds of the same inputs differ (%d and %d bytes)", len(ra), len(rb))
	}
}

// buildKitNoKey builds an unsigned kit, whose bytes are fully deterministic.
func (e *env) buildKitNoKey(name string) string {
	e.t.Helper()
	out := filepath.Join(e.dir, name)
	feeds := filepath.Join(repoRoot(e.t), "testdata", "feeds")
	e.must("ouk", "build", "-o", out, "--version", "1.0.0",
		"--feed", "osv="+filepath.Join(feeds, "osv"),
		"--feed", "regional:demo-cert="+filepath.Join(feeds, "regional"))
	return out
}

func TestUnsignedKitNeedsOverride(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKitNoKey("unsigned.tar")
	r := e.run("ouk", "import", "--key", e.pub, kit)
	if r.code != exitRejected {
		t.Fatalf("unsigned kit: exit %d, want %d; stderr: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "no signature") {
		t.Errorf("error does not say the kit carries no signature: %s", r.stderr)
	}
	r = e.run("ouk", "import", "--insecure-skip-signature", kit)
	if r.code != 0 {
		t.Fatalf("unsigned kit with --insecure-skip-signature: exit %d; stderr: %s", r.code, r.stderr)
	}
	if e.activeDigest() == "" {
		t.Fatalf("unsigned kit not active after --insecure-skip-signature")
	}
	// The report names the override once, and the log does not repeat it.
	if !strings.Contains(r.stdout, "warning") || !strings.Contains(r.stdout, "--insecure-skip-signature") {
		t.Errorf("import report does not warn about the override: %s", r.stdout)
	}
	if strings.Contains(r.stderr, "--insecure-skip-signature") {
		t.Errorf("the warning is also logged on stderr: %s", r.stderr)
	}
}

func TestSharedFeedsKit(t *testing.T) {
	shared := sharedTestdata(t)
	e := newEnv(t)
	kit := filepath.Join(e.dir, "kit.tar.zst")
	e.must("ouk", "build", "-o", kit, "--key", e.key,
		"--feed", "osv="+filepath.Join(shared, "osv"),
		"--feed", "ghsa="+filepath.Join(shared, "ghsa"),
		"--feed", "nvd="+filepath.Join(shared, "nvd"))
	e.must("ouk", "import", "--key", e.pub, kit)
	st := e.status()
	if st.Active == nil || st.Active.Records < 10 {
		t.Fatalf("kit from the sample feeds: %+v", st.Active)
	}
	out := e.must("db", "lookup", "CVE-2023-4863")
	if !strings.Contains(out, "CVE-2023-4863") {
		t.Errorf("lookup of CVE-2023-4863 found nothing:\n%s", out)
	}
}
