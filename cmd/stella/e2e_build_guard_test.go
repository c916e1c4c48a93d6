package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureFeed returns the path of one of the project's fixture feeds.
func fixtureFeed(t *testing.T, kind string) string {
	return filepath.Join(repoRoot(t), "testdata", "feeds", kind)
}

// copyDemoFeed copies the two OSV records of the project's demo feed into
// the folder dir, which it creates, and returns dir.
func copyDemoFeed(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"STELLA-DEMO-2026-0001.json", "STELLA-DEMO-2026-0002.json"} {
		b, err := os.ReadFile(filepath.Join(fixtureFeed(t, "osv"), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s was written by a rejected build", path)
	}
}

func TestBuildBaseMissingSourceRejected(t *testing.T) {
	e := newEnv(t)
	base := e.buildKit("base.tar.zst", "--sequence", "1")
	next := filepath.Join(e.dir, "next.tar.zst")
	args := []string{"ouk", "build", "-o", next, "--key", e.key, "--sequence", "2", "--base", base,
		"--feed", "osv=" + fixtureFeed(t, "osv")}

	r := e.run(args...)
	if r.code != exitError {
		t.Fatalf("build without the base's regional source: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{"regional:demo-cert (1 record)", "--feed", "--drop-source"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not mention %q:\n%s", want, r.stderr)
		}
	}
	assertNoFile(t, next)

	out := e.must(append(args, "--drop-source", "regional:demo-cert")...)
	// The regional record shares an alias with an OSV record, so dropping
	// the source changes that record instead of removing it.
	if !strings.Contains(out, "Changes from the base kit: 1 changed, 0 removed") {
		t.Errorf("summary of a build dropping a source lacks the change counts:\n%s", out)
	}
}

func TestBuildEmptyFeedRejected(t *testing.T) {
	e := newEnv(t)
	empty := filepath.Join(e.dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(e.dir, "notjson.txt")
	if err := os.WriteFile(notJSON, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{empty, notJSON} {
		out := filepath.Join(e.dir, "kit.tar.zst")
		r := e.run("ouk", "build", "-o", out, "--key", e.key,
			"--feed", "osv="+fixtureFeed(t, "osv"), "--feed", "ghsa="+path)
		if r.code != exitError {
			t.Errorf("feed %s: exit %d, want %d\n%s", path, r.code, exitError, r.stderr)
		}
		if !strings.Contains(r.stderr, "ghsa feed "+path) || !strings.Contains(r.stderr, "mounted") {
			t.Errorf("feed %s: error does not name the feed and what to check:\n%s", path, r.stderr)
		}
		assertNoFile(t, out)
	}
}

func TestBuildWithoutFeedWarns(t *testing.T) {
	e := newEnv(t)
	r := e.run("ouk", "build", "-o", filepath.Join(e.dir, "kit.tar.zst"), "--key", e.key)
	if r.code != 0 {
		t.Fatalf("build without feeds: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "no vulnerability records") {
		t.Errorf("build without feeds printed no warning:\n%s", r.stderr)
	}
}

func TestBuildRemovalFlagsNeedBase(t *testing.T) {
	e := newEnv(t)
	for _, flag := range [][]string{{"--drop-source", "ghsa"}, {"--allow-mass-removal"}} {
		r := e.run(append([]string{"ouk", "build", "-o", filepath.Join(e.dir, "kit.tar.zst"), "--key", e.key,
			"--feed", "osv=" + fixtureFeed(t, "osv")}, flag...)...)
		if r.code != exitUsage {
			t.Errorf("%v without --base: exit %d, want %d\n%s", flag, r.code, exitUsage, r.stderr)
		}
	}
}

func TestBuildSummaryShowsCounts(t *testing.T) {
	e := newEnv(t)
	feed := copyDemoFeed(t, filepath.Join(e.dir, "feed"))
	if err := os.WriteFile(filepath.Join(feed, "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(e.dir, "kit.tar.zst")
	out := e.must("ouk", "build", "-o", kit, "--key", e.key, "--feed", "osv="+feed)
	for _, want := range []string{"DB: 2 records in", "Source records: 3 read, 2 accepted, 1 skipped, 0 merged",
		"Skipped by reason: invalid-json 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("text summary lacks %q:\n%s", want, out)
		}
	}

	var res struct {
		Summary struct{ Read, Accepted, Skipped int } `json:"summary"`
	}
	raw := e.must("ouk", "build", "-o", kit, "--key", e.key, "--feed", "osv="+feed, "--format", "json")
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatal(err)
	}
	if res.Summary.Read != 3 || res.Summary.Accepted != 2 || res.Summary.Skipped != 1 {
		t.Errorf("JSON summary read %d accepted %d skipped %d, want 3, 2 and 1",
			res.Summary.Read, res.Summary.Accepted, res.Summary.Skipped)
	}
}
