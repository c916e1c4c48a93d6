// Command import measures kit import against its floor and its peers, and
// nightly deltas against the changed records. It times a full import
// against reading, hashing and writing the same bytes once with fsync, and
// against `oras cp` and `skopeo copy`. It measures delta import time and
// size per night, peak memory of import for a kit and a kit ten times
// larger, and bytes written to disk per byte imported. It prints a Markdown
// section for docs/benchmarks.md.
//
// Usage:
//
//	go run ./bench/import [-stella bin/stella] [-records 300000] [-nights 30] [-image-mb 250] [-big 10,20] [-work DIR]
//
// The feeds come from the bench/gen generator with the same seed. Timings
// are wall-clock on this machine and vary from run to run; the report gives
// them as ratios beside the raw figures.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"stella-ops.org/ouk/bench/gen/feedgen"
)

type config struct {
	stella, tools, work string
	records, nights     int
	imageMB             int
	// bigs are the size factors of the large kits, in ascending order.
	bigs []int
	seed uint64
	keep bool
}

func main() {
	var c config
	flag.StringVar(&c.stella, "stella", "bin/stella", "stella binary to measure")
	flag.StringVar(&c.tools, "tools", ".tools/bin", "folder of peer tools (oras); PATH is searched too")
	flag.StringVar(&c.work, "work", "", "work folder (default a new temporary folder, removed at the end)")
	flag.IntVar(&c.records, "records", 300000, "vulnerability records of the generated feeds")
	flag.IntVar(&c.nights, "nights", 30, "nightly deltas after the full kit")
	flag.IntVar(&c.imageMB, "image-mb", 250, "MiB of image layers in the kit")
	big := flag.String("big", "10,20", "size factors of the large kits for the memory check, comma-separated; 0 skips it")
	flag.Uint64Var(&c.seed, "seed", 1, "generator seed")
	flag.BoolVar(&c.keep, "keep", false, "keep the work folder")
	flag.Parse()
	for _, f := range strings.Split(*big, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "bench/import: -big %q: want size factors such as 10,20\n", *big)
			os.Exit(2)
		}
		if n > 0 {
			c.bigs = append(c.bigs, n)
		}
	}
	slices.Sort(c.bigs)
	c.bigs = slices.Compact(c.bigs)
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench/import:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// measurement is one run of a child process.
type measurement struct {
	wall    time.Duration
	maxRSS  int64 // bytes
	written int64 // bytes the child caused to be written to storage
	stdout  []byte
}

func (c config) runStella(store string, args ...string) (measurement, error) {
	return runCmd(nil, c.stella, append([]string{"--store", store}, args...)...)
}

// timeBin is GNU time. Run under it, a child's peak RSS is its own: the
// kernel keeps the RSS high-water mark across fork and exec, so a child
// forked straight from this large process would report this process's RSS.
var timeBin = "/usr/bin/time"

