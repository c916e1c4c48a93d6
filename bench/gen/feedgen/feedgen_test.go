package feedgen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func feeds(dir string) []vulndb.Feed {
	return []vulndb.Feed{
		{Kind: vulndb.FeedOSV, Path: filepath.Join(dir, "osv")},
		{Kind: vulndb.FeedGHSA, Path: filepath.Join(dir, "ghsa")},
		{Kind: vulndb.FeedNVD, Path: filepath.Join(dir, "nvd")},
	}
}

func TestWriteDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		g := New(Config{Seed: 7, Records: 500, AddPerNight: 10, ModifyPerNight: 50, WithdrawPerNight: 3})
		g.Advance()
		if _, err := g.Write(dir, FormatZip); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"ghsa/all.zip", "nvd/nvdcve-2.0-000000.json", "osv/PyPI/all.zip"} {
		x, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", rel)
		}
	}
}

func TestFeedsBuildAndMerge(t *testing.T) {
	ctx := context.Background()
	g := New(Config{Seed: 3, Records: 2000, AddPerNight: 20, ModifyPerNight: 100, WithdrawPerNight: 5})
	for _, format := range []Format{FormatZip, FormatFiles} {
		dir := t.TempDir()
		if _, err := g.Write(dir, format); err != nil {
			t.Fatal(err)
		}
		res, err := vulndb.Build(ctx, vulndb.BuildOptions{Feeds: feeds(dir), Created: g.Now()})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary
		if s.Skipped != 0 {
			t.Errorf("%s: %d records skipped: %v", format, s.Skipped, s.Errors)
		}
		// Every logical vulnerability becomes one record after merging.
		if s.Records < 1900 || s.Records > 2000 {
			t.Errorf("%s: %d records from %d vulnerabilities (read %d, merged %d)", format, s.Records, 2000, s.Read, s.Merged)
		}
		if s.Merged == 0 {
			t.Errorf("%s: no alias was merged", format)
		}
	}

	// One night changes a few records: the overlay holds about as many.
	ch := g.Advance()
	if len(ch.Added) != 20 || len(ch.Modified) != 100 || len(ch.Withdrawn) != 5 {
		t.Fatalf("night 1 changes: %d added, %d modified, %d withdrawn", len(ch.Added), len(ch.Modified), len(ch.Withdrawn))
	}
	if n := len(g.ChangedSources(ch)); n < 125 {
		t.Errorf("night 1 changed %d source records, expected at least 125", n)
	}
}

func TestPackagesHavePURLs(t *testing.T) {
	g := New(Config{Seed: 5, Records: 3000})
	pkgs := g.Packages(200, 1)
	if len(pkgs) != 200 {
		t.Fatalf("got %d packages, expected 200", len(pkgs))
	}
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, pkgs); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if p.PURL == "" || p.Version == "" {
			t.Errorf("package %+v lacks a purl or version", p)
		}
	}
}
