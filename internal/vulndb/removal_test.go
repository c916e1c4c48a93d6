package vulndb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// writeRecords writes n OSV records named PREFIX-0000, PREFIX-0001, … to dir.
func writeRecords(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		writeFile(t, dir, id+".json", `{"id":"`+id+`","modified":"2024-01-01T00:00:00Z"}`)
	}
}

func TestBuildRejectsEmptyFeed(t *testing.T) {
	good := t.TempDir()
	writeRecords(t, good, "A", 1)
	empty := t.TempDir()
	malformed := t.TempDir()
	writeFile(t, malformed, "bad.json", `not json`)

	for name, dir := range map[string]string{"empty folder": empty, "only malformed": malformed} {
		_, err := Build(context.Background(), BuildOptions{Created: testCreated,
			Feeds: []Feed{{Kind: FeedOSV, Path: good}, {Kind: FeedGHSA, Path: dir}}})
		if !errors.Is(err, errdef.ErrEmptyFeed) {
			t.Errorf("%s: error = %v, want ErrEmptyFeed", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "ghsa feed "+dir) {
			t.Errorf("%s: error %q does not name the feed and path", name, err)
		}
	}
}

func TestBuildEmptyListNamesFile(t *testing.T) {
	cases := []struct {
		kind, content string
	}{
		{FeedOSV, `[]`},
		{FeedNVD, `{"resultsPerPage":0,"startIndex":0,"totalResults":0,"vulnerabilities":[]}`},
	}
	for _, c := range cases {
		path := writeFile(t, t.TempDir(), "page.json", c.content)
		for _, feedPath := range []string{path, filepath.Dir(path)} {
			_, err := Build(context.Background(), BuildOptions{Created: testCreated,
				Feeds: []Feed{{Kind: c.kind, Path: feedPath}}})
			if !errors.Is(err, errdef.ErrEmptyFeed) {
				t.Errorf("%s feed %s: error = %v, want ErrEmptyFeed", c.kind, feedPath, err)
				continue
			}
			want := "file " + path + " contains an empty list of records"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s feed %s: error %q does not contain %q", c.kind, feedPath, err, want)
			}
			if strings.Contains(err.Error(), "no JSON files") {
				t.Errorf("%s feed %s: error %q says there are no JSON files", c.kind, feedPath, err)
			}
		}
	}
}

func TestBuildRejectsMissingSource(t *testing.T) {
	osvDir, ghsaDir := t.TempDir(), t.TempDir()
	writeRecords(t, osvDir, "OSV", 3)
	writeRecords(t, ghsaDir, "GHSA", 2)
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: osvDir}, {Kind: FeedGHSA, Path: ghsaDir}}})
	if err != nil {
		t.Fatal(err)
	}
	next := BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, blobs),
		Feeds: []Feed{{Kind: FeedOSV, Path: osvDir}}}

	for _, rollup := range []bool{false, true} {
		opts := next
		opts.Rollup = rollup
		_, err = Build(context.Background(), opts)
		if !errors.Is(err, errdef.ErrSourceMissing) {
			t.Fatalf("rollup %v: error = %v, want ErrSourceMissing", rollup, err)
		}
		if !strings.Contains(err.Error(), "ghsa (2 records)") {
			t.Errorf("rollup %v: error %q does not name the source and its count", rollup, err)
		}
	}

	next.Removal.DropSources = []string{"ghsa"}
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build dropping ghsa: %v", err)
	}
	if res.Summary.Removed != 2 {
		t.Errorf("removed = %d, want the 2 ghsa records", res.Summary.Removed)
	}
}

func TestBuildRejectsMassRemoval(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, "A", MassRemovalMinRecords)
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	partial := t.TempDir()
	writeRecords(t, partial, "A", MassRemovalMinRecords/2-1)
	next := BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, blobs),
		Feeds: []Feed{{Kind: FeedOSV, Path: partial}}}

	_, err = Build(context.Background(), next)
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("error = %v, want ErrMassRemoval", err)
	}
	next.Removal.AllowMassRemoval = true
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build allowing mass removal: %v", err)
	}
	if want := MassRemovalMinRecords/2 + 1; res.Summary.Removed != want {
		t.Errorf("removed = %d, want %d", res.Summary.Removed, want)
	}
}