func runCmd(env []string, name string, args ...string) (measurement, error) {
	statsFile, err := os.CreateTemp("", "stella-bench-time-")
	if err != nil {
		return measurement{}, err
	}
	statsFile.Close()
	defer os.Remove(statsFile.Name())
	useTime := fileSize(timeBin) > 0
	if useTime {
		args = append([]string{"-f", "%M %O", "-o", statsFile.Name(), name}, args...)
		name = timeBin
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	m := measurement{wall: time.Since(start), stdout: out.Bytes()}
	if err != nil {
		return m, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	if useTime {
		raw, _ := os.ReadFile(statsFile.Name())
		var rssKB, blocks int64
		if _, err := fmt.Sscanf(string(raw), "%d %d", &rssKB, &blocks); err == nil {
			m.maxRSS, m.written = rssKB<<10, blocks*512
		}
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.written = ru.Oublock * 512
	}
	return m, nil
}

func median(ms []measurement) measurement {
	slices.SortFunc(ms, func(a, b measurement) int { return int(a.wall - b.wall) })
	return ms[len(ms)/2]
}

// night is one night of the series.
type night struct {
	deltaSize, floorSize, fullDB int64
	digest                       string
	imp                          measurement
}

func run(c config) error {
	if c.work == "" {
		dir, err := os.MkdirTemp("", "stella-bench-import-")
		if err != nil {
			return err
		}
		c.work = dir
	}
	if !c.keep {
		defer os.RemoveAll(c.work)
	}
	var err error
	if c.stella, err = filepath.Abs(c.stella); err != nil {
		return err
	}
	w := func(name string) string { return filepath.Join(c.work, name) }
	if _, err := runCmd(nil, c.stella, "ouk", "keygen", "--output-dir", w("keys")); err != nil {
		return err
	}
	key, pub := w("keys/cosign.key"), w("keys/cosign.pub")

	layers := 5
	layerSize := int64(c.imageMB) << 20 / int64(layers)
	logf("writing %d MiB of image layers", c.imageMB)
	if err := writeImage(w("image"), "bench", c.seed, layers, layerSize); err != nil {
		return err
	}
	image := "registry.example/stella-ops/bench:bench=" + w("image")

	// The series: night 0 in full, then each night's full kit and delta.
	g := feedgen.New(feedgen.Config{Seed: c.seed, Records: c.records})
	feeds := w("feeds")
	build := func(n int, extra ...string) (measurement, error) {
		if err := os.RemoveAll(feeds); err != nil {
			return measurement{}, err
		}
		if _, err := g.Write(feeds, feedgen.FormatZip); err != nil {
			return measurement{}, err
		}
		args := append([]string{"ouk", "build", "--version", fmt.Sprintf("night-%03d", n), "--sequence", fmt.Sprint(n + 1),
			"--feed", "osv=" + filepath.Join(feeds, "osv"), "--feed", "ghsa=" + filepath.Join(feeds, "ghsa"),
			"--feed", "nvd=" + filepath.Join(feeds, "nvd"), "--image", image, "--key", key, "--format", "json"}, extra...)
		return runCmd([]string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", g.Now().Unix())}, c.stella, args...)
	}
	kit := func(n int) string { return w(fmt.Sprintf("kit-%03d.tar", n)) }
	logf("building the night-0 kit from %d records", c.records)
	if _, err := build(0, "-o", kit(0)); err != nil {
		return err
	}
	// Lookups that compare the stores of the two night-0 kits, taken
	// from the night-0 records before the generator moves on.
	var queries [][]string
	for _, p := range g.Packages(20, c.seed) {
		queries = append(queries, []string{"--purl", p.PURL})
	}
	for _, id := range g.IDs(20, c.seed) {
		queries = append(queries, []string{id})
	}
	tablesKit := w("kit-000-tables.tar")
	logf("building the night-0 kit again with pre-built index tables")
	if _, err := build(0, "-o", tablesKit, "--index-tables"); err != nil {
		return err
	}
	nights := make([]night, c.nights+1)
	spans := spanNights(c.nights)
	for n := 1; n <= c.nights; n++ {
		ch := g.Advance()
		var changed bytes.Buffer
		for _, s := range g.ChangedSources(ch) {
			changed.Write(s.JSON)
			changed.WriteByte('\n')
		}
		nights[n].floorSize = zstdSize(changed.Bytes())
		delta := w(fmt.Sprintf("delta-%03d.tar.zst", n))
		m, err := build(n, "--base", kit(n-1), "--delta", "-o", delta, "--full-output", kit(n))
		if err != nil {
			return err
		}
		var res struct {
			Digest string `json:"digest"`
			Delta  struct {
				Size int64 `json:"size"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(m.stdout, &res); err != nil {
			return fmt.Errorf("decoding build result: %w", err)
		}
		nights[n].deltaSize, nights[n].digest = res.Delta.Size, res.Digest
		if nights[n].fullDB, err = c.dbSize(kit(n)); err != nil {
			return err
		}
		if n > 1 && n < c.nights && !slices.Contains(spans, n-1) {
			os.Remove(kit(n - 1))
		}
		logf("night %d: delta %d bytes, changed-records floor %d bytes", n, nights[n].deltaSize, nights[n].floorSize)
	}
	os.RemoveAll(feeds)

	rep, err := c.measureFull(kit(0), tablesKit, pub, w, queries)
	if err != nil {
		return err
	}
	// Deltas, in order, over the store that holds night 0.
	store := w("store-full")
	for n := 1; n <= c.nights; n++ {
		if nights[n].imp, err = c.runStella(store, "ouk", "import", "--key", pub,
			w(fmt.Sprintf("delta-%03d.tar.zst", n))); err != nil {
			return err
		}
	}
	final, err := c.activeDigest(store)
	if err != nil {
		return err
	}
	fullStore := w("store-last")
	if _, err := c.runStella(fullStore, "ouk", "import", "--key", pub, kit(c.nights)); err != nil {
		return err
	}
	direct, err := c.activeDigest(fullStore)
	if err != nil {
		return err
	}
	os.RemoveAll(fullStore)
	rep.seriesDigest, rep.fullDigest = final, direct
	if rep.spans, err = c.measureSpans(spans, kit, key, pub, w, nights); err != nil {
		return err
	}

	// A small kit of the project's fixture records is the older kit
	// that the store holds when the full night-0 kit is imported.
	smallKit := w("kit-small.tar")
	if _, err := runCmd(nil, c.stella, "ouk", "build", "-o", smallKit, "--version", "small", "--sequence", "1",
		"--feed", "osv="+filepath.Join("testdata", "feeds", "osv"), "--key", key); err != nil {
		return err
	}
	for _, service := range []bool{false, true} {
		logf("lookups during an import of night 0 over a small kit, service %v", service)
		d, err := c.measureDuringImport(service, smallKit, kit(0), pub, w, queries)
		if err != nil {
			return err
		}
		rep.during = append(rep.during, d)
	}

	for _, f := range c.bigs {
		b, err := c.measureBig(g, w, f, image, key, pub, layers, layerSize)
		if err != nil {
			return err
		}
		rep.big = append(rep.big, b)
	}
	printReport(os.Stdout, c, rep, nights, fileSize(kit(0)))
	return nil
}

// spanNights returns the nights up to which the span deltas reach from
// night 0: the first night, the seventh and the last.
func spanNights(nights int) []int {
	var out []int
	for _, n := range []int{1, 7, nights} {
		if n >= 1 && n <= nights && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// span is a delta from night 0 to a later night, imported over a store
// that holds night 0.
type span struct {
	nights int
	size   int64
	imp    measurement
	// sameDigest is whether the import activated that night's bundle.
	sameDigest bool
}

// measureSpans writes a delta from night 0 to each night of spans and
// times its import, three times, each over a fresh store into which the
// night-0 kit was just imported, as the first nightly delta is.
func (c config) measureSpans(spans []int, kit func(int) string, key, pub string, w func(string) string,
	nights []night) ([]span, error) {
	var out []span
	for _, n := range spans {
		delta := w(fmt.Sprintf("span-000-%03d.tar.zst", n))
		if _, err := runCmd(nil, c.stella, "ouk", "delta", "--from", kit(0), "--to", kit(n), "-o", delta, "--key", key); err != nil {
			return nil, err
		}
		sp := span{nights: n, size: fileSize(delta), sameDigest: true}
		var runs []measurement
		for i := range 3 {
			logf("delta from night 0 to night %d (%d bytes), import %d", n, sp.size, i+1)
			store := w("store-span")
			os.RemoveAll(store)
			if _, err := c.runStella(store, "ouk", "import", "--key", pub, kit(0)); err != nil {
				return nil, err
			}
			m, err := c.runStella(store, "ouk", "import", "--key", pub, delta)
			if err != nil {
				return nil, err
			}
			runs = append(runs, m)
			got, err := c.activeDigest(store)
			if err != nil {
				return nil, err
			}
			sp.sameDigest = sp.sameDigest && got == nights[n].digest
		}
		os.RemoveAll(w("store-span"))
		os.Remove(delta)
		sp.imp = median(runs)
		out = append(out, sp)
	}
	return out, nil
}

type report struct {
	full, floor, oras, skopeo measurement
	// tables and tablesFloor are the import of the kit with pre-built
	// index tables and the floor of that kit file.
	tables, tablesFloor measurement
	tablesBytes         int64
	tablesSameAnswers   bool
	// orasSync is oras cp followed by sync(1), so that its copy is on
	// disk as the floor's and stella's are.
	orasSync                 measurement
	kitBytes, imageBytes     int64
	seriesDigest, fullDigest string
	spans                    []span
	big                      []bigRuns
	during                   []duringImport
}

// measureFull times three full imports into fresh stores, the floor, oras
// cp of the kit layout and skopeo copy of its image. The last import's
// store is kept as store-full for the deltas.
func (c config) measureFull(kitPath, tablesKit, pub string, w func(string) string, queries [][]string) (*report, error) {
	rep := &report{kitBytes: fileSize(kitPath), imageBytes: dirSize(w("image/blobs")), tablesBytes: fileSize(tablesKit)}
	var imports, floors, orasRuns, orasSyncRuns, skopeoRuns, tablesRuns, tablesFloors []measurement
	layoutDir := w("kit-layout")
	if err := os.MkdirAll(layoutDir, 0o755); err != nil {
		return nil, err
	}
	if _, err := runCmd(nil, "tar", "-xf", kitPath, "-C", layoutDir); err != nil {
		return nil, err
	}
	oras := toolPath(c.tools, "oras")
	skopeo := toolPath(c.tools, "skopeo")
	for i := range 3 {
		store := w("store-full")
		os.RemoveAll(store)
		logf("full import %d", i+1)
		m, err := c.runStella(store, "ouk", "import", "--key", pub, kitPath)
		if err != nil {
			return nil, err
		}
		imports = append(imports, m)
		f, err := floorCopy(kitPath, w("floor.out"))
		if err != nil {
			return nil, err
		}
		floors = append(floors, f)
		tablesStore := w("store-tables")
		os.RemoveAll(tablesStore)
		logf("full import %d of the kit with pre-built index tables", i+1)
		if m, err = c.runStella(tablesStore, "ouk", "import", "--key", pub, tablesKit); err != nil {
			return nil, err
		}
		tablesRuns = append(tablesRuns, m)
		if f, err = floorCopy(tablesKit, w("floor.out")); err != nil {
			return nil, err
		}
		tablesFloors = append(tablesFloors, f)
		if oras != "" {
			os.RemoveAll(w("oras-out"))
			m, err := runCmd(nil, oras, "cp", "--from-oci-layout", layoutDir+":night-000", "--to-oci-layout", w("oras-out")+":night-000")
			if err != nil {
				return nil, err
			}
			orasRuns = append(orasRuns, m)
			synced, err := runCmd(nil, "sync")
			if err != nil {
				return nil, err
			}
			m.wall += synced.wall
			orasSyncRuns = append(orasSyncRuns, m)
		}
		if skopeo != "" {
			os.RemoveAll(w("skopeo-out"))
			m, err := runCmd(nil, skopeo, "copy", "oci:"+w("image")+":bench", "oci:"+w("skopeo-out")+":bench")
			if err != nil {
				return nil, err
			}
			skopeoRuns = append(skopeoRuns, m)
		}
	}
	os.Remove(w("floor.out"))
	os.RemoveAll(w("oras-out"))
	os.RemoveAll(w("skopeo-out"))
	rep.full, rep.floor = median(imports), median(floors)
	rep.tables, rep.tablesFloor = median(tablesRuns), median(tablesFloors)
	same, err := c.sameLookups(w("store-full"), w("store-tables"), queries)
	if err != nil {
		return nil, err
	}
	rep.tablesSameAnswers = same
	os.RemoveAll(w("store-tables"))
	if len(orasRuns) > 0 {
		rep.oras, rep.orasSync = median(orasRuns), median(orasSyncRuns)
	}
	if len(skopeoRuns) > 0 {
		rep.skopeo = median(skopeoRuns)
	}
	return rep, nil
}

// measureBig builds a kit about factor times larger, with more image layers,
// imports it into a fresh store and removes both; then it does the same
// with the kit built with pre-built index tables.
func (c config) measureBig(g *feedgen.Generator, w func(string) string, factor int, image, key, pub string,
	layers int, layerSize int64) (bigRuns, error) {
	bigImage := w("image-big")
	kitBig := w("kit-big.tar")
	defer os.RemoveAll(bigImage)
	defer os.Remove(kitBig)
	defer os.RemoveAll(w("store-big"))
	n := layers * factor
	logf("writing %d MiB of image layers for the large kit", int64(n)*layerSize>>20)
	if err := writeImage(bigImage, "bench", c.seed+1, n, layerSize); err != nil {
		return bigRuns{}, err
	}
	feeds := w("feeds")
	if _, err := g.Write(feeds, feedgen.FormatZip); err != nil {
		return bigRuns{}, err
	}
	defer os.RemoveAll(feeds)
	out := bigRuns{factor: factor}
	for _, tables := range []bool{false, true} {
		args := []string{"ouk", "build", "-o", kitBig, "--version", "big", "--sequence", "1",
			"--feed", "osv=" + filepath.Join(feeds, "osv"), "--feed", "ghsa=" + filepath.Join(feeds, "ghsa"),
			"--feed", "nvd=" + filepath.Join(feeds, "nvd"), "--image", "registry.example/stella-ops/big:bench=" + bigImage,
			"--key", key}
		if tables {
			args = append(args, "--index-tables")
		}
		// Remove the previous pass's kit and store first, so that the disk
		// holds one large kit and one large store at a time.
		os.RemoveAll(w("store-big"))
		os.Remove(kitBig)
		if _, err := runCmd(nil, c.stella, args...); err != nil {
			return bigRuns{}, err
		}
		logf("importing the large kit (%d bytes, pre-built index tables: %v)", fileSize(kitBig), tables)
		m, err := c.runStella(w("store-big"), "ouk", "import", "--key", pub, kitBig)
		if err != nil {
			return bigRuns{}, err
		}
		if tables {
			out.tables, out.tablesSize = m, fileSize(kitBig)
		} else {
			out.plain, out.plainSize = m, fileSize(kitBig)
		}
	}
	return out, nil
}

// bigRuns are the imports of the large kits, without and with pre-built
// index tables.
type bigRuns struct {
	factor                int
	plain, tables         measurement
	plainSize, tablesSize int64
}

// floorCopy reads src, hashes it with SHA-256 and writes it once to dst
// with fsync: the least work any importer must do.
func floorCopy(src, dst string) (measurement, error) {
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return measurement{}, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return measurement{}, err
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(out, h), in, make([]byte, 1<<20)); err != nil {
		out.Close()
		return measurement{}, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return measurement{}, err
	}
	if err := out.Close(); err != nil {
		return measurement{}, err
	}
	return measurement{wall: time.Since(start)}, nil
}

func (c config) dbSize(kit string) (int64, error) {
	m, err := runCmd(nil, c.stella, "--store", filepath.Join(filepath.Dir(kit), "no-store"), "ouk", "inspect", "-o", "json", kit)
	if err != nil {
		return 0, err
	}
	var rep struct {
		DBLayers []struct {
			Size int64 `json:"size"`
		} `json:"dbLayers"`
	}
	if err := json.Unmarshal(m.stdout, &rep); err != nil {
		return 0, err
	}
	var n int64
	for _, l := range rep.DBLayers {
		n += l.Size
	}
	return n, nil
}

func (c config) activeDigest(store string) (string, error) {
	m, err := c.runStella(store, "ouk", "status", "-o", "json")
	if err != nil {
		return "", err
	}
	var st struct {
		Active *struct {
			Digest string `json:"digest"`
		} `json:"active"`
	}
	if err := json.Unmarshal(m.stdout, &st); err != nil || st.Active == nil {
		return "", fmt.Errorf("reading the active kit of %s: %v", store, err)
	}
	return st.Active.Digest, nil
}

func toolPath(dir, name string) string {
	if p := filepath.Join(dir, name); fileSize(p) > 0 {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	logf("%s not found; its column stays empty", name)
	return ""
}

func fileSize(p string) int64 {
	info, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return info.Size()
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func zstdSize(b []byte) int64 {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0
	}
	defer enc.Close()
	return int64(len(enc.EncodeAll(b, nil)))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		}
	}
	return kb << 10
}

// sameLookups reports whether two stores both have an active kit and
// return the same output for queries, lookups by ID and by purl.
func (c config) sameLookups(a, b string, queries [][]string) (bool, error) {
	da, err := c.activeDigest(a)
	if err != nil {
		return false, err
	}
	db, err := c.activeDigest(b)
	if err != nil || da == "" {
		return false, err
	}
	for _, q := range queries {
		var out [2][]byte
		for i, store := range []string{a, b} {
			// A lookup that finds nothing exits 1; its output compares as well.
			m, err := runCmd(nil, c.stella, append([]string{"--store", store, "db", "lookup", "-o", "json"}, q...)...)
			out[i] = append(m.stdout, fmt.Sprint(err != nil)...)
		}
		if !bytes.Equal(out[0], out[1]) {
			return false, nil
		}
	}
	return da != "" && db != "", nil
}
