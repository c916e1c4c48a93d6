// Command vulndb measures the vulnerability DB at scale: build and index
// time, lookup latency by ID and by purl, the scan of a 1,000-package SBOM,
// and the size of one night's overlay against the floor, the zstd size of
// the changed source records alone. It prints a Markdown section with the
// machine description, ready for docs/benchmarks.md.
//
// Usage:
//
//	go run ./bench/vulndb [-records 300000] [-seed 1] [-feeds DIR] [-work DIR]
//	                      [-reuse-build] [-skip-overlay]
//
// -feeds names the output of `go run ./bench/gen` with the same -seed and
// -records (night-000 and night-001 are read); without it the feeds are
// generated into the work folder first. -reuse-build keeps the built base
// layers in the work folder and reads them from there on the next run with
// the same -work, and -skip-overlay leaves out the night-1 overlay build;
// both shorten runs while tuning lookups. Timings are wall-clock on this
// machine and vary from run to run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/bench/gen/feedgen"
	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/vulndb:", err)
		os.Exit(1)
	}
}

func feedsOf(dir string) []vulndb.Feed {
	return []vulndb.Feed{
		{Kind: vulndb.FeedOSV, Path: filepath.Join(dir, "osv")},
		{Kind: vulndb.FeedGHSA, Path: filepath.Join(dir, "ghsa")},
		{Kind: vulndb.FeedNVD, Path: filepath.Join(dir, "nvd")},
	}
}

