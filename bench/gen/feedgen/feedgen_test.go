package feedgen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	cvssscore "stella-ops.org/ouk/internal/cvss"
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

// TestNVDV40MetricsCarryComputedScores checks that the baseScore and
// baseSeverity of every CVSS v4.0 metric of the generated NVD records are
// those that package cvss computes from the vector, and that the vectors
// vary, so generated data can check v4.0 scores.
func TestNVDV40MetricsCarryComputedScores(t *testing.T) {
	g := New(Config{Seed: 3, Records: 2000})
	checked := 0
	v40Scores := map[float64]bool{}
	for _, v := range g.vulns {
		for _, src := range g.sources(v) {
			if src.Feed != "nvd" {
				continue
			}
			var rec struct {
				Metrics map[string][]struct {
					CVSSData struct {
						Version      string  `json:"version"`
						VectorString string  `json:"vectorString"`
						BaseScore    float64 `json:"baseScore"`
						BaseSeverity string  `json:"baseSeverity"`
					} `json:"cvssData"`
				} `json:"metrics"`
			}
			if err := json.Unmarshal(src.JSON, &rec); err != nil {
				t.Fatalf("%s: %v", src.ID, err)
			}
			for _, m := range rec.Metrics["cvssMetricV40"] {
				data := m.CVSSData
				want, err := cvssscore.BaseScore(data.VectorString)
				if err != nil {
					t.Fatalf("%s: %v", src.ID, err)
				}
				if data.BaseScore != want.Base {
					t.Errorf("%s: %s has baseScore %v, want %v", src.ID, data.VectorString, data.BaseScore, want.Base)
				}
				if data.BaseSeverity != want.Rating {
					t.Errorf("%s: %s has baseSeverity %s, want %s", src.ID, data.VectorString, data.BaseSeverity, want.Rating)
				}
				if data.Version != cvssscore.V40 {
					t.Errorf("%s: version %q, want 4.0", src.ID, data.Version)
				}
				checked++
				v40Scores[data.BaseScore] = true
			}
		}
	}
	if checked == 0 {
		t.Fatal("no CVSS v4.0 metric was generated")
	}
	if len(v40Scores) < 5 {
		t.Errorf("v4.0 metrics have %d distinct scores, want at least 5", len(v40Scores))
	}
	t.Logf("checked %d v4.0 metrics with %d distinct scores", checked, len(v40Scores))
}
