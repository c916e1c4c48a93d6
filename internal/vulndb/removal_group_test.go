package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// writeEcosystemRecords writes n OSV records PREFIX-0000, … that affect one
// package of ecosystem to dir.
func writeEcosystemRecords(t *testing.T, dir, prefix, ecosystem string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		writeFile(t, dir, id+".json", ecosystemRecord(id, ecosystem))
	}
}

func ecosystemRecord(id, ecosystem string) string {
	return `{"id":"` + id + `","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"` +
		ecosystem + `","name":"pkg-` + strings.ToLower(id) + `"},"versions":["1.0.0"]}]}`
}

// writeZip writes an all.zip of n records of ecosystem under dir/sub.
func writeZip(t *testing.T, dir, sub, prefix, ecosystem string, n int) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sub, "all.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		w, err := zw.Create(id + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(ecosystemRecord(id, ecosystem))); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildRejectsMissingFeedInput(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "osv")
	writeEcosystemRecords(t, folder, "NPM", "npm", 5)
	zipPath := writeZip(t, root, "PyPI", "PY", "PyPI", 2)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: folder}, {Kind: FeedOSV, Path: zipPath}}})
	if err != nil {
		t.Fatal(err)
	}
	next := BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, map[string][]byte{}),
		Feeds: []Feed{{Kind: FeedOSV, Path: folder}}}

	_, err = Build(context.Background(), next)
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build without the zip: error = %v, want ErrMassRemoval", err)
	}
	for _, want := range []string{"osv=all.zip", "2 source records of ecosystem PyPI",
		"remove 2 of the base DB's records of osv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	next.Removal.AllowMassRemoval = true
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build allowing the removal: %v", err)
	}
	if res.Summary.Removed != 2 {
		t.Errorf("removed = %d, want the 2 records of the zip", res.Summary.Removed)
	}
}

// A record of several ecosystems counts once in the input's record count
// and once in each ecosystem's count.
func TestBuildMissingInputCountsRecordsOnce(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "osv")
	writeEcosystemRecords(t, folder, "NPM", "npm", 5)
	extra := filepath.Join(root, "extra")
	writeFile(t, extra, "MULTI-1.json", `{"id":"MULTI-1","modified":"2024-01-01T00:00:00Z","affected":[`+
		`{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]},`+
		`{"package":{"ecosystem":"PyPI","name":"b"},"versions":["1.0.0"]},`+
		`{"package":{"ecosystem":"Go","name":"example.com/c"},"versions":["v1.0.0"]}]}`)
	writeFile(t, extra, "PY-1.json", ecosystemRecord("PY-1", "PyPI"))
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: folder}, {Kind: FeedOSV, Path: extra}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour),
		Base: previous(base, map[string][]byte{}), Feeds: []Feed{{Kind: FeedOSV, Path: folder}}})
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build without the extra folder: error = %v, want ErrMassRemoval", err)
	}
	const want = "osv=extra (it gave 2 source records to the base: 1 of ecosystem Go, 2 of PyPI and 1 of npm;"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestBuildFeedInputMoved(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "osv")
	writeEcosystemRecords(t, folder, "NPM", "npm", 5)
	zipPath := writeZip(t, root, "2026-12-04", "PY", "PyPI", 2)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: folder}, {Kind: FeedOSV, Path: zipPath}}})
	if err != nil {
		t.Fatal(err)
	}
	// The next night's zip lies in another folder and lacks one record,
	// which is ordinary churn.
	moved := writeZip(t, root, "2026-12-05", "PY", "PyPI", 1)
	res, err := Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour),
		Base: previous(base, map[string][]byte{}), Feeds: []Feed{{Kind: FeedOSV, Path: folder}, {Kind: FeedOSV, Path: moved}}})
	if err != nil {
		t.Fatalf("build with the zip in a new folder: %v", err)
	}
	if res.Summary.Removed != 1 {
		t.Errorf("removed = %d, want 1", res.Summary.Removed)
	}
}