func run() error {
	records := flag.Int("records", 300000, "logical vulnerabilities to generate")
	seed := flag.Uint64("seed", 1, "generator seed")
	feeds := flag.String("feeds", "", "existing bench/gen output with the same seed and records")
	work := flag.String("work", "", "work folder (default a temporary folder, removed at the end)")
	reuseBuild := flag.Bool("reuse-build", false, "keep the base build in -work and reuse it on later runs")
	skipOverlay := flag.Bool("skip-overlay", false, "skip the night-1 overlay build and its size figures")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the lookups and scans to this file")
	flag.Parse()
	if *reuseBuild && *work == "" {
		return fmt.Errorf("-reuse-build needs -work DIR, a folder kept between runs")
	}
	ctx := context.Background()

	if *work == "" {
		d, err := os.MkdirTemp("", "bench-vulndb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*work = d
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	g := feedgen.New(feedgen.Config{Seed: *seed, Records: *records})
	base, night := filepath.Join(*feeds, "night-000"), filepath.Join(*feeds, "night-001")
	if *feeds == "" {
		base, night = filepath.Join(*work, "night-000"), filepath.Join(*work, "night-001")
		if _, err := g.Write(base, feedgen.FormatZip); err != nil {
			return err
		}
	}
	ids := g.IDs(10000, 2)
	pkgs := g.Packages(10000, 3)
	sbomPkgs := g.Packages(1000, 4)

	// Build the base DB.
	logf("building base DB from %s", base)
	start := time.Now()
	res, reused, err := buildBase(ctx, base, g.Now(), *work, *reuseBuild)
	if err != nil {
		return err
	}
	buildTime := time.Since(start)
	var dbBytes int64
	blobs := map[string][]byte{}
	var descs []ocispec.Descriptor
	for _, l := range res.Layers {
		dbBytes += l.Descriptor.Size
		blobs[l.Descriptor.Digest.String()] = l.Data
		descs = append(descs, l.Descriptor)
	}

	// Index it into a real store, as import does.
	storeDir := filepath.Join(*work, "store")
	if err := os.RemoveAll(storeDir); err != nil {
		return err
	}
	store, err := cas.Open(storeDir, cas.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	kv := store.KV("vulndb")
	logf("indexing %d layers", len(descs))
	start = time.Now()
	for _, d := range descs {
		if err := vulndb.IndexLayer(ctx, kv, d, bytes.NewReader(blobs[d.Digest.String()])); err != nil {
			return err
		}
	}
	indexTime := time.Since(start)
	diskUsage, _ := store.DiskUsage()
	db, err := vulndb.Open(kv, res.Config, descs)
	if err != nil {
		return err
	}

	// Lookups.
	logf("timing lookups")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	idLat, idHits, err := timeEach(ids, func(id string) (int, error) {
		recs, err := db.Lookup(id)
		return len(recs), err
	})
	if err != nil {
		return err
	}
	purls := make([]string, len(pkgs))
	for i, p := range pkgs {
		purls[i] = p.PURL
	}
	purlLat, purlHits, err := timeEach(purls, func(p string) (int, error) {
		recs, err := db.LookupPURL(p)
		return len(recs), err
	})
	if err != nil {
		return err
	}
	// The same purls on a DB without caches, so that every lookup reads
	// the package index and decodes all the records it returns.
	cold, err := vulndb.Open(kv, res.Config, descs)
	if err != nil {
		return err
	}
	cold.DisableCaches()
	coldLat, _, err := timeEach(purls, func(p string) (int, error) {
		recs, err := cold.LookupPURL(p)
		return len(recs), err
	})
	if err != nil {
		return err
	}

	// Scan a 1,000-package CycloneDX SBOM: parse it and look up each purl,
	// as `stella scan` does.
	var sb bytes.Buffer
	if err := feedgen.WriteCycloneDX(&sb, sbomPkgs); err != nil {
		return err
	}
	var scanLat []time.Duration
	findings := 0
	for range 20 {
		start := time.Now()
		_, list, err := sbom.Parse(bytes.NewReader(sb.Bytes()))
		if err != nil {
			return err
		}
		findings = 0
		for _, p := range list {
			for _, purl := range p.PURLs {
				recs, err := db.LookupPURL(purl)
				if err != nil {
					return err
				}
				findings += len(recs)
			}
		}
		scanLat = append(scanLat, time.Since(start))
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	// Report.
	w := os.Stdout
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, %s %s/%s.\n\n", cpuModel(), runtime.NumCPU(), memTotal(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "Data: `go run ./bench/gen -seed %d -records %d` wrote %d source records in OSV, GHSA and NVD feeds.\n",
		*seed, *records, res.Summary.Read)
	fmt.Fprintf(w, "The build merged them into %d DB records in %d base layers, %s of zstd layers.\n",
		res.Summary.Records, len(res.Layers), human(dbBytes))
	fmt.Fprintf(w, "The Pebble store holding the index takes %s on disk. %s.\n\n", human(diskUsage), ecoList(res.Summary.Ecosystems))
	fmt.Fprintln(w, "| measurement | result |")
	fmt.Fprintln(w, "|---|---|")
	if reused {
		fmt.Fprintln(w, "| build of the base DB | reused from an earlier run |")
	} else {
		fmt.Fprintf(w, "| build of the base DB (read, merge, encode, zstd) | %s |\n", round(buildTime))
	}
	fmt.Fprintf(w, "| index of all base layers into the store | %s |\n", round(indexTime))
	fmt.Fprintf(w, "| lookup by ID or alias, %d IDs (%d found) | p50 %s, p99 %s, max %s |\n",
		len(ids), idHits, pct(idLat, 50), pct(idLat, 99), pct(idLat, 100))
	fmt.Fprintf(w, "| lookup by purl, %d purls (%d findings) | p50 %s, p99 %s, max %s |\n",
		len(purls), purlHits, pct(purlLat, 50), pct(purlLat, 99), pct(purlLat, 100))
	fmt.Fprintf(w, "| the same purls with the lookup caches off | p50 %s, p99 %s, max %s |\n",
		pct(coldLat, 50), pct(coldLat, 99), pct(coldLat, 100))
	fmt.Fprintf(w, "| scan of a %d-package CycloneDX SBOM (parse and look up), 20 runs, %d findings | p50 %s, p99 %s |\n",
		len(sbomPkgs), findings, pct(scanLat, 50), pct(scanLat, 99))
	if *skipOverlay {
		return nil
	}
	return benchOverlay(ctx, w, g, res, descs, blobs, *feeds, night)
}

// benchOverlay builds the night-1 overlay on the base and reports its time
// and size against the floor.
func benchOverlay(ctx context.Context, w io.Writer, g *feedgen.Generator, res *vulndb.BuildResult,
	descs []ocispec.Descriptor, blobs map[string][]byte, feeds, night string) error {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	// One night later: an overlay build on the base.
	ch := g.Advance()
	if feeds == "" {
		if _, err := g.Write(night, feedgen.FormatZip); err != nil {
			return err
		}
	}
	logf("building the night-1 overlay from %s", night)
	prev := &vulndb.PreviousDB{Config: res.Config, Layers: descs,
		Fetch: func(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blobs[d.Digest.String()])), nil
		}}
	start := time.Now()
	over, err := vulndb.Build(ctx, vulndb.BuildOptions{Feeds: feedsOf(night), Base: prev, Created: g.Now()})
	if err != nil {
		return err
	}
	overlayTime := time.Since(start)
	top := over.Layers[len(over.Layers)-1]
	var changed bytes.Buffer
	srcs := g.ChangedSources(ch)
	for _, s := range srcs {
		changed.Write(s.JSON)
		changed.WriteByte('\n')
	}
	floorBest := zstdSize(changed.Bytes(), zstd.SpeedBestCompression)
	floorDefault := zstdSize(changed.Bytes(), zstd.SpeedDefault)

	fmt.Fprintf(w, "| overlay build for night 1 (%d added, %d modified, %d withdrawn) | %s |\n",
		len(ch.Added), len(ch.Modified), len(ch.Withdrawn), round(overlayTime))
	fmt.Fprintf(w, "| night-1 overlay layer: %d records and tombstones | %s |\n", over.Summary.Changed+over.Summary.Removed, human(top.Descriptor.Size))
	fmt.Fprintf(w, "| floor: the %d changed source records (%s of JSON), zstd best / default | %s / %s |\n",
		len(srcs), human(int64(changed.Len())), human(int64(floorBest)), human(int64(floorDefault)))
	fmt.Fprintf(w, "| overlay size / floor (zstd best) | %.2f |\n", float64(top.Descriptor.Size)/float64(floorBest))
	return nil
}

// timeEach runs fn on every input and returns the sorted latencies and the
// sum of fn's counts.
func timeEach(in []string, fn func(string) (int, error)) ([]time.Duration, int, error) {
	lat := make([]time.Duration, 0, len(in))
	hits := 0
	for _, s := range in {
		start := time.Now()
		n, err := fn(s)
		lat = append(lat, time.Since(start))
		if err != nil {
			return nil, 0, fmt.Errorf("lookup %s: %w", s, err)
		}
		hits += n
	}
	return lat, hits, nil
}

// pct returns the p-th percentile of durations (100: the maximum).
func pct(d []time.Duration, p int) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(len(s)-1, len(s)*p/100)
	return round(s[i])
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func zstdSize(b []byte, level zstd.EncoderLevel) int {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0
	}
	defer enc.Close()
	return len(enc.EncodeAll(b, nil))
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func ecoList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "DB records per ecosystem: " + strings.Join(parts, ", ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		}
	}
	return human(kb << 10)
}

