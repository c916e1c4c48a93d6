package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/layout"
)

// kitSpec is the build file that `stella ouk build -f` reads, described in
// docs/build-file.md. Its fields match the flags of the same name, and
// relative paths are taken from the file's folder.
type kitSpec struct {
	Output  string `json:"output"`
	Version string `json:"version"`
	// Sequence is the sequence number as written, which parseSequence
	// reads. It is text so that YAML cannot read a leading 0 as an octal
	// prefix. It is nil when neither the file nor --sequence gives one.
	Sequence *string  `json:"sequence,omitempty"`
	Feeds    []string `json:"feeds"`
	Images   []string `json:"images"`
	SBOM     string   `json:"sbom"`
	Key      string   `json:"key"`
	Expires  string   `json:"expires"`
	Base     string   `json:"base"`
	Rollup   bool     `json:"rollup"`
	// DropSources and AllowMassRemoval match --drop-source and
	// --allow-mass-removal.
	DropSources      []string `json:"dropSources"`
	AllowMassRemoval bool     `json:"allowMassRemoval"`
	// DropBaseImages matches --drop-base-images.
	DropBaseImages bool `json:"dropBaseImages"`
	// IndexTables matches --index-tables.
	IndexTables bool `json:"indexTables"`
}

// buildFileDocs names where the build file's keys are described.
const buildFileDocs = "docs/build-file.md"

type buildOptions struct {
	spec       kitSpec
	sequence   string
	file       string
	format     string
	delta      bool
	fullOutput string
}