func TestRemovalPolicyValidate(t *testing.T) {
	feeds := []Feed{{Kind: FeedGHSA, Path: "x"}}
	p := RemovalPolicy{DropSources: []string{"ghsa"}}
	if err := p.validate(feeds, true); !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Errorf("dropping a read source: error = %v, want ErrInvalidArgument", err)
	}
	if err := p.validate(nil, false); !errors.Is(err, errdef.ErrInvalidArgument) {
		t.Errorf("policy without a base: error = %v, want ErrInvalidArgument", err)
	}
	if err := p.validate(nil, true); err != nil {
		t.Errorf("dropping an unread source: %v", err)
	}
}

// baseBesideSkippedRecord builds a base DB from records A-0000 to A-0002
// of an OSV feed folder, then adds a record B-0000 with a time the build
// cannot read, and returns the folder and the options of the next build.
func baseBesideSkippedRecord(t *testing.T) (string, BuildOptions) {
	t.Helper()
	dir := t.TempDir()
	writeRecords(t, dir, "A", 3)
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "B-0000.json", `{"id":"B-0000","modified":"2026-11-01 00:00"}`)
	return dir, BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, map[string][]byte{}),
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}}
}

// A build with a base does not remove records of a source whose feeds had
// input that the build skipped as malformed, since that input may hold
// them, unless mass removal is allowed. Skipped input alone, with nothing
// removed, does not stop it.
func TestBuildRejectsRemovalBesideSkippedInput(t *testing.T) {
	dir, next := baseBesideSkippedRecord(t)

	// A malformed record beside the three: nothing is removed.
	if _, err := Build(context.Background(), next); err != nil {
		t.Fatalf("build with a skipped new record and no removal: %v", err)
	}

	// The time of A-0001 turns malformed, and A-0002's file is cut off.
	writeFile(t, dir, "A-0001.json", `{"id":"A-0001","modified":"2026-11-01 00:00"}`)
	writeFile(t, dir, "A-0002.json", `{"id":"A-0002","modif`)
	_, err := Build(context.Background(), next)
	if !errors.Is(err, errdef.ErrMassRemoval) {
		t.Fatalf("error = %v, want ErrMassRemoval", err)
	}
	for _, want := range []string{"remove 2 records", "A-0001, A-0002", "3 in osv", "--allow-mass-removal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	next.Removal.AllowMassRemoval = true
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build allowing mass removal: %v", err)
	}
	if res.Summary.Removed != 2 {
		t.Errorf("removed = %d, want 2", res.Summary.Removed)
	}
}

// A record that its feed withdraws is read, not skipped, so its removal
// does not count as one beside skipped input of the same source.
func TestBuildRemovesWithdrawnBesideSkippedInput(t *testing.T) {
	dir, next := baseBesideSkippedRecord(t)
	writeFile(t, dir, "A-0001.json",
		`{"id":"A-0001","modified":"2024-02-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}`)
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build withdrawing a record beside a skipped one: %v", err)
	}
	if res.Summary.Withdrawn != 1 {
		t.Errorf("withdrawn = %d, want 1", res.Summary.Withdrawn)
	}
	if res.Summary.Removed != 1 {
		t.Errorf("removed = %d, want 1", res.Summary.Removed)
	}
}

// A record that gains a CVE alias takes the CVE's ID, and its old ID lives
// on as an alias, so the build removes nothing that skipped input may hold.
func TestBuildRenamesRecordBesideSkippedInput(t *testing.T) {
	dir, next := baseBesideSkippedRecord(t)
	writeFile(t, dir, "A-0001.json",
		`{"id":"A-0001","modified":"2024-02-01T00:00:00Z","aliases":["CVE-2024-0001"]}`)
	res, err := Build(context.Background(), next)
	if err != nil {
		t.Fatalf("build renaming a record beside a skipped one: %v", err)
	}
	if res.Summary.Records != 3 {
		t.Errorf("records = %d, want 3", res.Summary.Records)
	}
}

// A regional catalogue given in another case than the base's is named as
// the likely cause of a missing source.
func TestBuildMissingSourceNamesCaseMismatch(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, "RC", 2)
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedRegional, Name: "rc", Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), BuildOptions{Created: testCreated.Add(time.Hour), Base: previous(base, blobs),
		Feeds: []Feed{{Kind: FeedRegional, Name: "RC", Path: dir}}})
	if !errors.Is(err, errdef.ErrSourceMissing) {
		t.Fatalf("error = %v, want ErrSourceMissing", err)
	}
	if !strings.Contains(err.Error(), "reads regional:RC, which differs from regional:rc only in case") {
		t.Errorf("error %q does not name the case mismatch", err)
	}
}
