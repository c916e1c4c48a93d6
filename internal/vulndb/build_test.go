package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
	"stella-ops.org/ouk/oci"
)

var testCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// realFeeds returns the shared OSV, GHSA and NVD records plus the NVD page
// of the lodash CVE.
func realFeeds(t testing.TB) []Feed {
	t.Helper()
	extra := t.TempDir()
	writeFile(t, extra, "CVE-2021-23337.json", nvdLodash)
	return []Feed{
		{Kind: FeedOSV, Path: testdataDir(t, "osv")},
		{Kind: FeedGHSA, Path: testdataDir(t, "ghsa")},
		{Kind: FeedNVD, Path: testdataDir(t, "nvd")},
		{Kind: FeedNVD, Path: extra},
	}
}

// layerRecords decodes every record of a built layer.
func layerRecords(t testing.TB, l Layer) []Record {
	t.Helper()
	var out []Record
	err := readLayer(bytes.NewReader(l.Data), func(line []byte) error {
		r, err := decodeLine(line)
		out = append(out, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func allRecords(t testing.TB, res *BuildResult) map[string]Record {
	t.Helper()
	out := map[string]Record{}
	for _, l := range res.Layers {
		for _, r := range layerRecords(t, l) {
			out[r.ID] = r
		}
	}
	return out
}

func TestBuildMergesGHSAWithCVE(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}

	recs := allRecords(t, res)
	r, ok := recs["CVE-2021-23337"]
	if !ok {
		t.Fatal("merged record CVE-2021-23337 missing")
	}
	if _, dup := recs["GHSA-35jh-r3h4-6jhm"]; dup {
		t.Error("GHSA-35jh-r3h4-6jhm kept as a second record")
	}
	if len(r.Aliases) != 1 || r.Aliases[0] != "GHSA-35jh-r3h4-6jhm" {
		t.Errorf("aliases = %v, want [GHSA-35jh-r3h4-6jhm]", r.Aliases)
	}
	if r.Summary != "Command Injection in lodash" {
		t.Errorf("summary = %q, want GHSA's", r.Summary)
	}
	if len(r.Affected) != 2 || r.Affected[0].Package.Name != "lodash" {
		t.Errorf("affected = %+v, want lodash and lodash-es from GHSA", r.Affected)
	}

	srcs := r.Sources()
	if len(srcs) != 2 || srcs[0].Feed != FeedGHSA || srcs[1].Feed != FeedNVD {
		t.Errorf("provenance = %+v, want ghsa and nvd", srcs)
	}
	if srcs[0].Modified != "2022-02-08T21:35:09Z" {
		t.Errorf("ghsa provenance modified = %q", srcs[0].Modified)
	}
	ex := r.extra()
	if !strings.Contains(string(ex.Configurations), "lodash:lodash") {
		t.Error("NVD configurations not kept")
	}
	if len(ex.CWEs) == 0 {
		t.Error("CWE IDs not kept")
	}
	if r.Published != "2021-02-15T13:15:12.56Z" {
		t.Errorf("published = %q, want the earliest (NVD's)", r.Published)
	}
	if res.Summary.Merged != 1 {
		t.Errorf("summary merged = %d, want 1", res.Summary.Merged)
	}
	if res.Summary.Records != len(recs) {
		t.Errorf("summary records = %d, layers hold %d", res.Summary.Records, len(recs))
	}
}

func TestBuildDeterministic(t *testing.T) {
	feeds := realFeeds(t)
	a, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	rev := []Feed{feeds[3], feeds[2], feeds[1], feeds[0]}
	b, err := Build(context.Background(), BuildOptions{Feeds: rev, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Layers) != len(b.Layers) {
		t.Fatalf("layer counts %d and %d differ", len(a.Layers), len(b.Layers))
	}
	for i := range a.Layers {
		if a.Layers[i].Descriptor.Digest != b.Layers[i].Descriptor.Digest {
			t.Errorf("layer %d digest differs with feed order: %s vs %s", i,
				a.Layers[i].Descriptor.Digest, b.Layers[i].Descriptor.Digest)
		}
	}
}

func TestBuildLayerSplitAndAnnotations(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated,
		MaxRecordsPerLayer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != res.Summary.Records {
		t.Errorf("layers = %d, want one per record (%d)", len(res.Layers), res.Summary.Records)
	}
	seen := map[string]bool{}
	for _, l := range res.Layers {
		d := l.Descriptor
		if d.MediaType != oci.MediaTypeDBLayer || d.Annotations[oci.AnnotationLayerKind] != LayerBase {
			t.Errorf("layer %s: media type %s kind %s", d.Digest, d.MediaType, d.Annotations[oci.AnnotationLayerKind])
		}
		if d.Annotations[oci.AnnotationLayerRecords] != "1" {
			t.Errorf("layer %s records annotation = %q", d.Digest, d.Annotations[oci.AnnotationLayerRecords])
		}
		seen[d.Annotations[oci.AnnotationLayerEcosystem]] = true
	}
	for _, e := range []string{"npm", "Go", "Alpine", "crates.io", noEcosystem} {
		if !seen[e] {
			t.Errorf("no base layer for ecosystem %s", e)
		}
	}
	var cfg Config
	if err := json.Unmarshal(res.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Schema != oci.SchemaVersion || len(cfg.Layers) != len(res.Layers) || cfg.Ecosystems["npm"] != 1 {
		t.Errorf("config = %+v", cfg)
	}
	if res.ConfigDescriptor.MediaType != oci.MediaTypeDBConfig {
		t.Errorf("config media type = %s", res.ConfigDescriptor.MediaType)
	}
	for _, s := range cfg.Sources {
		if s.Snapshot.IsZero() {
			t.Errorf("source %s has no snapshot time", s.Kind)
		}
	}
}

// previous turns a build result into a PreviousDB served from memory.
func previous(res *BuildResult, blobs map[string][]byte) *PreviousDB {
	var descs []ocispec.Descriptor
	for _, l := range res.Layers {
		if l.Data != nil {
			blobs[l.Descriptor.Digest.String()] = l.Data
		}
		descs = append(descs, l.Descriptor)
	}
	return &PreviousDB{Config: res.Config, Layers: descs,
		Fetch: func(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
			b, ok := blobs[d.Digest.String()]
			if !ok {
				return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		}}
}

func TestBuildOverlay(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	writeFile(t, dir, "A-2.json", `{"id":"A-2","modified":"2024-01-01T00:00:00Z"}`)
	writeFile(t, dir, "A-3.json", `{"id":"A-3","modified":"2024-01-01T00:00:00Z"}`)
	feeds := []Feed{{Kind: FeedOSV, Path: dir}}
	blobs := map[string][]byte{}
	base, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}

	// Next day: A-1 changes, A-2 is withdrawn, A-3 is gone, A-4 is new.
	writeFile(t, dir, "A-1.json", `{"id":"A-1","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0","1.0.1"]}]}`)
	writeFile(t, dir, "A-2.json", `{"id":"A-2","modified":"2024-02-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}`)
	writeFile(t, dir, "A-3.json", `{"id":"A-4","modified":"2024-02-01T00:00:00Z"}`)
	next, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated.Add(24 * time.Hour),
		Base: previous(base, blobs)})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Layers) != len(base.Layers)+1 {
		t.Fatalf("layers = %d, want base's %d plus one overlay", len(next.Layers), len(base.Layers))
	}
	for i := range base.Layers {
		if next.Layers[i].Data != nil || next.Layers[i].Descriptor.Digest != base.Layers[i].Descriptor.Digest {
			t.Errorf("base layer %d not reused unchanged", i)
		}
	}
	ov := next.Layers[len(next.Layers)-1]
	if ov.Descriptor.Annotations[oci.AnnotationLayerKind] != LayerOverlay {
		t.Errorf("last layer kind = %q", ov.Descriptor.Annotations[oci.AnnotationLayerKind])
	}
	var got []string
	for _, r := range layerRecords(t, ov) {
		got = append(got, fmt.Sprintf("%s:%v", r.ID, r.Tombstone()))
	}
	want := "A-1:false A-2:true A-3:true A-4:false"
	if strings.Join(got, " ") != want {
		t.Errorf("overlay = %v, want %s", got, want)
	}
	if next.Summary.Changed != 2 || next.Summary.Removed != 2 {
		t.Errorf("summary changed %d removed %d, want 2 and 2", next.Summary.Changed, next.Summary.Removed)
	}

	// Same feeds again on top of the overlay: an empty overlay.
	again, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated.Add(48 * time.Hour),
		Base: previous(next, blobs)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(layerRecords(t, again.Layers[len(again.Layers)-1])); n != 0 {
		t.Errorf("overlay of an unchanged build holds %d records, want 0", n)
	}

	// Rollup: fresh base layers only.
	roll, err := Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated, Base: previous(next, blobs), Rollup: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range roll.Layers {
		if l.Data == nil || l.Descriptor.Annotations[oci.AnnotationLayerKind] != LayerBase {
			t.Errorf("rollup layer %s is not a fresh base layer", l.Descriptor.Digest)
		}
	}

	// A second roll-up of the same feeds writes the same layers, which
	// the base kit has already, so none of them is new.
	again, err = Build(context.Background(), BuildOptions{Feeds: feeds, Created: testCreated, Base: previous(roll, blobs), Rollup: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Summary.NewLayers != 0 {
		t.Errorf("a roll-up equal to its base counts %d new layers, want 0", again.Summary.NewLayers)
	}
}

func TestBuildQuirks(t *testing.T) {
	dir := t.TempDir()
	// modified before published, no ranges, Unicode and HTML characters.
	writeFile(t, dir, "Q-1.json", `{"id":"Q-1","published":"2024-03-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","summary":"Überlauf <script> in 库 \u2028","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}`)
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedOSV, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	r := allRecords(t, res)["Q-1"]
	if r.Modified != "2024-03-01T00:00:00Z" {
		t.Errorf("modified = %q, want raised to published", r.Modified)
	}
	if r.Sources()[0].Modified != "2024-01-01T00:00:00Z" {
		t.Errorf("provenance modified = %q, want the feed's own", r.Sources()[0].Modified)
	}
	if !strings.HasPrefix(r.Summary, "Überlauf <script> in 库") {
		t.Errorf("summary = %q", r.Summary)
	}
}

func TestBuildMissingFeedPath(t *testing.T) {
	_, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: filepath.Join(t.TempDir(), "absent")}}})
	if err == nil {
		t.Fatal("Build with a missing feed path succeeded")
	}
	// The feed may come from a build file, so the advice names both
	// places.
	if !strings.Contains(err.Error(), "with --feed or in the feeds of a build file") {
		t.Errorf("error %q does not name both places a feed path comes from", err)
	}
}

