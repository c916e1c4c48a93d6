package vulndb

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// maxSummaryErrors bounds the rejected-record messages kept in a Summary;
// the counts in SkipReasons stay exact.
const maxSummaryErrors = 100

// PreviousDB is the DB of an earlier kit, the base of an overlay build.
type PreviousDB struct {
	// Config is the DB config blob.
	Config []byte
	// Layers are the DB layers, oldest first.
	Layers []ocispec.Descriptor
	// Fetch returns a layer's bytes.
	Fetch func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error)
}

// BuildOptions configure Build.
type BuildOptions struct {
	// Feeds are read in order. The merge result does not depend on it.
	Feeds []Feed
	// Base, when set and Rollup is false, is the previous DB: its layers
	// are reused unchanged and one overlay layer holds what changed.
	Base *PreviousDB
	// Rollup writes fresh base layers even when Base is set.
	Rollup bool
	// Created is the build time written to the config. It is required.
	Created time.Time
	// Logger receives a warning per rejected record. The default discards.
	Logger *slog.Logger
	// MaxRecordsPerLayer splits a base layer of one ecosystem by ID range;
	// 0 means DefaultMaxRecordsPerLayer.
	MaxRecordsPerLayer int
	// Removal limits what a build with a Base may remove from it. The zero
	// value is the strict default; see RemovalPolicy.
	Removal RemovalPolicy
	// Progress, when set, receives a report after each feed file or zip
	// entry is read, and a last one with Merging set once every feed is
	// read, before the records are merged.
	Progress func(FeedProgress)
}

// FeedProgress is one report of how far Build has read the feeds.
type FeedProgress struct {
	// Source names the feed of the file just read, such as osv or
	// regional:NAME.
	Source string
	// Bytes is the size of the file or zip entry just read, after
	// decompression.
	Bytes int64
	// Records is the number of valid records read from all feeds so far.
	Records int
	// Merging is set in the last report.
	Merging bool
}

// Validate rejects contradictory or missing options.
func (o *BuildOptions) Validate() error {
	if o.Created.IsZero() {
		return fmt.Errorf("build time is zero; set BuildOptions.Created: %w", errdef.ErrInvalidRecord)
	}
	if o.MaxRecordsPerLayer < 0 {
		return fmt.Errorf("MaxRecordsPerLayer is %d; use 0 for the default of %d or a positive number: %w",
			o.MaxRecordsPerLayer, DefaultMaxRecordsPerLayer, errdef.ErrInvalidRecord)
	}
	if o.Base != nil && !o.Rollup && o.Base.Fetch == nil {
		return fmt.Errorf("base DB has no Fetch function to read its layers: %w", errdef.ErrBaseMissing)
	}
	for _, f := range o.Feeds {
		if err := f.Validate(); err != nil {
			return err
		}
	}
	return o.Removal.validate(o.Feeds, o.Base != nil)
}

// BuildResult is the output of Build.
type BuildResult struct {
	// Config is the DB config blob, JSON (see Config).
	Config []byte
	// ConfigDescriptor describes Config, media type oci.MediaTypeDBConfig.
	ConfigDescriptor ocispec.Descriptor
	// Layers are the DB layers, oldest first. Reused ones have nil Data.
	Layers []Layer
	// Summary counts what the build read, merged and skipped.
	Summary Summary
}

