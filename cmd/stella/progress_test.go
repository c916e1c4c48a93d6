package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/schollz/progressbar/v3"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
)

func TestTerminalLinesEraseBar(t *testing.T) {
	var out bytes.Buffer
	lines := &terminalLines{w: &out}
	bar := progressbar.NewOptions64(100, progressbar.OptionSetWriter(lines.barWriter()),
		progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(0))
	log := slog.New(slog.NewTextHandler(lines, nil))

	bar.Add(10)
	log.Warn("first")
	log.Info("second")
	bar.Add(10)
	log.Info("third")

	// Each log line must begin at the start of a line: after a newline,
	// or after the erase sequence when the bar was drawn before it.
	logLines := 0
	for _, line := range strings.Split(out.String(), "\n") {
		at := strings.Index(line, "time=")
		if at < 0 {
			continue
		}
		logLines++
		if before := line[:at]; before != "" && !strings.HasSuffix(before, eraseLine) {
			t.Errorf("log line %q follows %q on the same line without erasing it", line[at:], before)
		}
	}
	if logLines != 3 {
		t.Errorf("output has %d log lines, want 3: %q", logLines, out.String())
	}
	if n := strings.Count(out.String(), eraseLine); n != 2 {
		t.Errorf("output erases the bar %d times, want 2 (once after each drawing): %q", n, out.String())
	}
}

func TestImportProgressStatusAfterRead(t *testing.T) {
	for _, size := range []int64{3000, -1} {
		var out syncBuffer
		lines := &terminalLines{w: &out}
		progress := newImportProgress(lines, strings.NewReader(strings.Repeat("x", 3000)), size)
		if _, err := io.Copy(io.Discard, progress); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(out.String(), eraseLine+"importing   read 2.9 KiB; syncing, verifying and indexing...") {
			t.Errorf("size %d: output after the read ends %q, want the status line", size, out.String())
		}
		progress.close()
		closed := out.String()
		if !strings.HasSuffix(closed, eraseLine) {
			t.Errorf("size %d: close leaves %q, want the status line erased", size, closed)
		}
		// The byte counter of an unknown size redraws itself on a timer
		// until it is finished.
		time.Sleep(250 * time.Millisecond)
		if after := out.String(); after != closed {
			t.Errorf("size %d: the bar drew %q after close", size, strings.TrimPrefix(after, closed))
		}
	}
}

func TestProgressLogEveryInterval(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	p := newProgressLog(newTextLogger(&out, slog.LevelInfo), "import in progress", 4<<20, 10*time.Second, clock,
		"source", "kit.tar")

	now = now.Add(9 * time.Second)
	p.add(1<<20, "")
	if out.Len() != 0 {
		t.Fatalf("logged before the interval passed: %q", out.String())
	}
	now = now.Add(time.Second)
	p.add(1<<20, "")
	want := `level=INFO msg="import in progress" source=kit.tar bytes="2.0 MiB" total="4.0 MiB" percent=50 rate="204.8 KiB/s"` + "\n"
	if out.String() != want {
		t.Errorf("first line %q, want %q", out.String(), want)
	}

	out.Reset()
	now = now.Add(5 * time.Second)
	p.add(512<<10, "sha256:0123")
	if out.Len() != 0 {
		t.Fatalf("logged 5s after the last line: %q", out.String())
	}
	// The rate counts the bytes since the last line over the time since
	// then, so a slower stretch shows as a lower rate.
	now = now.Add(15 * time.Second)
	p.add(0, "sha256:0123")
	want = `level=INFO msg="import in progress" source=kit.tar blob=sha256:0123 bytes="2.5 MiB" total="4.0 MiB" percent=62 rate="25.6 KiB/s"` + "\n"
	if out.String() != want {
		t.Errorf("second line %q, want %q", out.String(), want)
	}
}

func TestProgressLogUnknownTotal(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	p := newProgressLog(newTextLogger(&out, slog.LevelInfo), "push in progress", -1, time.Second,
		func() time.Time { return now })
	now = now.Add(2 * time.Second)
	p.add(4096, "sha256:abcd")
	want := `level=INFO msg="push in progress" blob=sha256:abcd bytes="4.0 KiB" rate="2.0 KiB/s"` + "\n"
	if out.String() != want {
		t.Errorf("line %q, want %q", out.String(), want)
	}
}

func TestTransferLogsNothingAfterClose(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	log := newProgressLog(newTextLogger(&out, slog.LevelInfo), "import in progress", -1, time.Second,
		func() time.Time { return now })
	tr := &transfer{verb: "importing", log: log}
	tr.close()
	now = now.Add(time.Minute)
	tr.add(100, "")
	if out.Len() != 0 {
		t.Errorf("a closed transfer logged %q", out.String())
	}
}

func TestNilTransferShowsNothing(t *testing.T) {
	var tr *transfer
	src := memory.New()
	if got := tr.storage(src); got != content.ReadOnlyStorage(src) {
		t.Errorf("storage of a nil transfer wraps its source")
	}
	r := strings.NewReader("kit")
	if got := tr.reader(r); got != io.Reader(r) {
		t.Errorf("reader of a nil transfer wraps its source")
	}
	if tr.importProgress() != nil {
		t.Errorf("importProgress of a nil transfer is not nil")
	}
	tr.restart()
	tr.stop()
}

func TestTransferStorageCountsBlobs(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	blob := []byte(strings.Repeat("layer", 100))
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	if err := src.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	log := newProgressLog(newTextLogger(&out, slog.LevelInfo), "mirror in progress", -1, time.Second,
		func() time.Time { return now })
	tr := &transfer{verb: "mirroring", log: log}

	counted := tr.storage(src)
	// Mirror finds the referrers of an image in the store through
	// content.PredecessorFinder.
	if _, ok := counted.(content.PredecessorFinder); !ok {
		t.Errorf("storage hides the PredecessorFinder of its source")
	}
	now = now.Add(2 * time.Second)
	got, err := content.FetchAll(ctx, counted, desc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, blob) {
		t.Errorf("fetched %q, want the blob", got)
	}
	if log.done != int64(len(blob)) {
		t.Errorf("counted %d bytes, want %d", log.done, len(blob))
	}
	if !strings.Contains(out.String(), "blob="+desc.Digest.String()) {
		t.Errorf("line %q does not name the blob", out.String())
	}
}

func TestShortDigest(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:0123456789abcdef0123": "sha256:0123456789ab",
		"sha256:0123":                 "sha256:0123",
		"":                            "",
	} {
		if got := shortDigest(in); got != want {
			t.Errorf("shortDigest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTransferRestartCountsFromZero(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	log := newProgressLog(newTextLogger(&out, slog.LevelInfo), "push in progress", 1000, time.Second,
		func() time.Time { return now })
	tr := &transfer{verb: "pushing", log: log}
	tr.add(600, "")
	// A push that failed on the network reads the kit file again.
	tr.restart()
	now = now.Add(2 * time.Second)
	tr.add(300, "")
	want := `level=INFO msg="push in progress" bytes="300 B" total="1000 B" percent=30 rate="150 B/s"` + "\n"
	if out.String() != want {
		t.Errorf("line after restart %q, want %q", out.String(), want)
	}
}