func TestBuildSummaryCountsSkips(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.json", `{"id":"OK-1","modified":"2024-01-01T00:00:00Z"}`)
	writeFile(t, dir, "bad1.json", `{"id":"BAD-1","modified":"not a time"}`)
	writeFile(t, dir, "bad2.json", `{"id":"BAD-2"}`)
	writeFile(t, dir, "bad3.json", `[`)
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{{Kind: FeedOSV, Path: dir}}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Read != 4 || s.Accepted != 1 || s.Records != 1 || s.Skipped != 3 {
		t.Errorf("read %d accepted %d records %d skipped %d, want 4, 1, 1 and 3",
			s.Read, s.Accepted, s.Records, s.Skipped)
	}
	for _, reason := range []string{"invalid-time", "missing-modified", "invalid-json"} {
		if s.SkipReasons[reason] != 1 {
			t.Errorf("SkipReasons[%s] = %d, want 1", reason, s.SkipReasons[reason])
		}
	}
	if len(s.Errors) != 3 || !strings.Contains(strings.Join(s.Errors, "\n"), "bad1.json record BAD-1") {
		t.Errorf("errors = %q, want three naming file and record", s.Errors)
	}
	if len(s.Sources) != 1 || s.Sources[0].Skipped != 3 {
		t.Errorf("sources = %+v", s.Sources)
	}
}

