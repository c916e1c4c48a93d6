package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A kit with two images on one tag, one of them untagged, is imported by
// the watch with a warning that the history keeps, and mirror lists the
// warning in the warnings of its JSON report.
func TestWatchImageRefCollisionWarning(t *testing.T) {
	e := newEnv(t)
	imageA, _ := registryDemoImage(t, e.dir)
	imageB := demoImage(t, t.TempDir())
	kit := filepath.Join(e.dir, "kit.tar")
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	e.must("ouk", "build", "-o", kit, "--version", "1.0.0", "--sequence", "1", "--feed", "osv="+filepath.Join(feeds, "osv"),
		"--image", "registry.example.test/a/scanner:0.1.0="+imageA, "--image", "registry.example.test/b/scanner:0.1.0="+imageB)
	drop := filepath.Join(e.dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(drop, "kit")
	untarKit(t, kit, dir)
	refs := []string{"scanner", "scanner:latest"}
	setLayoutImageRefs(t, dir, func(i int) string { return refs[i] })
	signLayoutBundle(t, dir, e.key)

	r := e.run("ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d, want 0\n%s", r.code, r.stderr)
	}
	const collision = "both name library/scanner:latest"
	if !strings.Contains(r.stderr, `msg="kit imported with a warning"`) {
		t.Errorf("watch did not log the image warning as an import warning:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, collision) {
		t.Errorf("watch log lacks %q:\n%s", collision, r.stderr)
	}

	var hist []struct {
		Note string `json:"note"`
	}
	if err := json.Unmarshal([]byte(e.must("ouk", "history", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || !strings.Contains(hist[0].Note, collision) {
		t.Errorf("history = %+v, want a note with the image warning", hist)
	}

	r = e.run("ouk", "mirror", "--dry-run", "-o", "json", "--key", e.pub, "--to", "127.0.0.1:9/site")
	if r.code != 0 {
		t.Fatalf("mirror --dry-run: exit %d, want 0\n%s", r.code, r.stderr)
	}
	requireJSONWarning(t, "mirror json", r.stdout, collision)
}