// Summary reports a build.
type Summary struct {
	// Records is the number of records in the built DB.
	Records int `json:"records"`
	// Read is the number of source records read from all feeds, accepted
	// or skipped: Accepted plus Skipped.
	Read int `json:"read"`
	// Accepted is the number of valid source records, the input of the merge.
	Accepted int `json:"accepted"`
	// Merged is the number of source records folded into another record,
	// by shared ID or alias: for each group that became one record, all
	// its source records but one, duplicates of one feed and ID included.
	Merged int `json:"merged"`
	// Skipped is the number of malformed source records, counting a file
	// that could not be decoded at all as one.
	Skipped int `json:"skipped"`
	// SkipReasons counts skipped records by reason, such as "invalid-json".
	SkipReasons map[string]int `json:"skipReasons,omitempty"`
	// Warnings is the number of accepted source records that lookups
	// cannot fully evaluate, and WarningReasons counts them by reason,
	// such as "unparsed-range-version". A record with warnings of two
	// reasons counts once in Warnings and once under each reason.
	Warnings       int            `json:"warnings"`
	WarningReasons map[string]int `json:"warningReasons,omitempty"`
	// Errors holds the first rejected-record messages, each naming the
	// file and record.
	Errors []string `json:"errors,omitempty"`
	// Withdrawn is the number of merged records left out because every
	// source withdrew them.
	Withdrawn int `json:"withdrawn"`
	// Ecosystems counts records per ecosystem. A record affecting packages
	// of two ecosystems counts in both.
	Ecosystems map[string]int `json:"ecosystems"`
	// Sources describes each feed.
	Sources []SourceInfo `json:"sources"`
	// Changed and Removed count the records and tombstones of the overlay
	// layer of an overlay build. Both are 0 for other builds.
	Changed int `json:"changed"`
	Removed int `json:"removed"`
	// NewLayers is the number of layers with new bytes.
	NewLayers int `json:"newLayers"`
}

// SourceInfo describes one feed of a build.
type SourceInfo struct {
	Kind string `json:"kind"`
	// Name is the catalogue name of a regional feed.
	Name string `json:"name,omitempty"`
	// Path is the feed's folder, file or zip archive. It is left out of
	// the DB config, so the build host's paths do not reach the kit.
	Path string `json:"-"`
	// Input is the last element of Path, such as "all.zip" or "osv". A
	// later build with this DB as its base uses it to notice a missing
	// input of a kind it still reads.
	Input string `json:"input,omitempty"`
	// Ecosystems counts the feed's records per ecosystem, as
	// Summary.Ecosystems does.
	Ecosystems map[string]int `json:"ecosystems,omitempty"`
	// Snapshot is the newest modified time among the feed's records, the
	// best offline estimate of when the feed was taken.
	Snapshot time.Time `json:"snapshot"`
	// Records is the number of valid records read from the feed.
	Records int `json:"records"`
	// Skipped is the number of malformed records of the feed.
	Skipped int `json:"skipped"`
}

// Build reads the feeds, merges their records and writes the DB layers and
// config. With a Base and no Rollup it reuses the base layers and adds one
// overlay layer with the changes, or none when nothing changed. A feed without a valid
// record fails the build with an error wrapping errdef.ErrEmptyFeed, and a
// build with a Base checks opts.Removal before it writes any layer.
func Build(ctx context.Context, opts BuildOptions) (*BuildResult, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRecordsPerLayer == 0 {
		opts.MaxRecordsPerLayer = DefaultMaxRecordsPerLayer
	}

	srcs, sum, err := readFeeds(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(FeedProgress{Records: len(srcs), Merging: true})
	}
	recs, st := merge(srcs)
	sum.Merged = st.merged + st.duplicates
	sum.Withdrawn = st.withdrawn
	sum.Records = len(recs)
	sum.Ecosystems = countEcosystems(recs)
	opts.Logger.Info("merged records", "accepted", sum.Accepted, "merged", sum.Merged,
		"withdrawn", sum.Withdrawn, "records", sum.Records)

	var prev map[string]baseRecord
	if opts.Base != nil && opts.Base.Fetch != nil {
		baseSources, err := checkBaseConfig(opts.Base.Config)
		if err != nil {
			return nil, err
		}
		if prev, err = loadBaseRecords(ctx, opts.Base); err != nil {
			return nil, err
		}
		if err := opts.Removal.check(prev, baseSources, recs, st.withdrawnIDs, sum.Sources, opts.Logger); err != nil {
			return nil, err
		}
	}

	var layers []Layer
	if prev != nil && !opts.Rollup {
		layers, err = overlayLayers(opts.Base, prev, recs, opts.Created, &sum)
	} else {
		layers, err = baseLayers(recs, opts.MaxRecordsPerLayer)
	}
	if err != nil {
		return nil, err
	}
	// A layer counts as new when the base DB lacks its bytes: a roll-up
	// writes every layer again, but most equal a base layer byte for byte.
	baseDigests := map[digest.Digest]bool{}
	if opts.Base != nil {
		for _, d := range opts.Base.Layers {
			baseDigests[d.Digest] = true
		}
	}
	for _, l := range layers {
		if l.Data != nil && !baseDigests[l.Descriptor.Digest] {
			sum.NewLayers++
		}
	}
	opts.Logger.Info("wrote DB layers", "layers", len(layers), "new", sum.NewLayers,
		"changed", sum.Changed, "removed", sum.Removed)
	cfg, err := newConfig(opts.Created, &sum, layers)
	if err != nil {
		return nil, err
	}
	return &BuildResult{
		Config: cfg,
		ConfigDescriptor: ocispec.Descriptor{
			MediaType: oci.MediaTypeDBConfig,
			Digest:    digest.FromBytes(cfg),
			Size:      int64(len(cfg)),
		},
		Layers:  layers,
		Summary: sum,
	}, nil
}

