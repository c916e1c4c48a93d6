package vulndb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// genRecords makes n merged records shaped like the real ones: mostly
// GHSA-style package advisories across ecosystems with one or two ranges,
// some distribution records, and NVD-only records with CPE configurations.
func genRecords(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, seed))
	ecos := []string{"npm", "npm", "npm", "PyPI", "PyPI", "Maven", "Maven", "Go", "crates.io",
		"RubyGems", "NuGet", "Packagist", "Debian:12", "Alpine:v3.19", ""}
	words := []string{"buffer", "overflow", "injection", "prototype", "pollution", "denial", "of",
		"service", "remote", "code", "execution", "in", "parser", "template", "path", "traversal",
		"allows", "attackers", "to", "via", "crafted", "input", "request", "header"}
	text := func(k int) string {
		var b bytes.Buffer
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		return b.String()
	}
	ver := func() string { return fmt.Sprintf("%d.%d.%d", rng.IntN(6), rng.IntN(30), rng.IntN(20)) }
	out := make([]Record, n)
	for i := range out {
		year := 2017 + rng.IntN(9)
		id := fmt.Sprintf("CVE-%d-%05d", year, 1000+i)
		day := fmt.Sprintf("%d-%02d-%02dT%02d:%02d:00Z", year, 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
		r := Record{ID: id, Published: day, Modified: day,
			Aliases: []string{fmt.Sprintf("GHSA-%04x-%04x-%04x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))},
			Summary: text(6), Details: text(40 + rng.IntN(80)),
			Severity: []Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			References: []Reference{{Type: "ADVISORY", URL: "https://nvd.nist.gov/vuln/detail/" + id},
				{Type: "WEB", URL: fmt.Sprintf("https://github.com/example/project%d/issues/%d", rng.IntN(5000), rng.IntN(9000))}}}
		eco := ecos[rng.IntN(len(ecos))]
		ex := Extra{Sources: []Provenance{{Feed: FeedGHSA, ID: r.Aliases[0], Modified: day}, {Feed: FeedNVD, ID: id, Modified: day}},
			CWEs: []string{fmt.Sprintf("CWE-%d", 20+rng.IntN(900))}}
		if eco == "" {
			ex.Configurations = json.RawMessage(fmt.Sprintf(`[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:vendor%d:product%d:*:*:*:*:*:*:*:*","versionEndExcluding":"%s"}]}]}]`, rng.IntN(3000), rng.IntN(9000), ver()))
		} else {
			for p := 0; p < 1+rng.IntN(2); p++ {
				a := Affected{Package: Package{Ecosystem: eco, Name: fmt.Sprintf("pkg-%s-%d", text(1), rng.IntN(20000))}}
				for k := 0; k < 1+rng.IntN(2); k++ {
					a.Ranges = append(a.Ranges, Range{Type: "ECOSYSTEM", Events: []Event{{Introduced: ver()}, {Fixed: ver()}}})
				}
				r.Affected = append(r.Affected, a)
			}
		}
		exb, _ := marshalJSON(ex)
		r.DatabaseSpecific = map[string]json.RawMessage{dbKey: exb}
		out[i] = r
	}
	return out
}

// BenchmarkLayerCompression compresses one layer of generated records with
// each candidate codec and reports the raw and compressed sizes.
func BenchmarkLayerCompression(b *testing.B) {
	raw, err := encodeRecords(genRecords(DefaultMaxRecordsPerLayer, 1))
	if err != nil {
		b.Fatal(err)
	}
	codecs := []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"zstd-fastest", zstdFn(zstd.SpeedFastest)},
		{"zstd-default", zstdFn(zstd.SpeedDefault)},
		{"zstd-better", zstdFn(zstd.SpeedBetterCompression)},
		{"zstd-best", zstdFn(zstd.SpeedBestCompression)},
		{"gzip-default", gzipFn(gzip.DefaultCompression)},
		{"gzip-best", gzipFn(gzip.BestCompression)},
	}
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			var out []byte
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out = c.fn(raw)
			}
			b.ReportMetric(float64(len(raw)), "raw-bytes")
			b.ReportMetric(float64(len(out)), "packed-bytes")
			b.ReportMetric(float64(len(raw))/float64(len(out)), "ratio")
		})
	}
}

func zstdFn(level zstd.EncoderLevel) func([]byte) []byte {
	return func(raw []byte) []byte {
		out, _ := compress(raw, level)
		return out
	}
}

func gzipFn(level int) func([]byte) []byte {
	return func(raw []byte) []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, level)
		w.Write(raw)
		w.Close()
		return buf.Bytes()
	}
}

