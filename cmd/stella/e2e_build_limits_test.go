package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeOSVZip writes an osv.dev-style all.zip with the given records.
func writeOSVZip(t *testing.T, path string, records map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range records {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func crateRecord(id string) string {
	return `{"id":"` + id + `","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"crates.io",` +
		`"name":"` + strings.ToLower(id) + `"},"versions":["1.0.0"]}]}`
}

func TestBuildBaseMissingZipRejected(t *testing.T) {
	e := newEnv(t)
	writeOSVZip(t, filepath.Join(e.dir, "all.zip"), map[string]string{
		"RUSTSEC-2099-0001.json": crateRecord("RUSTSEC-2099-0001"),
		"RUSTSEC-2099-0002.json": crateRecord("RUSTSEC-2099-0002"),
	})
	common := "key: " + e.key + "\nfeeds:\n  - osv=" + fixtureFeed(t, "osv") +
		"\n  - regional:demo-cert=" + filepath.Join(repoRoot(t), "testdata", "feeds", "regional") + "\n"
	b1 := filepath.Join(e.dir, "b1.yaml")
	if err := os.WriteFile(b1, []byte("output: base.tar.zst\n"+common+"  - osv=all.zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := filepath.Join(e.dir, "b2nozip.yaml")
	if err := os.WriteFile(b2, []byte("output: next.tar.zst\nbase: base.tar.zst\n"+common), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("ouk", "build", "-f", b1, "--sequence", "79")

	r := e.run("ouk", "build", "-f", b2, "--sequence", "80")
	if r.code != exitError {
		t.Fatalf("build without the base's zip: exit %d, want %d\n%s%s", r.code, exitError, r.stdout, r.stderr)
	}
	for _, want := range []string{"osv=all.zip", "2 source records of ecosystem crates.io",
		"remove 2 of the base DB's records of osv", "--allow-mass-removal"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not mention %q:\n%s", want, r.stderr)
		}
	}
	assertNoFile(t, filepath.Join(e.dir, "next.tar.zst"))

	out := e.must("ouk", "build", "-f", b2, "--sequence", "80", "--allow-mass-removal")
	if !strings.Contains(out, "Changes from the base kit: 0 changed, 2 removed") {
		t.Errorf("summary of a build allowing the removal lacks the change counts:\n%s", out)
	}
}

func TestBuildStopsAtOversizedRecord(t *testing.T) {
	e := newEnv(t)
	feed := copyDemoFeed(t, filepath.Join(e.dir, "feed"))
	big := filepath.Join(feed, "BIG-1.json")
	body := `{"id":"BIG-1","modified":"2024-01-01T00:00:00Z","details":"` + strings.Repeat("x", 33<<20) + `"}`
	if err := os.WriteFile(big, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	kit := filepath.Join(e.dir, "kit.tar.zst")
	r := e.run("ouk", "build", "-o", kit, "--key", e.key, "--index-tables", "--feed", "osv="+feed)
	expectFailure(t, r, exitError, big, "BIG-1", "34603069 bytes", "33554431 bytes", "too large for any import to read")
	if _, err := os.Stat(kit); err == nil {
		t.Errorf("the stopped build wrote %s", kit)
	}
}
