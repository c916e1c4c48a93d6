package feedgen

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Format is the file layout Write uses for the OSV and GHSA feeds. NVD is
// always written as API 2.0 pages of NVDPageSize CVEs.
type Format string

const (
	// FormatZip writes one all.zip per OSV ecosystem, as osv.dev
	// publishes them, and one all.zip for GHSA holding the advisory
	// database's tree. It is fast and small.
	FormatZip Format = "zip"
	// FormatFiles writes one JSON file per record: osv/ECOSYSTEM/ID.json
	// and the advisory database's tree under ghsa/.
	FormatFiles Format = "files"
)

// NVDPageSize is the number of CVEs per NVD page, the API's maximum.
const NVDPageSize = 2000

// Stats counts what Write wrote.
type Stats struct {
	OSV   int `json:"osv"`
	GHSA  int `json:"ghsa"`
	NVD   int `json:"nvd"`
	Files int `json:"files"`
}

// Source is one source record as a feed publishes it.
type Source struct {
	Feed string // "osv", "ghsa" or "nvd"
	ID   string
	JSON []byte
}

// Write writes the current snapshot under dir as three feed folders:
// dir/osv, dir/ghsa and dir/nvd, each one a feed path for the DB build.
func (g *Generator) Write(dir string, format Format) (Stats, error) {
	if format != FormatZip && format != FormatFiles {
		return Stats{}, fmt.Errorf("format %q is unknown; use zip or files", format)
	}
	var st Stats
	osv := map[string][]Source{} // ecosystem folder -> records
	var ghsa, nvd []Source
	for _, v := range g.vulns {
		for _, s := range g.sources(v) {
			switch s.Feed {
			case "osv":
				folder := baseEco(v.pkgs[0].eco)
				osv[folder] = append(osv[folder], s)
			case "ghsa":
				ghsa = append(ghsa, s)
			case "nvd":
				nvd = append(nvd, s)
			}
		}
	}
	for _, list := range [][]Source{ghsa, nvd} {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	mod := g.Now()
	ecos := make([]string, 0, len(osv))
	for e := range osv {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	for _, e := range ecos {
		list := osv[e]
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		st.OSV += len(list)
		names := make([]string, len(list))
		for i, s := range list {
			names[i] = s.ID + ".json"
		}
		if err := writeRecords(filepath.Join(dir, "osv", e), format, names, list, mod, &st); err != nil {
			return st, err
		}
	}
	st.GHSA = len(ghsa)
	names := make([]string, len(ghsa))
	for i, s := range ghsa {
		names[i] = ghsaPath(s)
	}
	if err := writeRecords(filepath.Join(dir, "ghsa"), format, names, ghsa, mod, &st); err != nil {
		return st, err
	}
	st.NVD = len(nvd)
	if err := writeNVD(filepath.Join(dir, "nvd"), nvd, mod, &st); err != nil {
		return st, err
	}
	return st, nil
}

// ghsaPath is the path of an advisory in the GitHub Advisory Database tree.
func ghsaPath(s Source) string {
	var r struct {
		Published string `json:"published"`
	}
	_ = json.Unmarshal(s.JSON, &r)
	yyyy, mm := "2000", "01"
	if len(r.Published) >= 7 {
		yyyy, mm = r.Published[:4], r.Published[5:7]
	}
	return fmt.Sprintf("advisories/github-reviewed/%s/%s/%s/%s.json", yyyy, mm, s.ID, s.ID)
}

func writeRecords(dir string, format Format, names []string, list []Source, mod time.Time, st *Stats) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if format == FormatFiles {
		for i, s := range list {
			p := filepath.Join(dir, filepath.FromSlash(names[i]))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, s.JSON, 0o644); err != nil {
				return err
			}
			st.Files++
		}
		return nil
	}
	f, err := os.Create(filepath.Join(dir, "all.zip"))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	for i, s := range list {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: names[i], Method: zip.Deflate, Modified: mod})
		if err != nil {
			f.Close()
			return err
		}
		if _, err := w.Write(s.JSON); err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	st.Files++
	return f.Close()
}

func writeNVD(dir string, list []Source, mod time.Time, st *Stats) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for start := 0; start < len(list); start += NVDPageSize {
		end := min(start+NVDPageSize, len(list))
		var b strings.Builder
		fmt.Fprintf(&b, `{"resultsPerPage":%d,"startIndex":%d,"totalResults":%d,"format":"NVD_CVE","version":"2.0","timestamp":%q,"vulnerabilities":[`,
			end-start, start, len(list), nvdTime(mod))
		for i, s := range list[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"cve":`)
			b.Write(s.JSON)
			b.WriteByte('}')
		}
		b.WriteString("]}\n")
		name := filepath.Join(dir, fmt.Sprintf("nvdcve-2.0-%06d.json", start))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			return err
		}
		st.Files++
	}
	return nil
}

// ChangedSources returns the source records of the vulnerabilities a
// night changed, in their current state, as the feeds publish them.
func (g *Generator) ChangedSources(ch Changes) []Source {
	var out []Source
	for _, i := range ch.changed {
		out = append(out, g.sources(g.vulns[i])...)
	}
	return out
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nvdTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000") }

// text returns deterministic prose of n words.
func text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

// sources renders the source records of one vulnerability.
func (g *Generator) sources(v *vuln) []Source {
	rng := rand.New(rand.NewPCG(v.textSeed, 7))
	summary := text(rng, 5+rng.IntN(6))
	details := text(rng, 30+rng.IntN(120))
	var out []Source
	if v.ghsa != "" {
		out = append(out, Source{Feed: "ghsa", ID: v.ghsa, JSON: osvJSON(v, v.ghsa, summary, details, true)})
	}
	if v.osvID != "" {
		out = append(out, Source{Feed: "osv", ID: v.osvID, JSON: osvJSON(v, v.osvID, summary, details, false)})
	}
	if v.cve != "" && (v.shape == shapeNVDOnly || v.shape == shapeGHSANVD || v.shape == shapeOSVNVD) {
		out = append(out, Source{Feed: "nvd", ID: v.cve, JSON: nvdJSON(v, details)})
	}
	return out
}
