// Command gen writes generated vulnerability feeds for benchmarks: a base
// snapshot and a series of nightly snapshots, deterministic from a seed.
// The generator itself is package stella-ops.org/ouk/bench/gen/feedgen.
//
// Usage:
//
//	go run ./bench/gen -o DIR [flags]
//
// Flags:
//
//	-o DIR          output folder (required)
//	-seed N         random seed (default 1)
//	-records N      logical vulnerabilities, about the merged DB size (default 300000)
//	-nights N       nightly snapshots after the base (default 30)
//	-add N          records added per night (default 300)
//	-modify N       records modified per night (default 3000)
//	-withdraw N     records withdrawn per night (default 20)
//	-format F       zip: one all.zip per OSV ecosystem and one for GHSA (default);
//	                files: one JSON file per record
//	-write LIST     snapshots to write: "all" (default), "base", "last", or
//	                comma-separated night numbers such as "0,1,30" (0 is the base)
//	-sbom N         also write DIR/sbom.cdx.json, a CycloneDX SBOM of N packages
//	                drawn from the last snapshot (default 0: none)
//
// Output, for each written night K (three digits):
//
//	DIR/night-K/osv/ECOSYSTEM/all.zip   feed kind osv
//	DIR/night-K/ghsa/all.zip            feed kind ghsa (advisory database tree inside)
//	DIR/night-K/nvd/nvdcve-2.0-*.json   feed kind nvd (API 2.0 pages of 2,000)
//	DIR/changes.json                    per night: IDs added, modified, withdrawn
//
// Build a kit from a snapshot with
//
//	stella ouk build -o kit.tar.zst --feed osv=DIR/night-000/osv \
//	  --feed ghsa=DIR/night-000/ghsa --feed nvd=DIR/night-000/nvd
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"stella-ops.org/ouk/bench/gen/feedgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fs.String("o", "", "output folder (required)")
	seed := fs.Uint64("seed", 1, "random seed")
	records := fs.Int("records", 300000, "logical vulnerabilities, about the merged DB size")
	nights := fs.Int("nights", 30, "nightly snapshots after the base")
	add := fs.Int("add", 300, "records added per night")
	modify := fs.Int("modify", 3000, "records modified per night")
	withdraw := fs.Int("withdraw", 20, "records withdrawn per night")
	format := fs.String("format", "zip", "feed layout: zip or files")
	write := fs.String("write", "all", `snapshots to write: all, base, last or a list such as "0,1,30"`)
	sbomN := fs.Int("sbom", 0, "write DIR/sbom.cdx.json with this many packages from the last snapshot")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("no output folder; pass -o DIR")
	}
	selected, err := parseWrite(*write, *nights)
	if err != nil {
		return err
	}
	g := feedgen.New(feedgen.Config{Seed: *seed, Records: *records, AddPerNight: *add,
		ModifyPerNight: *modify, WithdrawPerNight: *withdraw})
	var changes []feedgen.Changes
	for night := 0; night <= *nights; night++ {
		if night > 0 {
			changes = append(changes, g.Advance())
		}
		if !selected[night] {
			continue
		}
		dir := filepath.Join(*out, fmt.Sprintf("night-%03d", night))
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		st, err := g.Write(dir, feedgen.Format(*format))
		if err != nil {
			return fmt.Errorf("writing %s: %w", dir, err)
		}
		fmt.Printf("%s: %d OSV, %d GHSA, %d NVD records in %d files\n", dir, st.OSV, st.GHSA, st.NVD, st.Files)
	}
	b, err := json.MarshalIndent(changes, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "changes.json"), b, 0o644); err != nil {
		return err
	}
	if *sbomN > 0 {
		f, err := os.Create(filepath.Join(*out, "sbom.cdx.json"))
		if err != nil {
			return err
		}
		if err := feedgen.WriteCycloneDX(f, g.Packages(*sbomN, *seed)); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// parseWrite turns the -write value into the set of nights to write.
func parseWrite(s string, nights int) (map[int]bool, error) {
	out := map[int]bool{}
	switch s {
	case "all":
		for i := 0; i <= nights; i++ {
			out[i] = true
		}
	case "base":
		out[0] = true
	case "last":
		out[nights] = true
	default:
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 || n > nights {
				return nil, fmt.Errorf("-write %q: %q is not a night between 0 and %d", s, f, nights)
			}
			out[n] = true
		}
	}
	return out, nil
}