func newBuildCommand(g *globalOptions) *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build -o KIT [flags]",
		Short: "Build a signed kit from vulnerability feeds, images and an SBOM",
		Long: `Build a kit: an OCI image layout written as a tar stream, compressed by the
output name (.tar, .tar.gz or .tgz, .tar.zst or .tzst). The kit is written
under a temporary name and replaces a file at the output path only once it
is complete, so a nightly job may build to the same name. The creation time
comes from SOURCE_DATE_EPOCH when set, so two builds of the same inputs are
identical apart from the signature. A SOURCE_DATE_EPOCH ahead of the clock
gets a warning, because such a kit expires late. So does one so far back
that creation time plus --expires is already past, because import rejects
that kit unless --allow-expired is given. The version tags the kit in its OCI
layout, so it must be a valid OCI reference name: letters, digits and the
separators - . _ : @ + between them, with / between parts. The sequence is
a positive whole number in decimal digits, where leading zeros are ignored
(031 is 31); import rejects a kit whose sequence is lower than the active
kit's, so give each build a higher one. A build with --base rejects a
sequence that is not above the base kit's.

-f reads the same settings from a YAML build file; docs/build-file.md
lists its keys. Flags given with -f override the file's values, and
repeatable flags add to its lists.

Feeds are KIND=PATH with KIND osv, ghsa, nvd or regional:NAME and PATH a
folder of JSON files (searched recursively), one JSON file or an OSV all.zip.
A feed that yields no valid record stops the build. A kit built without any
--feed carries an empty DB, and the build warns about it. Images are REF=PATH
with PATH an OCI layout folder or an oci-archive tar; every platform is kept.
PATH is everything after the first =, so it may contain = itself.
A REF with @DIGEST must name the digest of the image's manifest or index.

With --base and no --image, the new kit carries the base kit's images
unchanged, so a delta from the base omits their layers; --drop-base-images
leaves them out. With --image, the kit carries only the images given.

--index-tables adds the lookup index of every DB layer, pre-built, so an
import ingests it instead of indexing each record: several times faster for
a large DB, for a kit larger by about twice its DB layers. A delta
leaves the tables out, and its import indexes its one new layer itself.

With --base, records the new feeds lack become removals (tombstones) in the
new kit. To keep a missing mount or a forgotten --feed from wiping a site's
DB, the build stops before writing anything when a source (osv, ghsa, nvd or
regional:NAME) that contributed records to the base kit is not given with
--feed; name it with --drop-source to remove its records on purpose. Unless
--allow-mass-removal is given, it also stops when it would remove more than
half of the records of a base DB of 100 records or more, or of an ecosystem
or source with 20 records or more in the base, when it lacks a feed input
of the base kit, such as one all.zip, and would remove records of that input's
source and ecosystems, and when it would remove records of a source whose
feeds had records or files it skipped as malformed, which may hold them.

With --delta (and --base), -o names the delta from the base kit to the new
kit, and the full new kit is written to --full-output, by default the -o
name with ".delta" removed (delta-31.delta.tar.zst gives delta-31.tar.zst)
or else with "-full" before the .tar suffix. A derived name that would be
hidden (-o .delta.tar) or still contain ".delta." stops the build: give
--full-output then. Both come from one build, so
the delta's bundle digest is the full kit's. The build renames the two
files into place only once both are written, so a build that fails or is
interrupted leaves neither. A build killed between the two renames leaves
the new kit and no delta: build again, or run stella ouk delta.

The build shows its progress on stderr: the bytes read of each feed and
written to the kit and the delta, as a bar on a terminal, else as a "build
in progress" line at info level every 15 seconds. -q turns it off.`,
		Example: `  stella ouk build -o kit.tar.zst --version 2026.12.04 \
    --feed osv=feeds/osv --feed ghsa=feeds/advisory-database \
    --feed nvd=feeds/nvd --image registry.example/stella-ops/scanner:0.1.0=images/scanner \
    --key cosign.key --expires 720h
  stella ouk build -f kit.yaml
  stella ouk build --base kit-30.tar.zst --delta -o kit-31.delta.tar.zst \
    --feed osv=feeds/osv --key cosign.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "YAML build file with the same settings as the flags (see docs/build-file.md); flags override it")
	f.StringVarP(&o.spec.Output, "output", "o", "", "kit file to write (.tar, .tar.gz, .tgz, .tar.zst or .tzst); missing folders above it are created")
	f.StringVar(&o.spec.Version, "version", "",
		"kit version, an OCI reference name such as 2026.12.04 (default the creation time, 2006.01.02-150405)")
	f.StringVar(&o.sequence, "sequence", "",
		"kit sequence `number`, a positive whole number in decimal digits, leading zeros ignored "+
			"(default the creation time in Unix seconds, which SOURCE_DATE_EPOCH=0 rejects)")
	f.StringArrayVar(&o.spec.Feeds, "feed", nil, "vulnerability feed KIND=PATH (repeatable)")
	f.StringArrayVar(&o.spec.Images, "image", nil, "image REF=PATH (repeatable)")
	f.StringVar(&o.spec.SBOM, "sbom", "", "SPDX 2.3 JSON SBOM to carry (default: generated from the kit)")
	f.Var(newOnceString(&o.spec.Key), "key", "private key to sign with, ECDSA or RSA (cosign.key, or PKCS#8 or SEC 1 EC PEM)")
	f.StringVar(&o.spec.Expires, "expires", "", "time until the kit expires, such as 720h or 30d, or never (the default)")
	f.StringVar(&o.spec.Base, "base", "", "previous kit whose DB layers are reused; adds one overlay layer")
	f.BoolVar(&o.spec.Rollup, "rollup", false, "with --base, write fresh base layers instead of an overlay")
	f.StringArrayVar(&o.spec.DropSources, "drop-source", nil,
		"with --base, a source of the base kit (osv, ghsa, nvd or regional:NAME) whose records to remove (repeatable)")
	f.BoolVar(&o.spec.AllowMassRemoval, "allow-mass-removal", false,
		"with --base, allow removing more than half of the base kit's records, or of one ecosystem or source, "+
			"and the records of a feed input of the base kit that is left out")
	f.BoolVar(&o.spec.DropBaseImages, "drop-base-images", false,
		"with --base and no --image, leave out the base kit's images instead of carrying them over")
	f.BoolVar(&o.spec.IndexTables, "index-tables", false,
		"add the pre-built lookup index, so import does not index the DB records itself (a larger kit)")
	f.BoolVar(&o.delta, "delta", false, "with --base, write the delta to -o and the full kit to --full-output")
	f.StringVar(&o.fullOutput, "full-output", "", "with --delta, the full kit file (default derived from -o)")
	f.StringVar(&o.format, "format", "text", "result format: text or json")
	return cmd
}

func (o *buildOptions) run(cmd *cobra.Command, g *globalOptions) error {
	spec, err := o.merged(cmd)
	if err != nil {
		return err
	}
	o.format = strings.ToLower(o.format)
	if o.format != "text" && o.format != "json" {
		return usagef("--format is %q; use text or json", o.format)
	}
	opts, err := spec.options()
	if err != nil {
		return err
	}
	// On a terminal, the log lines share stderr with the progress bar.
	stderr := cmd.ErrOrStderr()
	lines := g.progressLines(stderr)
	if lines != nil {
		stderr = lines
	}
	opts.Logger = g.logger(stderr)
	if err := o.applyDelta(&opts); err != nil {
		return err
	}
	if err := checkOutputs(buildOutputs(opts, o.fullOutput != ""), buildInputs(spec, opts, o.file)); err != nil {
		return err
	}
	if spec.Key != "" {
		signer, err := loadSigner(g, spec.Key)
		if err != nil {
			return err
		}
		opts.Signer = signer
	}
	if opts.Created, err = creationTime(); err != nil {
		return err
	}
	if opts.Sequence == 0 && opts.Created.Unix() == 0 {
		return usagef("SOURCE_DATE_EPOCH is 0, so the default sequence, the creation time in Unix seconds, " +
			"would be 0, and a kit needs a sequence of 1 or more; pass --sequence N or set sequence in the build file")
	}
	if ahead := time.Until(opts.Created); ahead > 0 && !g.quiet {
		// Only SOURCE_DATE_EPOCH can set a creation time after the clock.
		fmt.Fprintf(stderr, "warning: SOURCE_DATE_EPOCH sets the creation time to %s, %s ahead of "+
			"this host's clock. The kit then expires that much later than --expires says, and import, inspect and "+
			"verify warn about a kit created more than %s ahead of their clock. Set SOURCE_DATE_EPOCH to a past "+
			"time, such as that of the last commit, or unset it\n",
			opts.Created.Format(time.RFC3339), importer.RoughDuration(ahead), importer.RoughDuration(importer.CreationTolerance))
	}
	// NOTE: with the creation time at most layout.MaxModTime (in 2242) and
	// --expires at most maxExpiryDays (about 292 years), the expiry falls
	// before 2535, so this check cannot fail today. It guards a later
	// change of either limit.
	if opts.Expires > 0 && opts.Created.Add(opts.Expires).Year() > 9999 {
		return usagef("--expires %s from the creation time %s ends after the year 9999; give a shorter duration or an earlier SOURCE_DATE_EPOCH",
			spec.Expires, opts.Created.Format(time.RFC3339))
	}
	if opts.Expires > 0 && time.Now().After(opts.Created.Add(opts.Expires)) && !g.quiet {
		warnExpiredAtBuild(stderr, opts.Created, opts.Expires, spec.Expires)
	}
	opts.Removal = vulndb.RemovalPolicy{DropSources: spec.DropSources, AllowMassRemoval: spec.AllowMassRemoval}
	if len(opts.Feeds) == 0 && !g.quiet {
		fmt.Fprintln(stderr, "warning: no --feed given, so the kit contains no vulnerability records; "+
			"pass --feed KIND=PATH to add them")
	}
	var progress *buildProgress
	if !g.quiet {
		progress = &buildProgress{g: g, stderr: stderr, lines: lines, output: displayPath(opts.Output),
			deltaOutput: displayPath(opts.DeltaOutput)}
		opts.Progress = progress.report
	}
	res, err := build.Build(cmd.Context(), opts)
	progress.stop()
	if err != nil {
		return withBuildHint(err)
	}
	if o.format == "json" {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Built kit %s (sequence %d) at %s, %s\n", res.Version, res.Sequence, res.Output, humanBytes(res.Size))
	fmt.Fprintf(w, "Bundle digest: %s\n", res.Digest)
	printBuildSummary(w, res, spec.Base != "" && !spec.Rollup)
	for _, img := range res.Images {
		if slices.Contains(res.BaseImages, img) {
			fmt.Fprintf(w, "Image: %s (carried over from the base kit)\n", img)
			continue
		}
		fmt.Fprintf(w, "Image: %s\n", img)
	}
	if t := res.IndexTables; t != nil {
		fmt.Fprintf(w, "Index tables: %d pre-built, %s\n", t.Tables, humanBytes(t.Bytes))
	}
	if !res.Signed {
		fmt.Fprintln(w, "Signed: no (pass --key to sign)")
	}
	if res.Expired {
		fmt.Fprintf(w, "Expired: yes, at %s (import rejects the kit unless --allow-expired is given)\n",
			res.Expires.Format(time.RFC3339))
	}
	if d := res.Delta; d != nil {
		fmt.Fprintf(w, "Delta from %s at %s, %s: %d %s carried, %d omitted\n",
			d.BaseVersion, d.Output, humanBytes(d.Size), d.BlobsIncluded, plural(d.BlobsIncluded, "blob", "blobs"),
			d.BlobsOmitted)
	}
	return nil
}

// warnExpiredAtBuild writes the warning for a kit whose expiry time,
// created plus the --expires duration, is already past. Only
// SOURCE_DATE_EPOCH can set such a creation time. The build goes on, so a
// reproducible pipeline that rebuilds an old commit still gets the same
// kit.
func warnExpiredAtBuild(w io.Writer, created time.Time, lifetime time.Duration, expiresFlag string) {
	expiry := created.Add(lifetime).UTC()
	fmt.Fprintf(w, "warning: the kit expires at %s, %s ago: SOURCE_DATE_EPOCH sets the creation time to %s and "+
		"--expires adds %s. Import rejects an expired kit unless --allow-expired is given. For a kit that sites "+
		"can import, set SOURCE_DATE_EPOCH to a later time, unset it, or give a longer --expires\n",
		expiry.Format(time.RFC3339), importer.RoughDuration(time.Since(expiry)), created.UTC().Format(time.RFC3339), expiresFlag)
}

// printBuildSummary prints the DB counts of a build: the records read,
// accepted, skipped (by reason), merged and withdrawn, and for an overlay
// build the records changed and removed.
func printBuildSummary(w io.Writer, res *build.Result, overlay bool) {
	s := res.Summary
	fmt.Fprintf(w, "DB: %d %s in %d %s (%d new)\n", s.Records, plural(s.Records, "record", "records"),
		res.Layers, plural(res.Layers, "layer", "layers"), s.NewLayers)
	fmt.Fprintf(w, "Source records: %d read, %d accepted, %d skipped, %d merged, %d withdrawn\n",
		s.Read, s.Accepted, s.Skipped, s.Merged, s.Withdrawn)
	if len(s.SkipReasons) > 0 {
		reasons := make([]string, 0, len(s.SkipReasons))
		for r := range s.SkipReasons {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for i, r := range reasons {
			reasons[i] = fmt.Sprintf("%s %d", r, s.SkipReasons[r])
		}
		fmt.Fprintf(w, "Skipped by reason: %s\n", strings.Join(reasons, ", "))
	}
	if len(s.WarningReasons) > 0 {
		reasons := make([]string, 0, len(s.WarningReasons))
		for r := range s.WarningReasons {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for i, r := range reasons {
			reasons[i] = fmt.Sprintf("%s %d", r, s.WarningReasons[r])
			if effect := warningEffects[r]; effect != "" {
				reasons[i] += " (" + effect + ")"
			}
		}
		fmt.Fprintf(w, "Kept with warnings: %s; -v names each record and its problem\n", strings.Join(reasons, ", "))
	}
	if overlay {
		fmt.Fprintf(w, "Changes from the base kit: %d changed, %d removed\n", s.Changed, s.Removed)
	}
}

// warningEffects are the effects of each build warning reason on lookups
// and scans, as the build summary prints them.
var warningEffects = map[string]string{
	"unparsed-range-version": "lookups report these records as possibly affected",
	"purl-mismatch":          "lookups use the ecosystem and name, not the purl",
	"unresolved-package":     "no purl lookup or scan matches those packages",
}

// withBuildHint adds the command-line fix to the errors of the DB's
// removal checks.
func withBuildHint(err error) error {
	switch {
	case errors.Is(err, errdef.ErrSourceMissing):
		return fmt.Errorf("%w; pass each source with --feed, or name it with --drop-source to remove its records on purpose", err)
	case errors.Is(err, errdef.ErrMassRemoval):
		return fmt.Errorf("%w; pass --allow-mass-removal if the removal is intended", err)
	}
	return err
}

// applyDelta moves -o to the delta output and picks the full kit's name
// when --delta is set.
func (o *buildOptions) applyDelta(opts *build.Options) error {
	if !o.delta {
		if o.fullOutput != "" {
			return usagef("--full-output needs --delta")
		}
		return nil
	}
	if opts.Base == "" {
		return usagef("--delta needs --base PREVIOUS_KIT, the kit the delta applies to")
	}
	opts.DeltaOutput = opts.Output
	opts.Output = o.fullOutput
	if opts.Output == "" {
		opts.Output = delta.FullKitName(opts.DeltaOutput)
		// A name that is only a suffix, such as ".tar" from -o .delta.tar,
		// makes a hidden file, which the watch skips. A name that still
		// contains ".delta." reads as a delta.
		if name := filepath.Base(opts.Output); strings.HasPrefix(name, ".") || strings.Contains(name, ".delta.") {
			return usagef("the full kit's file, named from -o %s, would be %s; give it a name with --full-output FILE",
				opts.DeltaOutput, opts.Output)
		}
	} else if err := checkKitName(opts.Output); err != nil {
		return err
	}
	if opts.Output == opts.DeltaOutput {
		return usagef("--full-output and -o are both %s; give two different files", opts.Output)
	}
	return nil
}

// buildOutputs lists the files a build writes.
func buildOutputs(opts build.Options, fullOutputGiven bool) []namedPath {
	if opts.DeltaOutput == "" {
		return []namedPath{{flag: "-o", path: opts.Output}}
	}
	full := namedPath{flag: "--full-output", path: opts.Output}
	if !fullOutputGiven {
		// The name came from -o: the message names that, and the flag to
		// choose another.
		full.flag = "the full kit's file, named from -o,"
		full.fix = "choose another with --full-output"
	}
	return []namedPath{{flag: "-o", path: opts.DeltaOutput}, full}
}

// buildInputs lists the files and folders a build reads.
func buildInputs(spec kitSpec, opts build.Options, buildFile string) []namedPath {
	in := []namedPath{{flag: "--base", path: spec.Base}, {flag: "--sbom", path: spec.SBOM}, {flag: "--key", path: spec.Key}, {flag: "-f", path: buildFile}}
	for _, f := range opts.Feeds {
		in = append(in, namedPath{flag: "--feed", path: f.Path})
	}
	for _, img := range opts.Images {
		in = append(in, namedPath{flag: "--image", path: img.Path})
	}
	return in
}

// merged reads -f and lays the flags the user set over it.
func (o *buildOptions) merged(cmd *cobra.Command) (kitSpec, error) {
	f := cmd.Flags()
	if f.Changed("sequence") {
		if _, ok := parseSequence(o.sequence); !ok {
			return kitSpec{}, usagef("--sequence is %q; give %s, or leave it out to use the creation time in Unix seconds",
				o.sequence, sequenceRule)
		}
		o.spec.Sequence = &o.sequence
	}
	if o.file == "" {
		if o.spec.Output == "" {
			return kitSpec{}, usagef("no output kit given; pass -o KIT (such as kit.tar.zst) or -f kit.yaml")
		}
		return o.spec, nil
	}
	spec, err := readBuildFile(o.file)
	if err != nil {
		return kitSpec{}, err
	}
	spec.resolvePaths(filepath.Dir(o.file))
	if f.Changed("output") {
		spec.Output = o.spec.Output
	}
	if f.Changed("version") {
		spec.Version = o.spec.Version
	}
	if f.Changed("sequence") {
		spec.Sequence = o.spec.Sequence
	}
	spec.Feeds = append(spec.Feeds, o.spec.Feeds...)
	spec.Images = append(spec.Images, o.spec.Images...)
	override := func(name string, dst *string, flagValue string) {
		if f.Changed(name) {
			*dst = flagValue
		}
	}
	override("sbom", &spec.SBOM, o.spec.SBOM)
	override("key", &spec.Key, o.spec.Key)
	override("expires", &spec.Expires, o.spec.Expires)
	override("base", &spec.Base, o.spec.Base)
	if f.Changed("rollup") {
		spec.Rollup = o.spec.Rollup
	}
	spec.DropSources = append(spec.DropSources, o.spec.DropSources...)
	if f.Changed("allow-mass-removal") {
		spec.AllowMassRemoval = o.spec.AllowMassRemoval
	}
	if f.Changed("drop-base-images") {
		spec.DropBaseImages = o.spec.DropBaseImages
	}
	if f.Changed("index-tables") {
		spec.IndexTables = o.spec.IndexTables
	}
	if spec.Output == "" {
		return kitSpec{}, usagef("build file %s has no output key and no -o was given; add one of them", o.file)
	}
	return spec, nil
}

// readBuildFile reads and checks the YAML build file of `-f`.
func readBuildFile(path string) (kitSpec, error) {
	raw, err := regfile.ReadFile(path, "a YAML build file")
	if err != nil {
		return kitSpec{}, fmt.Errorf("reading build file: %w", err)
	}
	var spec kitSpec
	if err := decodeYAMLFile(raw, &spec); err != nil {
		return kitSpec{}, fmt.Errorf("build file %s: %v; %s describes each key: %w",
			path, err, buildFileDocs, errdef.ErrInvalidArgument)
	}
	if spec.Expires != "" {
		if _, ok := parseExpires(spec.Expires); !ok {
			return kitSpec{}, usagef("build file %s: line %d: key \"expires\" is %q; give %s",
				path, yamlKeyLine(raw, "expires"), spec.Expires, expiresRule)
		}
	}
	if spec.Sequence != nil {
		if _, ok := parseSequence(*spec.Sequence); !ok {
			return kitSpec{}, usagef("build file %s: line %d: key \"sequence\" is %q; give %s, "+
				"or leave the key out to use the creation time in Unix seconds",
				path, yamlKeyLine(raw, "sequence"), *spec.Sequence, sequenceRule)
		}
	}
	return spec, nil
}

// yamlKeyLine returns the line of the value of the top-level key in the
// YAML mapping raw, or 0 when the key is not found.
func yamlKeyLine(raw []byte, key string) int {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return 0
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Line
		}
	}
	return 0
}

// sequenceRule describes the kit sequences that parseSequence accepts, for
// messages.
const sequenceRule = "a positive whole number in decimal digits, such as 42 or 042 (leading zeros are ignored), " +
	"at most 9223372036854775807"

// parseSequence reads a kit sequence written in decimal digits. Leading
// zeros are ignored, so "031", as printf %03d pads 31, is 31 and not the
// octal 25. A sign, a base prefix such as 0x, an underscore, zero and a
// number over math.MaxInt64 are rejected.
func parseSequence(text string) (int64, bool) {
	if text == "" || strings.Trim(text, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// resolvePaths makes the spec's relative paths relative to dir.
func (s *kitSpec) resolvePaths(dir string) {
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	s.Output, s.SBOM, s.Key, s.Base = rel(s.Output), rel(s.SBOM), rel(s.Key), rel(s.Base)
	for i, f := range s.Feeds {
		if k, p, ok := strings.Cut(f, "="); ok {
			s.Feeds[i] = k + "=" + rel(p)
		}
	}
	for i, im := range s.Images {
		if k, p, ok := strings.Cut(im, "="); ok {
			s.Images[i] = k + "=" + rel(p)
		}
	}
}

func (s kitSpec) options() (build.Options, error) {
	opts := build.Options{Output: s.Output, Version: s.Version,
		SBOM: s.SBOM, Base: s.Base, Rollup: s.Rollup, DropBaseImages: s.DropBaseImages,
		IndexTables: s.IndexTables, ToolVersion: currentVersion().Version}
	if err := checkKitName(s.Output); err != nil {
		return opts, err
	}
	if s.Version != "" {
		if err := build.CheckVersion(s.Version); err != nil {
			return opts, err
		}
	}
	if s.Sequence != nil {
		n, ok := parseSequence(*s.Sequence)
		if !ok {
			return opts, usagef("kit sequence is %q; give %s", *s.Sequence, sequenceRule)
		}
		opts.Sequence = n
	}
	if err := checkRemoteKitFlag("--base", s.Base); err != nil {
		return opts, err
	}
	if s.Rollup && s.Base == "" {
		return opts, usagef("--rollup needs --base PREVIOUS_KIT")
	}
	if s.DropBaseImages && s.Base == "" {
		return opts, usagef("--drop-base-images needs --base PREVIOUS_KIT, the kit whose images it leaves out")
	}
	if s.DropBaseImages && len(s.Images) > 0 {
		return opts, usagef("--drop-base-images builds a kit without images, but --image names %d; give "+
			"either, since --image alone already carries only the images it names", len(s.Images))
	}
	if err := s.checkRemovalFlags(); err != nil {
		return opts, err
	}
	for _, f := range s.Feeds {
		feed, err := parseFeed(f)
		if err != nil {
			return opts, err
		}
		opts.Feeds = append(opts.Feeds, feed)
	}
	images, err := parseImages(s.Images)
	if err != nil {
		return opts, err
	}
	opts.Images = images
	opts.CheckImages = checkImageTargets
	if s.Expires != "" {
		d, err := parseDuration(s.Expires)
		if err != nil {
			return opts, err
		}
		opts.Expires = d
	}
	return opts, nil
}

// checkKitName rejects a kit file name whose suffix picks no compression,
// before the build does any work. -o names the kit file here, while other
// commands take the result format with it, so "-o json" gets a hint.
func checkKitName(name string) error {
	if _, err := layout.CompressionFromName(name); err != nil {
		hint := ""
		switch strings.ToLower(name) {
		case "json":
			hint = "; for JSON output use --format json"
		case "text":
			hint = "; text output is the default, and --format text selects it"
		}
		return usagef("output file %q has no kit suffix, so its compression is unknown; end the name with "+
			".tar, .tar.gz, .tgz, .tar.zst or .tzst, such as kit.tar.zst%s", name, hint)
	}
	return nil
}

// checkRemovalFlags rejects --drop-source and --allow-mass-removal without
// --base, and a dropped source name that is not valid.
func (s kitSpec) checkRemovalFlags() error {
	if s.Base == "" && len(s.DropSources) > 0 {
		return usagef("--drop-source needs --base PREVIOUS_KIT, the kit whose records it removes")
	}
	if s.Base == "" && s.AllowMassRemoval {
		return usagef("--allow-mass-removal needs --base PREVIOUS_KIT")
	}
	for _, name := range s.DropSources {
		// Any catalogue name is accepted here, including one that a base
		// kit built by an earlier release carries and --feed now rejects,
		// so that such a source can still be dropped.
		switch {
		case name == "osv" || name == "ghsa" || name == "nvd":
		case strings.HasPrefix(name, "regional:") && len(name) > len("regional:"):
		default:
			return usagef("--drop-source %q is not a valid source name; use osv, ghsa, nvd or regional:NAME", name)
		}
	}
	return nil
}

// parseImages splits each REF=PATH and checks every reference with the
// parser that `stella ouk mirror` applies at the site, so a reference the
// mirror would reject stops the build. It also rejects two references that
// the mirror would push to the same repository and tag when both name
// different digests, before the build does any work. The target is the one
// mirror.ImageTarget returns, so a reference with a tag and a digest counts
// by its tag, which mirror pushes to. checkImageTargets compares the
// loaded digests of the other pairs.
func parseImages(specs []string) ([]build.Image, error) {
	var images []build.Image
	byTarget := map[string]string{}
	for _, im := range specs {
		// A reference cannot contain "=", but a path can, so the split is
		// at the first one.
		ref, path, ok := strings.Cut(im, "=")
		if !ok || ref == "" || path == "" {
			return nil, usagef("image %q is not REF=PATH, such as registry.example/stella-ops/scanner:0.1.0=images/scanner", im)
		}
		parsed, err := mirror.ParseImageReference(ref)
		if err != nil {
			return nil, usagef("image reference %q is invalid (%v); write it as REGISTRY/REPOSITORY:TAG "+
				"in lower case, such as registry.example/stella-ops/scanner:0.1.0", ref, err)
		}
		repository, tag, err := mirror.ImageTarget(ref)
		if err != nil {
			return nil, usagef("%v", err)
		}
		for _, prev := range images {
			if prev.Ref == ref {
				return nil, usagef("image reference %q is given twice; give each reference once", ref)
			}
		}
		if tag != "" && parsed.ValidateReferenceAsDigest() == nil {
			target := repository + ":" + tag
			if prev, dup := byTarget[target]; dup && !strings.HasSuffix(prev, "@"+parsed.Reference) {
				return nil, usagef("image references %q and %q both mirror to %s, so one would overwrite the other; "+
					"give each image its own repository or tag", prev, ref, target)
			}
			byTarget[target] = ref
		}
		images = append(images, build.Image{Ref: ref, Path: path})
	}
	return images, nil
}

// checkImageTargets rejects two loaded images that the mirror would push to
// the same repository and tag with different digests. The same image under
// two such references is accepted, since both pushes leave the tag on it.
func checkImageTargets(children []ocispec.Descriptor) error {
	err := mirror.CheckTargetCollisions(children)
	var collision *mirror.TargetCollisionError
	if errors.As(err, &collision) {
		return usagef("%v; give each image its own repository or tag", collision)
	}
	return err
}

func parseFeed(s string) (vulndb.Feed, error) {
	kind, path, ok := strings.Cut(s, "=")
	if !ok || path == "" {
		return vulndb.Feed{}, usagef("feed %q is not KIND=PATH, such as osv=feeds/osv", s)
	}
	feed := vulndb.Feed{Kind: kind, Path: path}
	switch {
	case kind == "osv" || kind == "ghsa" || kind == "nvd":
	case strings.HasPrefix(kind, "regional:") && len(kind) > len("regional:"):
		feed.Kind, feed.Name = "regional", strings.TrimPrefix(kind, "regional:")
		if err := vulndb.ValidateCatalogueName(feed.Name); err != nil {
			return vulndb.Feed{}, usagef("feed %q: %v", s, err)
		}
	case kind == "regional:":
		return vulndb.Feed{}, usagef("feed %q names no catalogue after regional:; give its name, such as "+
			"regional:demo-cert=PATH", s)
	default:
		return vulndb.Feed{}, usagef("feed kind %q is unknown; use osv, ghsa, nvd or regional:NAME", kind)
	}
	return feed, nil
}

// maxExpiryDays is the maximum --expires day count whose duration fits in
// a time.Duration (an int64 count of nanoseconds, about 292 years).
const maxExpiryDays = int64(math.MaxInt64 / int64(24*time.Hour))

// expiresRule describes the --expires values that parseDuration accepts,
// for messages.
var expiresRule = fmt.Sprintf("a positive duration such as 720h or 30d, at most %dd (about 292 years), "+
	"or never", maxExpiryDays)

// parseDuration accepts Go durations, a whole number of days, "30d", up to
// the maximum time.Duration, and "never", for which it returns 0: no
// expiry. "never" lets a command line override the expires of a build
// file.
func parseDuration(s string) (time.Duration, error) {
	d, ok := parseExpires(s)
	if !ok {
		return 0, usagef("--expires is %q; give %s", s, expiresRule)
	}
	return d, nil
}

// parseExpires reads an --expires value as parseDuration describes, and
// reports whether it is valid.
func parseExpires(s string) (time.Duration, bool) {
	if s == "never" {
		return 0, true
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		// ParseInt takes a sign, which a number of whole days has not.
		n, err := strconv.ParseInt(days, 10, 64)
		if err == nil && n > 0 && n <= maxExpiryDays && days[0] != '+' {
			return time.Duration(n) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

// creationTime returns SOURCE_DATE_EPOCH when set, else the clock, in UTC.
func creationTime() (time.Time, error) {
	if s, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok && s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, usagef("SOURCE_DATE_EPOCH is %q; set it to Unix seconds or unset it", s)
		}
		if n > layout.MaxModTime.Unix() {
			return time.Time{}, usagef("SOURCE_DATE_EPOCH is %d, after %d (%s), the latest time that the tar "+
				"headers of a kit file can hold; set it to Unix seconds of a past time, such as that of the last commit, or unset it",
				n, layout.MaxModTime.Unix(), layout.MaxModTime.Format(time.RFC3339))
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Now().UTC().Truncate(time.Second), nil
}
