package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func printReport(out io.Writer, c config, rep *report, nights []night, kitBytes int64) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("Machine: %s, %d cores, %s RAM, disk %s, %s %s/%s.", cpuModel(), runtime.NumCPU(), human(memTotal()),
		diskInfo(c.work), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	p("")
	bigs := make([]string, len(c.bigs))
	for i, f := range c.bigs {
		bigs[i] = strconv.Itoa(f)
	}
	if len(bigs) == 0 {
		bigs = []string{"0"}
	}
	p("Data: `go run ./bench/import -records %d -nights %d -image-mb %d -big %s -seed %d`: feeds from the "+
		"bench/gen generator, one image of %s of seeded random layers, kits as plain tar, deltas as tar.zst. "+
		"Times are the median of three runs; page caches were warm.", c.records, c.nights, c.imageMB, strings.Join(bigs, ","), c.seed,
		human(rep.imageBytes))
	p("")
	p("### Full import against the floor and peers")
	p("")
	p("| run | bytes | time | MiB/s | time / floor |")
	p("|---|---|---|---|---|")
	row := func(name string, bytes int64, m measurement) {
		if m.wall == 0 {
			p("| %s | %s | not run (tool missing) | | |", name, human(bytes))
			return
		}
		p("| %s | %s | %s | %.0f | %.2f |", name, human(bytes), round(m.wall),
			float64(bytes)/(1<<20)/m.wall.Seconds(), m.wall.Seconds()/rep.floor.wall.Seconds())
	}
	row("floor: read, SHA-256, write once, fsync", kitBytes, rep.floor)
	row("`stella ouk import` of the kit", kitBytes, rep.full)
	row("`oras cp --from-oci-layout` of the kit layout", kitBytes, rep.oras)
	row("the same `oras cp`, then `sync` (its copy on disk)", kitBytes, rep.orasSync)
	row("`skopeo copy` oci to oci of the kit's image", rep.imageBytes, rep.skopeo)
	if rep.tables.wall > 0 {
		p("| floor of the kit with pre-built index tables | %s | %s | %.0f | %.2f |", human(rep.tablesBytes),
			round(rep.tablesFloor.wall), float64(rep.tablesBytes)/(1<<20)/rep.tablesFloor.wall.Seconds(),
			rep.tablesFloor.wall.Seconds()/rep.floor.wall.Seconds())
		p("| `stella ouk import` of the kit with pre-built index tables | %s | %s | %.0f | %.2f of its own floor |",
			human(rep.tablesBytes), round(rep.tables.wall), float64(rep.tablesBytes)/(1<<20)/rep.tables.wall.Seconds(),
			rep.tables.wall.Seconds()/rep.tablesFloor.wall.Seconds())
	}
	if rep.oras.wall > 0 {
		p("")
		p("`stella ouk import` takes %.2f times the time of `oras cp` for the same kit, and %.2f times the time of "+
			"`oras cp` followed by `sync`.", rep.full.wall.Seconds()/rep.oras.wall.Seconds(),
			rep.full.wall.Seconds()/rep.orasSync.wall.Seconds())
	}
	if rep.tables.wall > 0 {
		p("")
		p("With pre-built index tables, the kit is %.2f times as large and its import takes %.2f times its own floor, "+
			"%.2f times the time of `oras cp` of the same layout (which copies the bundle's graph, without the tables) "+
			"and %.2f times that of `oras cp` followed by `sync`. Its import takes %.2f of the time of the kit without tables; "+
			"the two stores return the same lookup output: %v.",
			float64(rep.tablesBytes)/float64(kitBytes), rep.tables.wall.Seconds()/rep.tablesFloor.wall.Seconds(),
			rep.tables.wall.Seconds()/rep.oras.wall.Seconds(), rep.tables.wall.Seconds()/rep.orasSync.wall.Seconds(),
			rep.tables.wall.Seconds()/rep.full.wall.Seconds(), rep.tablesSameAnswers)
	}
	if len(nights) > 1 {
		p("")
		p("### Nightly deltas")
		p("")
		p("The floor of a night is the zstd size (default level) of the source records that night changed, as the feeds " +
			"publish them. A Trivy- or Grype-style update downloads the whole DB every night; that column is the size " +
			"of all DB layers of the night's full kit.")
		p("")
		p("| night | delta | floor | delta / floor | delta - floor | full DB | import time | import / full import |")
		p("|---|---|---|---|---|---|---|---|")
		var worstRatio float64
		maxOver := int64(math.MinInt64)
		for n := 1; n < len(nights); n++ {
			x := nights[n]
			ratio := float64(x.deltaSize) / float64(x.floorSize)
			worstRatio = max(worstRatio, ratio)
			maxOver = max(maxOver, x.deltaSize-x.floorSize)
			p("| %d | %s | %s | %.2f | %s | %s | %s | %.3f |", n, human(x.deltaSize), human(x.floorSize), ratio,
				human(x.deltaSize-x.floorSize), human(x.fullDB), round(x.imp.wall), x.imp.wall.Seconds()/rep.full.wall.Seconds())
		}
		p("")
		p("Worst delta / floor: %.2f; largest delta - floor: %s.", worstRatio, human(maxOver))
		same := "the same bundle digest"
		if rep.seriesDigest != rep.fullDigest {
			same = "a DIFFERENT bundle digest"
		}
		p("The series of one full kit and %d deltas ends on %s (%s) as importing night %d's full kit (%s).",
			len(nights)-1, same, rep.seriesDigest, len(nights)-1, rep.fullDigest)
		p("")
	}
	if len(rep.spans) > 0 {
		p("### Delta import time against delta size")
		p("")
		p("Each delta below goes from night 0 to a later night, so it carries that many nights of changes: one " +
			"overlay layer per night. Each was imported three times over a fresh store into which the night-0 kit " +
			"had just been imported; the time is the median. The last column divides the time above that of the " +
			"one-night delta by the bytes above its size.")
		p("")
		p("| nights | delta | import time | same bundle as the full kit | bytes written | added time per added MiB |")
		p("|---|---|---|---|---|---|")
		first := rep.spans[0]
		for _, sp := range rep.spans {
			perMiB := "-"
			if extra := sp.size - first.size; extra > 0 {
				perMiB = round(time.Duration(float64(sp.imp.wall-first.imp.wall) / (float64(extra) / (1 << 20))))
			}
			p("| %d | %s | %s | %v | %s | %s |", sp.nights, human(sp.size), round(sp.imp.wall), sp.sameDigest,
				human(sp.imp.written), perMiB)
		}
		p("")
	}
	if len(rep.during) > 0 {
		p("### Lookups during an import")
		p("")
		p("The full night-0 kit was imported over a store whose active kit was a small one, built from the " +
			"project's fixture records, and `stella db lookup` of night-0 records ran in a loop meanwhile, one " +
			"process after another, until the import ended. Without the store service each lookup waits for " +
			"the import to release the store. With `stella serve` holding the store, the import and the lookups " +
			"run in it side by side, and the lookups read the small kit until the import activates night 0. " +
			"A lookup's time includes starting its process.")
		p("")
		p("| store access | import time | lookups during the import | median lookup | p99 lookup | slowest lookup |")
		p("|---|---|---|---|---|---|")
		for _, d := range rep.during {
			name := "each command opens the store"
			if d.service {
				name = "`stella serve` holds the store"
			}
			p("| %s | %s | %d | %s | %s | %s |", name, round(d.imp), len(d.lookups), round(quantile(d.lookups, 0.5)),
				round(quantile(d.lookups, 0.99)), round(quantile(d.lookups, 1)))
		}
		p("")
	}
	p("### Peak memory and write amplification of import")
	p("")
	p("Peak RSS is the import process's maximum resident set, and bytes written are its file system block " +
		"outputs times 512 (the kernel's write_bytes), both read by GNU time, per byte of the kit file.")
	p("")
	p("| import | kit | peak RSS | bytes written | written / kit bytes |")
	p("|---|---|---|---|---|")
	p("| full kit | %s | %s | %s | %.2f |", human(kitBytes), human(rep.full.maxRSS), human(rep.full.written),
		float64(rep.full.written)/float64(kitBytes))
	memRow := func(name string, size int64, m measurement) {
		if size > 0 {
			p("| %s | %s | %s | %s | %.2f |", name, human(size), human(m.maxRSS), human(m.written), float64(m.written)/float64(size))
		}
	}
	for _, b := range rep.big {
		memRow(fmt.Sprintf("kit %d times larger", b.factor), b.plainSize, b.plain)
	}
	memRow("full kit with pre-built index tables", rep.tablesBytes, rep.tables)
	for _, b := range rep.big {
		memRow(fmt.Sprintf("kit with pre-built index tables, %d times larger", b.factor), b.tablesSize, b.tables)
	}
	var dw, db, drss int64
	for n := 1; n < len(nights); n++ {
		dw += nights[n].imp.written
		db += nights[n].deltaSize
		drss = max(drss, nights[n].imp.maxRSS)
	}
	if db > 0 {
		p("| all %d deltas | %s | %s (max) | %s | %.2f |", len(nights)-1, human(db), human(drss), human(dw), float64(dw)/float64(db))
	}
}

// diskInfo describes the block device under dir: rotational or not.
func diskInfo(dir string) string {
	out, err := exec.Command("findmnt", "-no", "SOURCE,FSTYPE", "--target", dir).Output()
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 {
		return "unknown"
	}
	dev := strings.TrimPrefix(fields[0], "/dev/")
	kind := "unknown type"
	if b, err := os.ReadFile("/sys/block/" + dev + "/queue/rotational"); err == nil {
		kind = map[string]string{"0": "non-rotational", "1": "rotational"}[strings.TrimSpace(string(b))]
	}
	return fmt.Sprintf("%s (%s, %s)", fields[0], fields[1], kind)
}

func human(n int64) string {
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", neg, float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", neg, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d B", neg, n)
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.String()
}