// savedBuild is the file that -reuse-build writes into the work folder:
// the base DB's config, layer descriptors and layer bytes.
type savedBuild struct {
	Config  []byte               `json:"config"`
	Summary vulndb.Summary       `json:"summary"`
	Layers  []ocispec.Descriptor `json:"layers"`
}

// buildBase builds the base DB from the feeds in dir, or with reuse reads
// the build that an earlier run saved in work. It reports whether the
// build was reused.
func buildBase(ctx context.Context, dir string, created time.Time, work string, reuse bool) (*vulndb.BuildResult, bool, error) {
	saved := filepath.Join(work, "build", "build.json")
	if reuse {
		if b, err := os.ReadFile(saved); err == nil {
			var sb savedBuild
			if err := json.Unmarshal(b, &sb); err != nil {
				return nil, false, fmt.Errorf("reading saved build %s: %w; remove it to build again", saved, err)
			}
			res := &vulndb.BuildResult{Config: sb.Config, Summary: sb.Summary}
			for _, d := range sb.Layers {
				data, err := os.ReadFile(filepath.Join(work, "build", d.Digest.Encoded()))
				if err != nil {
					return nil, false, fmt.Errorf("reading saved layer: %w; remove %s to build again", err, saved)
				}
				res.Layers = append(res.Layers, vulndb.Layer{Descriptor: d, Data: data})
			}
			return res, true, nil
		}
	}
	res, err := vulndb.Build(ctx, vulndb.BuildOptions{Feeds: feedsOf(dir), Created: created})
	if err != nil || !reuse {
		return res, false, err
	}
	if err := os.MkdirAll(filepath.Dir(saved), 0o755); err != nil {
		return nil, false, err
	}
	sb := savedBuild{Config: res.Config, Summary: res.Summary}
	for _, l := range res.Layers {
		sb.Layers = append(sb.Layers, l.Descriptor)
		if err := os.WriteFile(filepath.Join(work, "build", l.Descriptor.Digest.Encoded()), l.Data, 0o644); err != nil {
			return nil, false, err
		}
	}
	b, err := json.Marshal(sb)
	if err != nil {
		return nil, false, err
	}
	return res, false, os.WriteFile(saved, b, 0o644)
}