func TestBuildFoldsIDCase(t *testing.T) {
	osvDir, regionalDir := t.TempDir(), t.TempDir()
	writeFile(t, osvDir, "a.json", `{"id":"cve-2030-0001","modified":"2030-01-01T00:00:00Z","summary":"lower"}`)
	writeFile(t, osvDir, "b.json", `{"id":"X-2030-0002","modified":"2030-01-01T00:00:00Z","aliases":["cve-2030-0001"]}`)
	writeFile(t, osvDir, "c.json", `{"id":"DEMO-1","modified":"2030-01-01T00:00:00Z"}`)
	writeFile(t, osvDir, "d.json", `{"id":"demo-1","modified":"2030-02-01T00:00:00Z","summary":"newer"}`)
	writeFile(t, regionalDir, "e.json", `{"id":"CVE-2030-0001","modified":"2030-01-01T00:00:00Z"}`)
	res, err := Build(context.Background(), BuildOptions{Created: testCreated, Feeds: []Feed{
		{Kind: FeedOSV, Path: osvDir}, {Kind: FeedRegional, Name: "cert", Path: regionalDir}}})
	if err != nil {
		t.Fatal(err)
	}

	recs := allRecords(t, res)
	if len(recs) != 2 {
		t.Errorf("records = %d, want 2 (CVE-2030-0001 and demo-1)", len(recs))
	}
	cve, ok := recs["CVE-2030-0001"]
	if !ok {
		t.Fatalf("record CVE-2030-0001 missing; records: %v", recs)
	}
	if got := strings.Join(cve.Aliases, ","); got != "X-2030-0002" {
		t.Errorf("aliases = %s, want X-2030-0002 only", got)
	}
	if len(cve.Sources()) != 3 {
		t.Errorf("sources = %v, want 3", cve.Sources())
	}
	// One feed's copies of an ID are deduplicated, so the newer one is
	// kept with its spelling.
	demo, ok := recs["demo-1"]
	if !ok {
		t.Fatalf("record demo-1 missing; records: %v", recs)
	}
	if demo.Summary != "newer" {
		t.Errorf("demo-1 summary = %q, want the newer copy's", demo.Summary)
	}
	if res.Summary.Merged != 3 {
		t.Errorf("merged = %d, want 3", res.Summary.Merged)
	}
}