// readFeeds reads every feed, collecting valid records and counting
// rejected ones.
func readFeeds(ctx context.Context, opts BuildOptions) ([]source, Summary, error) {
	sum := Summary{SkipReasons: map[string]int{}, WarningReasons: map[string]int{}}
	var srcs []source
	var tooLarge []*RecordError
	for _, f := range opts.Feeds {
		info := SourceInfo{Kind: f.Kind, Name: f.Name, Path: f.Path, Input: f.input(),
			Ecosystems: map[string]int{}}
		var snapshot string
		warned := map[string][]string{} // record IDs by warning reason
		fr := &feedReader{
			feed: f,
			log:  opts.Logger,
			warn: func(errs []*RecordError) {
				sum.Warnings++
				for _, e := range errs {
					sum.WarningReasons[e.Reason]++
					warned[e.Reason] = append(warned[e.Reason], e.Record)
					opts.Logger.Info("record kept with a warning", "feed", f.Kind,
						"file", e.File, "record", e.Record, "reason", e.Reason, "error", e.Err)
				}
			},
			emit: func(s source) {
				srcs = append(srcs, s)
				info.Records++
				for _, e := range ecosystemsOrNone(&s.rec) {
					info.Ecosystems[e]++
				}
				if compareTimes(s.rec.Modified, snapshot) > 0 {
					snapshot = s.rec.Modified
				}
			},
			reject: func(e *RecordError) {
				if e.Reason == reasonTooLarge {
					tooLarge = append(tooLarge, e)
					return
				}
				info.Skipped++
				sum.Skipped++
				sum.SkipReasons[e.Reason]++
				if len(sum.Errors) < maxSummaryErrors {
					sum.Errors = append(sum.Errors, e.Error())
				}
				opts.Logger.Warn("skipping malformed record", "feed", f.Kind,
					"file", e.File, "record", e.Record, "reason", e.Reason, "error", e.Err)
			},
		}
		if opts.Progress != nil {
			fr.progress = func(n int) {
				opts.Progress(FeedProgress{Source: f.source(), Bytes: int64(n), Records: len(srcs)})
			}
		}
		if err := fr.read(ctx); err != nil {
			return nil, sum, err
		}
		if len(tooLarge) > 0 {
			return nil, sum, tooLargeError(f, tooLarge)
		}
		if t, err := parseTime(snapshot); err == nil {
			info.Snapshot = t
		}
		opts.Logger.Info("read feed", "feed", f.source(), "path", f.Path,
			"records", info.Records, "skipped", info.Skipped)
		logFeedWarnings(opts.Logger, f, warned)
		if info.Records == 0 {
			return nil, sum, emptyFeedError(f, info.Skipped, fr.emptyFiles)
		}
		sum.Accepted += info.Records
		sum.Read += info.Records + info.Skipped
		sum.Sources = append(sum.Sources, info)
	}
	return srcs, sum, nil
}

