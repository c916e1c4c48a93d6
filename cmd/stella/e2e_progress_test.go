package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci/layout"
)

// progressEnv makes the progress log lines due after 50 ms instead of the
// default interval, so that a transfer that a throttled server stretches
// over a few hundred milliseconds logs some.
var progressEnv = []string{progressIntervalEnv + "=50ms"}

// slowChunk and slowPause throttle the writes of the test servers. A
// pause follows every slowChunk bytes, so a transfer lasts at least
// slowPause times its number of chunks however fast the machine is.
const (
	slowChunk = 512
	slowPause = 5 * time.Millisecond
)

// slowWriter is a response writer that sends its body in small chunks
// with a pause after each.
type slowWriter struct{ http.ResponseWriter }

func (w slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), slowChunk)
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(slowPause)
		p = p[n:]
	}
	return written, nil
}

func (w slowWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// kitServer serves kit at every path on 127.0.0.1, through a slowWriter
// when slow is set. Without a length, the response is chunked.
func kitServer(t *testing.T, kit []byte, slow, withLength bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if withLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(kit)))
		}
		if slow {
			w = slowWriter{w}
		}
		w.Write(kit)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/kits/kit.tar"
}

// throttleProxy starts a proxy on 127.0.0.1 in front of the registry at
// host that holds each request for a while before forwarding it and
// sends the responses through a slowWriter. It returns the proxy's host
// and port.
func throttleProxy(t *testing.T, host string) string {
	t.Helper()
	backend, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		rp.ServeHTTP(slowWriter{w}, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// progressLogLines returns the lines of stderr that log msg.
func progressLogLines(stderr, msg string) []string {
	var lines []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) {
			lines = append(lines, line)
		}
	}
	return lines
}

// checkProgressLines fails the test unless stderr logs msg at least once,
// at info level, and each such line contains every string of want and
// none of notWant.
func checkProgressLines(t *testing.T, label, stderr, msg string, want, notWant []string) {
	t.Helper()
	lines := progressLogLines(stderr, msg)
	if len(lines) == 0 {
		t.Errorf("%s: stderr logs no %q line:\n%s", label, msg, stderr)
		return
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "level=INFO ") {
			t.Errorf("%s: progress line %q is not at info level", label, line)
		}
		for _, w := range append([]string{"bytes=", "rate="}, want...) {
			if !strings.Contains(line, w) {
				t.Errorf("%s: progress line %q lacks %q", label, line, w)
			}
		}
		for _, w := range notWant {
			if strings.Contains(line, w) {
				t.Errorf("%s: progress line %q contains %q", label, line, w)
			}
		}
	}
}

// checkNoProgressLines fails the test when stderr contains any progress
// log line.
func checkNoProgressLines(t *testing.T, label, stderr string) {
	t.Helper()
	if strings.Contains(stderr, ` in progress"`) {
		t.Errorf("%s: stderr logs progress:\n%s", label, stderr)
	}
}

