package importer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
)

// deltaKit builds kit 1.0.0 (sequence 1) and from it kit 2.0.0 (sequence
// 2) with its delta, and returns the path of the delta file. The full kit
// 2.0.0 is 2.0.0.tar beside it.
func (f *fixture) deltaKit() string {
	f.t.Helper()
	f.kit("1.0.0", 1)
	out := filepath.Join(f.dir, "2.0.0.delta.tar")
	feeds := filepath.Join("..", "testdata", "feeds")
	_, err := build.Build(context.Background(), build.Options{
		Output:      filepath.Join(f.dir, "2.0.0.tar"),
		DeltaOutput: out,
		Base:        filepath.Join(f.dir, "1.0.0.tar"),
		Version:     "2.0.0",
		Sequence:    2,
		Created:     time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		Signer:      f.signer,
		Feeds: []vulndb.Feed{
			{Kind: "osv", Path: filepath.Join(feeds, "osv")},
			{Kind: "regional", Name: "demo-cert", Path: filepath.Join(feeds, "regional")},
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// importDeltaBothWays imports the delta file at path as a stream and as a
// layout folder, and returns the two errors.
func (f *fixture) importDeltaBothWays(path string, opts Options) (stream, dir error) {
	f.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	folder := filepath.Join(f.t.TempDir(), "layout")
	writeLayoutFolder(f.t.(*testing.T), raw, folder)
	_, stream = ImportStream(context.Background(), bytes.NewReader(raw), opts)
	_, dir = ImportDir(context.Background(), folder, opts)
	return stream, dir
}

func TestOldDeltaWithoutBaseIsDowngrade(t *testing.T) {
	f := newFixture(t)
	deltaPath := f.deltaKit()
	if _, err := ImportStream(context.Background(), bytes.NewReader(f.kit("3.0.0", 3)), f.opts()); err != nil {
		t.Fatal(err)
	}
	before := f.blobCount()

	stream, dir := f.importDeltaBothWays(deltaPath, f.opts())
	for name, err := range map[string]error{"stream": stream, "layout folder": dir} {
		if !errors.Is(err, errdef.ErrDowngrade) {
			t.Errorf("%s: err = %v, want ErrDowngrade", name, err)
		}
		if errors.Is(err, errdef.ErrBaseMissing) {
			t.Errorf("%s: err = %v, which still wraps ErrBaseMissing", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--allow-downgrade") {
			t.Errorf("%s: message does not give --allow-downgrade: %v", name, err)
		}
		// The delta lacks its base, so --allow-downgrade works only with
		// the full kit.
		if err != nil && !strings.Contains(err.Error(), "import the full kit 2.0.0 with --allow-downgrade") {
			t.Errorf("%s: message does not advise the full kit with --allow-downgrade: %v", name, err)
		}
	}
	if got := f.blobCount(); got != before {
		t.Errorf("store holds %d blobs after the rejections, want %d", got, before)
	}
}

func TestOldDeltaAllowDowngradeNeedsBase(t *testing.T) {
	f := newFixture(t)
	deltaPath := f.deltaKit()
	if _, err := ImportStream(context.Background(), bytes.NewReader(f.kit("3.0.0", 3)), f.opts()); err != nil {
		t.Fatal(err)
	}
	opts := f.opts()
	opts.AllowDowngrade = true
	stream, dir := f.importDeltaBothWays(deltaPath, opts)
	for name, err := range map[string]error{"stream": stream, "layout folder": dir} {
		if !errors.Is(err, errdef.ErrBaseMissing) {
			t.Errorf("%s: err = %v, want ErrBaseMissing", name, err)
		}
	}
}

func TestBaseMissingAdvisesFullKit(t *testing.T) {
	f := newFixture(t)
	deltaPath := f.deltaKit()
	opts := f.opts()
	opts.SourcePath = deltaPath
	stream, dir := f.importDeltaBothWays(deltaPath, opts)
	for name, err := range map[string]error{"stream": stream, "layout folder": dir} {
		if !errors.Is(err, errdef.ErrBaseMissing) {
			t.Fatalf("%s: err = %v, want ErrBaseMissing", name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "import kit 1.0.0 or its delta first") {
			t.Errorf("%s: message lost the advice to import the base: %s", name, msg)
		}
		if !strings.Contains(msg, "import the full kit 2.0.0") {
			t.Errorf("%s: message does not offer the full kit 2.0.0: %s", name, msg)
		}
		if !strings.HasSuffix(msg, ": "+errdef.ErrBaseMissing.Error()) {
			t.Errorf("%s: message does not end with the reason: %s", name, msg)
		}
	}
	if want := filepath.Join(f.dir, "2.0.0.tar"); !strings.Contains(stream.Error(), want) {
		t.Errorf("stream: message does not name the full kit file %s: %s", want, stream)
	}
	if f.blobCount() != 0 {
		t.Errorf("store holds %d blobs after the rejections, want 0", f.blobCount())
	}
}

// TestOldDeltaAfterGCAdvisesDowngrade checks the advice for an old delta
// whose kit the history lists but gc removed: rollback cannot reach that
// kit, so the rejection must advise --allow-downgrade alone.
func TestOldDeltaAfterGCAdvisesDowngrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	deltaPath := f.deltaKit()
	for _, kit := range []string{"1.0.0.tar", "2.0.0.tar"} {
		raw, err := os.ReadFile(filepath.Join(f.dir, kit))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ImportStream(ctx, bytes.NewReader(raw), f.opts()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ImportStream(ctx, bytes.NewReader(f.kit("3.0.0", 3)), f.opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GC(ctx, cas.GCOptions{KeepHistory: -1}); err != nil {
		t.Fatal(err)
	}

	stream, _ := f.importDeltaBothWays(deltaPath, f.opts())
	if !errors.Is(stream, errdef.ErrDowngrade) {
		t.Fatalf("err = %v, want ErrDowngrade", stream)
	}
	if strings.Contains(stream.Error(), "stella ouk rollback sha256") {
		t.Errorf("message advises a rollback to a kit that gc removed: %v", stream)
	}
	if !strings.Contains(stream.Error(), "the store does not hold this kit") {
		t.Errorf("message does not say that the store lacks the kit: %v", stream)
	}
}