// feedWarnings are the messages that logFeedWarnings logs per warning reason.
var feedWarnings = map[string]string{
	reasonUnparsedRange: "records have range versions that their ecosystem cannot parse; " +
		"lookups may report them as possibly affected, and -v lists them",
	reasonPURLMismatch: "records have packages whose purl names another package than their ecosystem and name; " +
		"lookups use the ecosystem and name, and -v names each package",
	reasonUnresolvedPackage: "records have packages whose ecosystem or name is missing and cannot be read from a purl, " +
		"so no purl lookup or scan matches those packages; give them an ecosystem and name in the feed copy, " +
		"and -v names each package",
}

// maxLoggedIDs bounds the record IDs that logFeedWarnings names per reason.
const maxLoggedIDs = 10

// logFeedWarnings logs one warning per reason for the records of feed f
// that were kept with warnings, naming the first record IDs. warned maps
// each warning reason to its record IDs.
func logFeedWarnings(logger *slog.Logger, f Feed, warned map[string][]string) {
	reasons := make([]string, 0, len(warned))
	for r := range warned {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ids := warned[r]
		listed := strings.Join(ids[:min(len(ids), maxLoggedIDs)], ",")
		if len(ids) > maxLoggedIDs {
			listed += fmt.Sprintf(" and %d more", len(ids)-maxLoggedIDs)
		}
		logger.Warn(feedWarnings[r], "feed", f.source(), "records", len(ids), "reason", r, "ids", listed)
	}
}

// tooLargeError stops a build at records of feed f that no import could
// read. Skipping them would drop known vulnerabilities without a trace,
// and a --base build would remove them from every site that imports it.
func tooLargeError(f Feed, errs []*RecordError) error {
	const maxListed = 5
	var list []string
	for i, e := range errs {
		if i == maxListed {
			list = append(list, fmt.Sprintf("and %d more", len(errs)-maxListed))
			break
		}
		list = append(list, e.Error())
	}
	return fmt.Errorf("%s feed %s contains %d %s too large for any import to read: %s; leaving them out would drop "+
		"their vulnerabilities from the DB, so the build stops. Fix or remove them in the feed copy, or leave the "+
		"feed out: %w", f.source(), f.Path, len(errs), plural(len(errs), "record", "records"), strings.Join(list, "; "),
		errdef.ErrInvalidRecord)
}

