package importer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// TestStreamIndexesLayersWhileReading checks that a tar stream indexes its
// DB layers before the stream ends and that finish counts all of them.
func TestStreamIndexesLayersWhileReading(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	index, err := s.readStream(ctx, bytes.NewReader(f.kit("1.0.0", 1)))
	if err != nil {
		t.Fatal(err)
	}
	early, err := s.indexer.wait()
	if err != nil {
		t.Fatal(err)
	}
	if early == 0 {
		t.Fatal("no DB layer was indexed while the stream was read")
	}
	res, err := s.finish(ctx, *index)
	if err != nil {
		t.Fatal(err)
	}
	if res.LayersIndexed != early {
		t.Errorf("%d DB layers indexed in all, %d of them while reading; the stream should index every layer", res.LayersIndexed, early)
	}

	// The same kit imported in one go gives the same count.
	fresh := newFixture(t)
	whole, err := ImportStream(ctx, bytes.NewReader(fresh.kit("1.0.0", 1)), fresh.opts())
	if err != nil {
		t.Fatal(err)
	}
	if whole.LayersIndexed != res.LayersIndexed {
		t.Errorf("ImportStream indexed %d DB layers, the session %d", whole.LayersIndexed, res.LayersIndexed)
	}
}

// TestRejectedStreamStopsIndexing rejects a kit for a stray blob after its
// DB layers arrived and checks that its blobs and index keys are gone.
func TestRejectedStreamStopsIndexing(t *testing.T) {
	f := newFixture(t)
	raw := appendTarBlob(t, f.kit("1.0.0", 1), []byte("not part of the kit"))
	_, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts())
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("err = %v, want ErrInvalidKit", err)
	}
	if !strings.Contains(err.Error(), "kit carries blob sha256:") {
		t.Errorf("error does not name the one stray blob in the singular: %v", err)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after a rejected import, want 0", n)
	}
	keys := 0
	err = f.store.KV(VulnDBNamespace).Scan(nil, func(k, v []byte) error { keys++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if keys != 0 {
		t.Errorf("lookup index holds %d keys after a rejected import, want 0", keys)
	}
}

// appendTarBlob returns the tar kit with one more blob at its end.
func appendTarBlob(t *testing.T, kit, blob []byte) []byte {
	t.Helper()
	return insertTarBlob(t, kit, blob, "")
}

// TestFailedImportLogsWarnings checks that a failed import, which returns
// no result, logs the warnings it gathered at warn level.
func TestFailedImportLogsWarnings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := ImportStream(ctx, bytes.NewReader(f.kit("2.0.0", 2)), f.opts()); err != nil {
		t.Fatal(err)
	}
	other := newFixture(t)
	var logged bytes.Buffer
	opts := f.opts()
	opts.InsecureSkipSignature = true
	opts.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, err := ImportStream(ctx, bytes.NewReader(other.kit("1.0.0", 1)), opts)
	if !errors.Is(err, errdef.ErrDowngrade) {
		t.Fatalf("err = %v, want ErrDowngrade", err)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "--insecure-skip-signature") {
		t.Errorf("log of the failed import does not warn about the skipped signature:\n%s", logged.String())
	}
}

// cancelOnMessage is a log handler that cancels an import when it logs
// the message msg.
type cancelOnMessage struct {
	msg    string
	cancel context.CancelFunc
}

func (h cancelOnMessage) Enabled(context.Context, slog.Level) bool { return true }

func (h cancelOnMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.cancel()
	}
	return nil
}

func (h cancelOnMessage) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h cancelOnMessage) WithGroup(string) slog.Handler { return h }

// TestCancelWhileIndexingKeepsBlobs cancels an import as it starts to index
// and checks that its blobs stay, so the next attempt reads none again.
func TestCancelWhileIndexingKeepsBlobs(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := f.opts()
	opts.Logger = slog.New(cancelOnMessage{msg: "kit verified", cancel: cancel})
	_, err := ImportDir(ctx, dir, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	storedBlobs := f.blobCount()
	if storedBlobs == 0 {
		t.Fatal("the cancelled import removed the blobs it had stored and checked")
	}
	if _, err := f.store.Active(context.Background()); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a kit is active after the cancelled import (err %v)", err)
	}

	res, err := ImportDir(context.Background(), dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsStored != 0 || res.BlobsSkipped != storedBlobs {
		t.Errorf("the next import stored %d blobs and skipped %d; want 0 and %d", res.BlobsStored, res.BlobsSkipped, storedBlobs)
	}
	if res.LayersIndexed == 0 {
		t.Error("the next import indexed no DB layer")
	}
}

// TestVerboseLogNamesIndexedLayers checks that the info log names each DB
// layer an import indexes, from a stream and from a layout folder.
func TestVerboseLogNamesIndexedLayers(t *testing.T) {
	f := newFixture(t)
	raw := f.kit("1.0.0", 1)
	var streamLog bytes.Buffer
	opts := f.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&streamLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := ImportStream(context.Background(), bytes.NewReader(raw), opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(streamLog.String(), `msg="DB layer indexed while the kit is read"`); n != res.LayersIndexed {
		t.Errorf("stream import logged %d indexed layers, indexed %d:\n%s", n, res.LayersIndexed, streamLog.String())
	}

	folder := newFixture(t)
	dir := filepath.Join(folder.dir, "layout")
	writeLayoutFolder(t, folder.kit("1.0.0", 1), dir)
	var dirLog bytes.Buffer
	opts = folder.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&dirLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err = ImportDir(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dirLog.String(), `msg="DB layer indexed"`); n != res.LayersIndexed {
		t.Errorf("folder import logged %d indexed layers, indexed %d:\n%s", n, res.LayersIndexed, dirLog.String())
	}
}

// TestSkippedSignatureNotLoggedAsVerified checks that the info log of an
// import with a skipped signature does not call the kit verified.
func TestSkippedSignatureNotLoggedAsVerified(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	var logged bytes.Buffer
	opts := f.opts()
	opts.InsecureSkipSignature = true
	opts.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, err := ImportStream(context.Background(), bytes.NewReader(other.kit("1.0.0", 1)), opts); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logged.String(), `msg="kit verified"`) {
		t.Errorf("log calls a kit with a skipped signature verified:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "without a valid signature") {
		t.Errorf("log does not say the signature was not verified:\n%s", logged.String())
	}
}