func TestBuildRejectsMissingZipOfSameName(t *testing.T) {
	root := t.TempDir()
	npmZip := writeZip(t, root, "npm", "NPM", "npm", 3)
	pypiZip := writeZip(t, root, "PyPI", "PY", "PyPI", 2)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: npmZip}, {Kind: FeedOSV, Path: pypiZip}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour),
		Base: previous(base, map[string][]byte{}), Feeds: []Feed{{Kind: FeedOSV, Path: npmZip}}})
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build without the PyPI zip: error = %v, want ErrMassRemoval", err)
	}
	if !strings.Contains(err.Error(), "osv=all.zip (it gave 2 source records of ecosystem PyPI") {
		t.Errorf("error %q does not name the input and its ecosystem", err)
	}
}

func TestBuildRejectsEcosystemMassRemoval(t *testing.T) {
	dir := t.TempDir()
	writeEcosystemRecords(t, dir, "NPM", "npm", 150)
	writeEcosystemRecords(t, dir, "PY", "PyPI", MassRemovalMinGroupRecords+10)
	writeEcosystemRecords(t, dir, "HEX", "Hex", MassRemovalMinGroupRecords-1)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	next := BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, map[string][]byte{}),
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}}

	// Every Hex record goes: the ecosystem is below the floor.
	for i := range MassRemovalMinGroupRecords - 1 {
		removeFile(t, dir, fmt.Sprintf("HEX-%04d.json", i))
	}
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build removing a small ecosystem: %v", err)
	}
	if res.Summary.Removed != MassRemovalMinGroupRecords-1 {
		t.Errorf("removed = %d, want %d", res.Summary.Removed, MassRemovalMinGroupRecords-1)
	}

	// 16 of the 30 PyPI records go: over half of the ecosystem, but far
	// below half of the DB.
	for i := range 16 {
		removeFile(t, dir, fmt.Sprintf("PY-%04d.json", i))
	}
	_, err = Build(context.Background(), next)
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build removing most PyPI records: error = %v, want ErrMassRemoval", err)
	}
	if !strings.Contains(err.Error(), "ecosystem PyPI (16 of 30)") {
		t.Errorf("error %q does not name the ecosystem and the counts", err)
	}
	if strings.Contains(err.Error(), "source osv") || strings.Contains(err.Error(), "Hex") {
		t.Errorf("error %q names a group that loses less than half of its records", err)
	}

	next.Removal.AllowMassRemoval = true
	if _, err := Build(context.Background(), next); err != nil {
		t.Fatalf("build allowing the removal: %v", err)
	}
}

func TestBuildRejectsSourceMassRemoval(t *testing.T) {
	osvDir, certDir := t.TempDir(), t.TempDir()
	writeEcosystemRecords(t, osvDir, "NPM", "npm", 150)
	writeEcosystemRecords(t, certDir, "CERT", "npm", 30)
	feeds := []Feed{{Kind: FeedOSV, Path: osvDir}, {Kind: FeedRegional, Name: "cert", Path: certDir}}
	base, err := Build(context.Background(), BuildOptions{Created: testCreated, Feeds: feeds})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		removeFile(t, certDir, fmt.Sprintf("CERT-%04d.json", i))
	}
	_, err = Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour),
		Base: previous(base, map[string][]byte{}), Feeds: feeds})
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build removing most of a catalogue: error = %v, want ErrMassRemoval", err)
	}
	if !strings.Contains(err.Error(), "source regional:cert (16 of 30)") {
		t.Errorf("error %q does not name the source and the counts", err)
	}
	if strings.Contains(err.Error(), "ecosystem npm") {
		t.Errorf("error %q names the npm ecosystem, which loses 16 of 180 records", err)
	}
}

func removeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// A feed folder renamed by date counts as another input, and the error
// names both inputs.
func TestBuildRenamedFeedFolderNamesBoth(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "osv-2026-12-06")
	writeEcosystemRecords(t, folder, "NPM", "npm", 5)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: folder}}})
	if err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(root, "osv-2026-12-07")
	writeEcosystemRecords(t, renamed, "NPM", "npm", 4)
	_, err = Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour),
		Base: previous(base, map[string][]byte{}), Feeds: []Feed{{Kind: FeedOSV, Path: renamed}}})
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("build from the renamed folder: error = %v, want ErrMassRemoval", err)
	}
	for _, want := range []string{"osv=osv-2026-12-06", "This build reads osv=osv-2026-12-07 instead",
		"last part of their path"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