// ecosystemsOf returns the ecosystems a record affects, without a
// ":release" suffix ("Alpine:v3.18" is "Alpine"), sorted.
func ecosystemsOf(r *Record) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range r.Affected {
		e := baseEcosystem(a.Package.Ecosystem)
		if a.Package.Name == "" || e == "" || seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

func baseEcosystem(e string) string {
	base, _, _ := strings.Cut(e, ":")
	return strings.TrimSpace(base)
}

// layerEcosystem is the ecosystem whose base layers hold the record: the
// first of its ecosystems in sort order.
func layerEcosystem(r *Record) string {
	if es := ecosystemsOf(r); len(es) > 0 {
		return es[0]
	}
	return noEcosystem
}

func countEcosystems(recs []Record) map[string]int {
	out := map[string]int{}
	for i := range recs {
		for _, e := range ecosystemsOrNone(&recs[i]) {
			out[e]++
		}
	}
	return out
}

// ecosystemsOrNone is ecosystemsOf, with noEcosystem for a record that
// names no package.
func ecosystemsOrNone(r *Record) []string {
	if es := ecosystemsOf(r); len(es) > 0 {
		return es
	}
	return []string{noEcosystem}
}

// baseLayers splits records (sorted by ID) by ecosystem and, past max
// records, by ID range.
func baseLayers(recs []Record, max int) ([]Layer, error) {
	byEco := map[string][]Record{}
	for _, r := range recs {
		e := layerEcosystem(&r)
		byEco[e] = append(byEco[e], r)
	}
	ecos := make([]string, 0, len(byEco))
	for e := range byEco {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	var out []Layer
	for _, e := range ecos {
		list := byEco[e]
		for part, start := 1, 0; start < len(list); part, start = part+1, start+max {
			end := min(start+max, len(list))
			title := fmt.Sprintf("db/base/%s-%04d.ndjson.zst", layerFileName(e), part)
			l, err := newLayer(list[start:end], LayerBase, e, title)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// layerFileName turns an ecosystem into a file-name-safe word.
func layerFileName(e string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, e)
}

// overlayLayers reuses the base layers and adds one overlay with the
// records whose bytes differ from the base's view and tombstones for
// records the base has and the new build lacks. It consumes prev.
func overlayLayers(base *PreviousDB, prev map[string]baseRecord, recs []Record, created time.Time, sum *Summary) ([]Layer, error) {
	var changes []Record
	for i := range recs {
		b, err := encodeLine(&recs[i])
		if err != nil {
			return nil, err
		}
		old, ok := prev[recs[i].ID]
		delete(prev, recs[i].ID)
		if ok && old.hash == sha256.Sum256(b) {
			continue
		}
		changes = append(changes, recs[i])
		sum.Changed++
	}
	for id := range prev {
		changes = append(changes, tombstone(id, created))
		sum.Removed++
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].ID < changes[j].ID })

	out := make([]Layer, 0, len(base.Layers)+1)
	for _, d := range base.Layers {
		if d.MediaType == oci.MediaTypeDBLayer {
			out = append(out, Layer{Descriptor: d})
		}
	}
	if len(changes) == 0 {
		// Nothing changed, and an empty layer would only lengthen every
		// lookup's walk over the layers.
		return out, nil
	}
	title := fmt.Sprintf("db/overlay/%s.ndjson.zst", created.UTC().Format("20060102T150405Z"))
	l, err := newLayer(changes, LayerOverlay, "", title)
	if err != nil {
		return nil, err
	}
	return append(out, l), nil
}

// tombstone is the overlay entry that removes id from the layers below.
func tombstone(id string, created time.Time) Record {
	ex, _ := marshalJSON(Extra{Tombstone: true})
	t := formatTime(created)
	return Record{ID: id, Modified: t, Withdrawn: t,
		DatabaseSpecific: map[string]json.RawMessage{dbKey: ex}}
}

// baseRecord is the part of a live record of the base DB that a build compares.
type baseRecord struct {
	hash       [32]byte // SHA-256 of the record's line
	sources    []string // the sources that contributed it, as Feed.source names them
	ecosystems []string // as ecosystemsOrNone returns them
}

// loadBaseRecords reads every base layer, oldest first, and returns each
// live record's line hash and sources. Later layers replace earlier ones
// and tombstones remove records.
func loadBaseRecords(ctx context.Context, base *PreviousDB) (map[string]baseRecord, error) {
	out := map[string]baseRecord{}
	for _, d := range base.Layers {
		if d.MediaType != oci.MediaTypeDBLayer {
			continue
		}
		if err := loadLayerHashes(ctx, base, d, out); err != nil {
			return nil, fmt.Errorf("reading base DB layer %s: %w", d.Digest, err)
		}
	}
	return out, nil
}

func loadLayerHashes(ctx context.Context, base *PreviousDB, d ocispec.Descriptor, out map[string]baseRecord) error {
	rc, err := base.Fetch(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	verifier := d.Digest.Verifier()
	err = readLayer(io.TeeReader(io.LimitReader(rc, d.Size), verifier), func(line []byte) error {
		r, err := decodeLine(line)
		if err != nil {
			return err
		}
		if r.Tombstone() {
			delete(out, r.ID)
			return nil
		}
		out[r.ID] = baseRecord{hash: sha256.Sum256(line), sources: recordSources(&r),
			ecosystems: ecosystemsOrNone(&r)}
		return nil
	})
	if err != nil {
		return err
	}
	if !verifier.Verified() {
		return fmt.Errorf("layer bytes do not match digest %s: %w", d.Digest, errdef.ErrDigestMismatch)
	}
	return nil
}

// checkBaseConfig rejects a base DB of another schema, whose records could
// not be compared line by line, and returns the feeds the base was built
// from.
func checkBaseConfig(raw []byte) ([]SourceInfo, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decoding base DB config: %v: %w", err, errdef.ErrInvalidKit)
	}
	if c.Schema != "" && c.Schema != oci.SchemaVersion {
		return nil, fmt.Errorf("base DB has schema %q and this build writes %q; build with rollup: %w",
			c.Schema, oci.SchemaVersion, errdef.ErrInvalidKit)
	}
	return c.Sources, nil
}