// buildOSVLogged builds the OSV feed in dir and returns the result with
// what Build logged at level info and above.
func buildOSVLogged(t *testing.T, dir string) (*BuildResult, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	res, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds:  []Feed{{Kind: FeedOSV, Path: dir}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	return res, &logs
}

func TestBuildCountsUnparsedRanges(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.json", `[
{"id":"WP-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"wp1"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]},
{"id":"WP-2","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"wp2"},
 "ranges":[{"type":"SEMVER","events":[{"introduced":"1.x"},{"fixed":"2.0.0"}]}]}]},
{"id":"WP-3","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"wp3"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.0"}]},{"type":"GIT","repo":"r","events":[{"introduced":"abc"}]}]}]}]`)
	res, logs := buildOSVLogged(t, dir)

	s := res.Summary
	if s.Accepted != 3 || s.Skipped != 0 {
		t.Errorf("accepted, skipped = %d, %d, want 3, 0", s.Accepted, s.Skipped)
	}
	if s.Warnings != 2 {
		t.Errorf("warnings = %d, want 2", s.Warnings)
	}
	if n := s.WarningReasons["unparsed-range-version"]; n != 2 {
		t.Errorf("warning reasons = %v, want unparsed-range-version 2", s.WarningReasons)
	}
	for _, want := range []string{`record=WP-1`, `npm/wp1 \"2.0\"`, `record=WP-2`, `npm/wp2 \"1.x\"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "record=WP-3") {
		t.Errorf("log names WP-3, whose ranges are valid:\n%s", logs.String())
	}
}