// progressImage builds an image of two platforms with 256 KiB of random
// data each, so that its kit file is read in several pieces.
func progressImage(t *testing.T, dir string) string {
	t.Helper()
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		path := filepath.Join(dir, "progress-bin-"+strconv.Itoa(i))
		data := make([]byte, 256<<10)
		rand.NewChaCha8([32]byte{byte(i), 9}).Read(data)
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[platform] = path
	}
	out := filepath.Join(dir, "progress-image")
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := layout.BuildDemoImage(context.Background(), bins, scannerRef, created, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// An import from a slow web server logs its progress when stderr is not a
// terminal, with the total when the server sends a length, and -q, a
// fast server or -o json change nothing on stdout.
func TestImportHTTPLogsProgress(t *testing.T) {
	e := newEnv(t)
	kitPath := e.buildKit("kit.tar")
	kit, err := os.ReadFile(kitPath)
	if err != nil {
		t.Fatal(err)
	}
	slow := kitServer(t, kit, true, true)

	r := newEnv(t).runWithEnv(progressEnv, "ouk", "import", "--key", e.pub, "-o", "json", slow)
	if r.code != 0 {
		t.Fatalf("import from a slow server: exit %d\n%s", r.code, r.stderr)
	}
	if res := decodeImport(t, r.stdout); res.Version == "" {
		t.Errorf("import -o json printed no version: %s", r.stdout)
	}
	checkProgressLines(t, "slow server", r.stderr, "import in progress",
		[]string{"source=" + slow, `total="` + humanBytes(int64(len(kit))) + `"`, "percent="}, []string{"blob="})

	chunked := kitServer(t, kit, true, false)
	r = newEnv(t).runWithEnv(progressEnv, "ouk", "import", "--key", e.pub, chunked)
	if r.code != 0 {
		t.Fatalf("import of a chunked response: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "chunked response", r.stderr, "import in progress", []string{"source=" + chunked},
		[]string{"total=", "percent="})

	r = newEnv(t).runWithEnv(progressEnv, "-q", "ouk", "import", "--key", e.pub, slow)
	if r.code != 0 {
		t.Fatalf("import -q: exit %d\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("import -q wrote to stderr:\n%s", r.stderr)
	}

	r = newEnv(t).run("ouk", "import", "--key", e.pub, kitServer(t, kit, false, true))
	if r.code != 0 {
		t.Fatalf("import from a fast server: exit %d\n%s", r.code, r.stderr)
	}
	checkNoProgressLines(t, "fast server with the default interval", r.stderr)
}

// An import of a layout folder logs the blobs it reads.
func TestImportFolderLogsProgress(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "layout")
	untarKit(t, e.buildKit("kit.tar"), dir)

	r := e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, "ouk", "import", "--key", e.pub, dir)
	if r.code != 0 {
		t.Fatalf("import of a folder: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "layout folder", r.stderr, "import in progress", []string{"source=" + dir, "blob=sha256:"},
		[]string{"total="})
}

// Push, import and mirror through a slow registry log their progress, and
// -q or a fast registry log none.
func TestRegistryTransfersLogProgress(t *testing.T) {
	reg := startRegistry(t, false)
	slow := throttleProxy(t, reg.host)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--image", scannerRef+"="+progressImage(t, e.dir))
	info, err := os.Stat(kit)
	if err != nil {
		t.Fatal(err)
	}
	target := slow + "/stella/kit:1"

	r := e.runWithEnv(progressEnv, "ouk", "push", "--plain-http", "-o", "json", kit, target)
	if r.code != 0 {
		t.Fatalf("push of a kit file: exit %d\n%s", r.code, r.stderr)
	}
	var pushed mirror.PushResult
	if err := json.Unmarshal([]byte(r.stdout), &pushed); err != nil {
		t.Errorf("push -o json: %v\n%s", err, r.stdout)
	}
	checkProgressLines(t, "push of a kit file", r.stderr, "push in progress",
		[]string{"kit=" + kit, "target=" + target, `total="` + humanBytes(info.Size()) + `"`, "percent="}, nil)

	r = e.runWithEnv(progressEnv, "-q", "ouk", "push", "--plain-http", kit, slow+"/stella/quiet:1")
	if r.code != 0 {
		t.Fatalf("push -q: exit %d\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("push -q wrote to stderr:\n%s", r.stderr)
	}

	r = e.run("ouk", "push", "--plain-http", kit, reg.host+"/stella/fast:1")
	if r.code != 0 {
		t.Fatalf("push to a fast registry: exit %d\n%s", r.code, r.stderr)
	}
	checkNoProgressLines(t, "push with the default interval", r.stderr)

	r = e.runWithEnv(progressEnv, "ouk", "import", "--plain-http", "--key", e.pub, "oci://"+target)
	if r.code != 0 {
		t.Fatalf("import from the registry: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "import from the registry", r.stderr, "import in progress",
		[]string{"source=oci://" + target, "blob=sha256:"}, []string{"total="})

	r = e.runWithEnv(progressEnv, "ouk", "push", "--plain-http", "active", slow+"/stella/stored:1")
	if r.code != 0 {
		t.Fatalf("push of the active kit: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "push of the active kit", r.stderr, "push in progress",
		[]string{"kit=active", "blob=sha256:"}, []string{"total="})

	r = e.runWithEnv(progressEnv, "ouk", "mirror", "--key", e.pub, "--plain-http", "--to", slow+"/site")
	if r.code != 0 {
		t.Fatalf("mirror: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "mirror", r.stderr, "mirror in progress",
		[]string{"target=" + slow + "/site", "blob=sha256:"}, []string{"total="})
}

// Through the store service, the progress lines of an import go to the
// client's stderr, not to the service's log.
func TestServiceImportLogsProgress(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1"))
	kit, err := os.ReadFile(e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve"}
	svc := e.startBackground(exec.Command(stellaBin, "--store", e.store, "serve"), args, progressEnv...)
	waitForLog(t, &svc.stderr, svc.exited, "store service started")
	slow := kitServer(t, kit, true, true)

	r := e.run("ouk", "import", "--key", e.pub, slow)
	if r.code != 0 {
		t.Fatalf("import through the service: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "import through the service", r.stderr, "import in progress",
		[]string{"source=" + slow, "total="}, nil)
	svc.stopService(t, e.store)
	if log := svc.stderr.String(); strings.Contains(log, "in progress") {
		t.Errorf("the service logged the progress of its client:\n%s", log)
	}
}

// Writing a delta logs the blobs of the new kit that it reads.
func TestDeltaLogsProgress(t *testing.T) {
	e := newEnv(t)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	out := filepath.Join(e.dir, "delta.tar")

	r := e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, "ouk", "delta", "--from", kit1, "--to", kit2, "-o", out,
		"--key", e.key)
	if r.code != 0 {
		t.Fatalf("delta: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "delta", r.stderr, "delta in progress", []string{"output=" + out, "blob=sha256:"},
		[]string{"total="})
}

// stageLines returns the lines of stderr that log the build stage stage,
// joined by newlines.
func stageLines(stderr string, stage build.Stage) string {
	var lines []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `stage="`+string(stage)+`"`) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// A build logs the feeds it reads and the blobs it writes to the kit and
// the delta, with the total of each file, and -q, the default interval or
// --format json change nothing on stdout.
func TestBuildLogsProgress(t *testing.T) {
	e := newEnv(t)
	feeds := filepath.Join(repoRoot(t), "testdata", "feeds")
	image := progressImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	kit2 := filepath.Join(e.dir, "kit2.tar")
	args := []string{"ouk", "build", "-o", kit2, "--version", "2.0.0", "--sequence", "2", "--key", e.key,
		"--feed", "osv=" + filepath.Join(feeds, "osv"), "--feed", "regional:demo-cert=" + filepath.Join(feeds, "regional"),
		"--image", scannerRef + "=" + image}

	r := e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, append(args, "--format", "json")...)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	var res build.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Errorf("build --format json: %v\n%s", err, r.stdout)
	}
	checkProgressLines(t, "feeds", stageLines(r.stderr, build.StageFeeds), "build in progress",
		[]string{"output=" + kit2, "feed="}, []string{"total=", "blob="})
	for _, feed := range []string{"feed=osv ", "feed=regional:demo-cert "} {
		if !strings.Contains(r.stderr, feed) {
			t.Errorf("build logs no progress line with %s:\n%s", feed, r.stderr)
		}
	}
	checkProgressLines(t, "kit", stageLines(r.stderr, build.StageKit), "build in progress",
		[]string{"output=" + kit2, "blob=sha256:", "total=", "percent="}, nil)
	if last := progressLogLines(stageLines(r.stderr, build.StageKit), "build in progress"); len(last) > 0 &&
		!strings.Contains(last[len(last)-1], "percent=100") {
		t.Errorf("the last line of the kit write is not at 100 percent: %s", last[len(last)-1])
	}

	deltaOut := filepath.Join(e.dir, "kit3.delta.tar")
	r = e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, "ouk", "build", "-o", deltaOut, "--version", "3.0.0",
		"--sequence", "3", "--key", e.key, "--base", kit1, "--delta", "--image", scannerRef+"="+image,
		"--feed", "osv="+filepath.Join(feeds, "osv"), "--feed", "regional:demo-cert="+filepath.Join(feeds, "regional"))
	if r.code != 0 {
		t.Fatalf("build --delta: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "kit of a delta build", stageLines(r.stderr, build.StageKit), "build in progress",
		[]string{"output=" + filepath.Join(e.dir, "kit3.tar"), "total="}, nil)
	checkProgressLines(t, "delta", stageLines(r.stderr, build.StageDelta), "build in progress",
		[]string{"output=" + deltaOut, "blob=sha256:", "total="}, nil)

	r = e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, append([]string{"-q"}, args...)...)
	if r.code != 0 {
		t.Fatalf("build -q: exit %d\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("build -q wrote to stderr:\n%s", r.stderr)
	}

	r = e.run(args...)
	if r.code != 0 {
		t.Fatalf("build with the default interval: exit %d\n%s", r.code, r.stderr)
	}
	checkNoProgressLines(t, "build with the default interval", r.stderr)
}

// A watch logs the progress of each kit it imports, a file with its total
// and a folder by blob, in the format of its other lines, and -q logs none.
func TestWatchLogsImportProgress(t *testing.T) {
	e := newEnv(t)
	file := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1")
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	drop := e.newDrop("drop", file)
	folder := filepath.Join(drop, "kit2")
	untarKit(t, e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2"), folder)

	r := e.runWithEnv([]string{progressIntervalEnv + "=1ns"}, "ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	checkLogLines(t, r.stderr)
	var fileLines, folderLines []string
	for _, line := range progressLogLines(r.stderr, "import in progress") {
		if !strings.Contains(line, " level=INFO ") {
			t.Errorf("progress line %q is not at info level", line)
		}
		switch {
		case strings.Contains(line, " path="+filepath.Join(drop, "kit1.tar")+" "):
			fileLines = append(fileLines, line)
		case strings.Contains(line, " path="+folder+" "):
			folderLines = append(folderLines, line)
		default:
			t.Errorf("progress line %q names neither kit", line)
		}
	}
	if len(fileLines) == 0 {
		t.Errorf("watch logs no progress of the kit file:\n%s", r.stderr)
	}
	for _, line := range fileLines {
		for _, want := range []string{"bytes=", `total="` + humanBytes(info.Size()) + `"`, "percent=", "rate="} {
			if !strings.Contains(line, want) {
				t.Errorf("progress line %q of the kit file lacks %q", line, want)
			}
		}
	}
	if len(folderLines) == 0 {
		t.Errorf("watch logs no progress of the kit folder:\n%s", r.stderr)
	}
	for _, line := range folderLines {
		for _, want := range []string{"blob=sha256:", "bytes=", "rate="} {
			if !strings.Contains(line, want) {
				t.Errorf("progress line %q of the kit folder lacks %q", line, want)
			}
		}
		if strings.Contains(line, "total=") {
			t.Errorf("progress line %q of the kit folder has a total", line)
		}
	}
	if got := e.status().Active; got == nil || got.Version != "2.0.0" {
		t.Errorf("active kit after the watch is %+v, want version 2.0.0", got)
	}

	quiet := newEnv(t)
	r = quiet.runWithEnv([]string{progressIntervalEnv + "=1ns"}, "-q", "ouk", "watch", "--once", "--key", e.pub, drop)
	if r.code != 0 {
		t.Fatalf("watch --once -q: exit %d\n%s", r.code, r.stderr)
	}
	checkNoProgressLines(t, "watch -q", r.stderr)
}

// The watch of a store service logs the progress of its imports in the
// service's log.
func TestServiceWatchLogsImportProgress(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	drop := e.newDrop("drop")
	args := []string{"serve", "--watch", drop, "--interval", "200ms", "--key", e.pub}
	svc := e.startBackground(exec.Command(stellaBin, append([]string{"--store", e.store}, args...)...), args,
		progressIntervalEnv+"=1ns")
	waitForLog(t, &svc.stderr, svc.exited, "store service started")
	dropped := filepath.Join(drop, "kit.tar")
	if err := os.Rename(kit, dropped); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, &svc.stderr, svc.exited, "kit imported")
	svc.stopService(t, e.store)

	lines := progressLogLines(svc.stderr.String(), "import in progress")
	if len(lines) == 0 {
		t.Errorf("the service logged no progress of the import:\n%s", svc.stderr.String())
	}
	for _, line := range lines {
		if !strings.Contains(line, " path="+dropped+" ") {
			t.Errorf("progress line %q does not name the kit %s", line, dropped)
		}
	}
}

// An export logs its progress against the bytes of the kit's blobs, to a
// file and to standard output alike, and -q logs none.
func TestExportLogsProgress(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1"))
	fast := []string{progressIntervalEnv + "=1ns"}

	out := filepath.Join(e.dir, "export.tar")
	r := e.runWithEnv(fast, "ouk", "export", "-o", out)
	if r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "export", r.stderr, "export in progress",
		[]string{"output=" + out, "blob=sha256:", "total=", "percent="}, nil)

	r = e.runWithEnv(fast, "ouk", "export", "-o", "-")
	if r.code != 0 {
		t.Fatalf("export -o -: exit %d\n%s", r.code, r.stderr)
	}
	checkProgressLines(t, "export -o -", r.stderr, "export in progress", []string{"output=-"}, nil)

	r = e.runWithEnv(fast, "-q", "ouk", "export", "-o", filepath.Join(e.dir, "quiet.tar"))
	if r.code != 0 {
		t.Fatalf("export -q: exit %d\n%s", r.code, r.stderr)
	}
	checkNoProgressLines(t, "export -q", r.stderr)
}