// BenchmarkLayerDecode reads one generated layer back, as IndexLayer does.
func BenchmarkLayerDecode(b *testing.B) {
	l, err := newLayer(genRecords(DefaultMaxRecordsPerLayer, 1), LayerBase, "npm", "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(l.Descriptor.Size)
	for b.Loop() {
		n := 0
		readLayer(bytes.NewReader(l.Data), func([]byte) error { n++; return nil })
	}
}

// BenchmarkDecodeRecords decodes generated record lines, as a lookup of
// an index written by earlier versions does for every record it returns.
func BenchmarkDecodeRecords(b *testing.B) {
	recs := genRecords(2000, 1)
	var lines [][]byte
	for i := range recs {
		line, err := marshalJSON(&recs[i])
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, line)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, line := range lines {
			if _, err := decodeLine(line); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeStoredRecords decodes the same records in the binary
// form that the index stores, as a lookup does for every record it returns.
func BenchmarkDecodeStoredRecords(b *testing.B) {
	recs := genRecords(2000, 1)
	var values [][]byte
	for i := range recs {
		values = append(values, encodeStoredRecord(nil, &recs[i]))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range values {
			if _, err := decodeRecordValue(v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// nvdConfigRecords makes n NVD-only records whose configurations look like
// NVD's: one to three configurations of up to six ranged criteria, a third
// of them combined by AND with a node of up to four operating systems.
func nvdConfigRecords(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]Record, n)
	for i := range out {
		id := fmt.Sprintf("CVE-2024-%06d", i)
		var configs []string
		for range 1 + rng.IntN(3) {
			var matches []string
			for k := range 1 + rng.IntN(6) {
				matches = append(matches, fmt.Sprintf(`{"vulnerable":true,"criteria":"cpe:2.3:a:vendor%d:product%d:*:*:*:*:*:*:*:*",`+
					`"versionStartIncluding":"1.%d","versionEndExcluding":"2.%d"}`, rng.IntN(3000), rng.IntN(9000), k, k))
			}
			product := nvdNodeJSON("OR", false, matches...)
			if rng.IntN(3) != 0 {
				configs = append(configs, nvdConfigJSON("", product))
				continue
			}
			var platforms []string
			for k := range 1 + rng.IntN(4) {
				platforms = append(platforms, fmt.Sprintf(`{"vulnerable":false,"criteria":"cpe:2.3:o:vendor%d:os%d:-:*:*:*:*:*:*:*"}`, k, k))
			}
			configs = append(configs, nvdConfigJSON("AND", product, nvdNodeJSON("OR", false, platforms...)))
		}
		ex := Extra{Sources: []Provenance{{Feed: FeedNVD, ID: id, Modified: "2024-01-01T00:00:00Z"}},
			Configurations: json.RawMessage("[" + strings.Join(configs, ",") + "]")}
		exb, _ := marshalJSON(ex)
		out[i] = Record{ID: id, Modified: "2024-01-01T00:00:00Z", Summary: "A flaw in a product.",
			DatabaseSpecific: map[string]json.RawMessage{dbKey: exb}}
	}
	return out
}

// BenchmarkLayerIndex indexes one layer of generated records, as an import
// does for each layer of a kit, without a store.
func BenchmarkLayerIndex(b *testing.B) {
	sets := []struct {
		name string
		recs []Record
	}{
		{"generated", genRecords(20000, 1)},
		{"nvd-configurations", nvdConfigRecords(20000, 1)},
	}
	for _, s := range sets {
		slices.SortFunc(s.recs, func(x, y Record) int { return strings.Compare(x.ID, y.ID) })
		l, err := newLayer(s.recs, LayerBase, "", "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				lr := &layerReader{ctx: context.Background(), layer: l.Descriptor, r: bytes.NewReader(l.Data)}
				err := lr.read(func(string, []byte) error { return nil }, func(indexEntry) error { return nil }, true)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchConfigsWide matches a query against one AND configuration
// of many vulnerable versions and a platform node of as many hardware
// models, as NVD writes network operating systems, and builds the reason.
func BenchmarkMatchConfigsWide(b *testing.B) {
	for _, size := range []int{100, 500} {
		configs := wideConfig(size)
		for _, query := range []string{"cpe:2.3:o:acme:router_os:16.1.1", "cpe:2.3:o:acme:router_os"} {
			q := mustParseQuery(b, query)
			b.Run(fmt.Sprintf("%dx%d/%s", size, size, query), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					confirmed, alternatives := (&platformCheck{query: q}).matchConfigs(configs)
					if confirmed || len(alternatives) == 0 {
						b.Fatalf("matchConfigs = %v, %d alternatives, want possibly affected", confirmed, len(alternatives))
					}
					_ = possibleReason(q, alternatives)
				}
			})
		}
	}
}