// A newer source that lists fewer affected versions of a package, such as
// a regional notice about the versions seen exploited, does not hide the
// versions that an older source lists.
func TestBuildAffectedUnionOfSources(t *testing.T) {
	osvFeed, regional := t.TempDir(), t.TempDir()
	writeFile(t, osvFeed, "OSV-1.json", `{"id":"OSV-1","modified":"2026-11-02T09:30:00Z","aliases":["CVE-2099-0001"],
		"affected":[{"package":{"ecosystem":"npm","name":"untar"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.4.1"}]}]}]}`)
	writeFile(t, regional, "CERT-1.json", `{"id":"CERT-1","modified":"2026-11-25T10:00:00Z","aliases":["CVE-2099-0001"],
		"affected":[{"package":{"ecosystem":"npm","name":"untar"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.4.1"}]}]}]}`)
	res, err := Build(context.Background(), BuildOptions{Feeds: []Feed{
		{Kind: FeedOSV, Path: osvFeed},
		{Kind: FeedRegional, Name: "cert", Path: regional},
	}, Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}

	recs := allRecords(t, res)
	if len(recs) != 1 {
		t.Fatalf("records = %d, want the two sources merged into one", len(recs))
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)
	for _, c := range []struct {
		version string
		want    int
	}{{"1.5.0", 1}, {"2.1.0", 1}, {"2.4.1", 0}} {
		found, err := db.LookupPURL("pkg:npm/untar@" + c.version)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != c.want {
			t.Errorf("LookupPURL(untar@%s) = %s, want %d records", c.version, ids(found), c.want)
		}
	}
}

// TestLogFeedWarningsListsFirstIDs checks that the feed warning names at
// most maxLoggedIDs record IDs and counts the rest.
func TestLogFeedWarningsListsFirstIDs(t *testing.T) {
	ids := make([]string, maxLoggedIDs+2)
	for i := range ids {
		ids[i] = fmt.Sprintf("PM-%02d", i)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logFeedWarnings(logger, Feed{Kind: FeedOSV}, map[string][]string{reasonPURLMismatch: ids})

	out := logs.String()
	want := strings.Join(ids[:maxLoggedIDs], ",") + " and 2 more"
	if !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, ids[maxLoggedIDs]) {
		t.Errorf("log names %s, beyond the first %d IDs:\n%s", ids[maxLoggedIDs], maxLoggedIDs, out)
	}
	if want := "records=" + fmt.Sprint(len(ids)); !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
}

func TestBuildOrdersSubsecondTimes(t *testing.T) {
	// The stored form of a time drops a zero fraction, so "…:00Z" and
	// "…:00.5Z" are both possible, and the later one sorts first as text.
	osvDir, nvdDir := t.TempDir(), t.TempDir()
	writeFile(t, osvDir, "a.json", `{"id":"DEMO-1","modified":"2030-01-01T00:00:00.5Z","summary":"newer"}`)
	writeFile(t, osvDir, "b.json", `{"id":"DEMO-1","modified":"2030-01-01T00:00:00Z","summary":"older"}`)
	writeFile(t, osvDir, "c.json", `{"id":"GHSA-2030-0001","modified":"2030-01-01T00:00:00Z",`+
		`"published":"2030-01-01T00:00:00Z","aliases":["CVE-2030-0001"]}`)
	writeFile(t, nvdDir, "d.json", `{"cve":{"id":"CVE-2030-0001","lastModified":"2030-01-01T00:00:00.250",`+
		`"published":"2030-01-01T00:00:00.250"}}`)
	res, err := Build(context.Background(), BuildOptions{Created: testCreated, Feeds: []Feed{
		{Kind: FeedOSV, Path: osvDir}, {Kind: FeedNVD, Path: nvdDir}}})
	if err != nil {
		t.Fatal(err)
	}

	recs := allRecords(t, res)
	demo, ok := recs["DEMO-1"]
	if !ok {
		t.Fatalf("record DEMO-1 missing; records: %v", recs)
	}
	if demo.Summary != "newer" {
		t.Errorf("DEMO-1 summary = %q, want the copy modified half a second later", demo.Summary)
	}
	if demo.Modified != "2030-01-01T00:00:00.5Z" {
		t.Errorf("DEMO-1 modified = %s, want 2030-01-01T00:00:00.5Z", demo.Modified)
	}
	cve, ok := recs["CVE-2030-0001"]
	if !ok {
		t.Fatalf("record CVE-2030-0001 missing; records: %v", recs)
	}
	if cve.Published != "2030-01-01T00:00:00Z" {
		t.Errorf("CVE-2030-0001 published = %s, want the earlier 2030-01-01T00:00:00Z", cve.Published)
	}
	if cve.Modified != "2030-01-01T00:00:00.25Z" {
		t.Errorf("CVE-2030-0001 modified = %s, want the later 2030-01-01T00:00:00.25Z", cve.Modified)
	}
	for _, s := range res.Summary.Sources {
		if s.Kind == FeedOSV && !s.Snapshot.Equal(time.Date(2030, 1, 1, 0, 0, 0, 5e8, time.UTC)) {
			t.Errorf("osv snapshot = %s, want the newest modified time 2030-01-01T00:00:00.5Z", s.Snapshot)
		}
	}
}

func TestBuildKeepsHighestSchemaVersion(t *testing.T) {
	ghsaDir, osvDir := t.TempDir(), t.TempDir()
	writeFile(t, ghsaDir, "a.json", `{"schema_version":"1.10.0","id":"GHSA-2030-0001","modified":"2030-01-01T00:00:00Z"}`)
	writeFile(t, osvDir, "b.json", `{"schema_version":"1.7.3","id":"GHSA-2030-0001","modified":"2030-01-01T00:00:00Z"}`)
	res, err := Build(context.Background(), BuildOptions{Created: testCreated, Feeds: []Feed{
		{Kind: FeedGHSA, Path: ghsaDir}, {Kind: FeedOSV, Path: osvDir}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := allRecords(t, res)["GHSA-2030-0001"]
	if !ok {
		t.Fatal("record GHSA-2030-0001 missing")
	}
	if rec.SchemaVersion != "1.10.0" {
		t.Errorf("schema_version = %q, want 1.10.0, the higher in version order", rec.SchemaVersion)
	}
}
