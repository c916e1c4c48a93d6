package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// cutAt is where resumeServer cuts its first response.
const cutAt = 1000

// resumeServer serves body with etag, unless it is empty, to the first
// request but cuts the response after cutAt bytes, and hands every later
// request to resume.
func resumeServer(t *testing.T, etag string, body []byte, resume http.HandlerFunc) *httptest.Server {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) > 1 {
			resume(w, r)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		// Returning before Content-Length bytes are written makes the
		// server close the connection, which the client reads as a cut.
		w.Write(body[:cutAt])
	}))
	t.Cleanup(srv.Close)
	return srv
}

// wholeFile responds with status 200 and content, ignoring any Range header.
func wholeFile(etag string, content []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content)
	}
}

// readResumed reads srv's file through OpenHTTP and returns what it read,
// the read error and the log.
func readResumed(t *testing.T, srv *httptest.Server) ([]byte, error, string) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c := fastRetryClient(t, strings.TrimPrefix(srv.URL, "http://"))
	r, err := OpenHTTP(testContext(t), c.HTTP, srv.URL+"/kit.tar", log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	return got, err, logs.String()
}

func TestHTTPReaderServerIgnoresRange(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for _, etag := range []string{`"v1"`, ""} {
		t.Run("etag="+etag, func(t *testing.T) {
			srv := resumeServer(t, etag, body, wholeFile(etag, body))
			got, err, logs := readResumed(t, srv)
			if err != nil {
				t.Fatalf("resuming from a server that ignores Range: %v", err)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("read %d bytes, want %d identical ones", len(got), len(body))
			}
			// A warning, so that it shows without -v: the bytes already
			// read are downloaded again.
			if !strings.Contains(logs, `level=WARN msg="server ignored the Range request`) {
				t.Errorf("log does not warn that the server ignored the Range request:\n%s", logs)
			}
			if !strings.Contains(logs, "offset="+strconv.Itoa(cutAt)) {
				t.Errorf("log does not name offset %d:\n%s", cutAt, logs)
			}
		})
	}
}

func TestHTTPReaderResumeErrors(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	altered := bytes.Clone(body)
	altered[10] = 'X'
	for _, tc := range []struct {
		name string
		// etag is the ETag of the first response.
		etag   string
		resume http.HandlerFunc
		// changed is whether the error wraps ErrChanged.
		changed bool
		want    []string
		notWant []string
	}{
		{
			name: "if-range failed",
			etag: `"v1"`,
			resume: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"v2"`)
				http.ServeContent(w, r, "kit.tar", time.Time{}, bytes.NewReader(body))
			},
			changed: true,
			want:    []string{`started with ETag "v1"`, `now sends ETag "v2"`, "run the import again"},
			notWant: []string{"Range"},
		},
		{
			name:    "whole file with other bytes",
			resume:  wholeFile("", altered),
			changed: true,
			want:    []string{"ignored the Range request", "first 1000 bytes differ", "run the import again"},
		},
		{
			name:    "whole file with other size",
			etag:    `"v1"`,
			resume:  wholeFile(`"v1"`, body[:500]),
			changed: true,
			want:    []string{"was 65536 bytes", "is now 500 bytes", "run the import again"},
			notWant: []string{"Range"},
		},
		{
			name: "range that starts elsewhere",
			etag: `"v1"`,
			resume: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Range", "bytes 0-65535/65536")
				w.WriteHeader(http.StatusPartialContent)
				w.Write(body)
			},
			want: []string{"request for bytes 1000-", `Content-Range "bytes 0-65535/65536"`,
				"run the import again", "server that supports Range requests"},
			notWant: []string{"changed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := resumeServer(t, tc.etag, body, tc.resume)
			_, err, _ := readResumed(t, srv)
			if err == nil {
				t.Fatal("read succeeded, want an error")
			}
			if errors.Is(err, ErrChanged) != tc.changed {
				t.Errorf("errors.Is(err, ErrChanged) = %v, want %v: %v", !tc.changed, tc.changed, err)
			}
			msg := err.Error()
			for _, want := range append(tc.want, srv.URL+"/kit.tar", "at byte 1000") {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			for _, unwanted := range tc.notWant {
				if strings.Contains(msg, unwanted) {
					t.Errorf("error names %q, which did not happen: %s", unwanted, msg)
				}
			}
		})
	}
}

// cutEveryResponse serves body, honouring Range when ranges is true, but
// writes at most chunk bytes of each response before cutting the
// connection. It counts the requests in requests.
func cutEveryResponse(t *testing.T, body []byte, chunk int, ranges bool, requests *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("ETag", `"v1"`)
		start := 0
		if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ranges && ok {
			n, err := strconv.Atoi(strings.TrimSuffix(v, "-"))
			if err != nil {
				t.Errorf("Range %q: %v", v, err)
				return
			}
			start = n
			w.Header().Set("Content-Range", "bytes "+strconv.Itoa(n)+"-"+strconv.Itoa(len(body)-1)+"/"+strconv.Itoa(len(body)))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)-start))
		if start > 0 {
			w.WriteHeader(http.StatusPartialContent)
		}
		// Returning before Content-Length bytes are written cuts the
		// connection.
		w.Write(body[start:min(start+chunk, len(body))])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPReaderSameCutWithoutRange(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var requests atomic.Int32
	srv := cutEveryResponse(t, body, cutAt, false, &requests)
	_, err, _ := readResumed(t, srv)
	var transfer *TransferError
	if !errors.As(err, &transfer) {
		t.Fatalf("read error %v, want a *TransferError", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error wraps io.ErrUnexpectedEOF, which callers read as a truncated file: %v", err)
	}
	if !errors.Is(err, errdef.ErrTransferFailed) {
		t.Errorf("error does not wrap errdef.ErrTransferFailed: %v", err)
	}
	want := int(requests.Load())
	if transfer.Attempts != want {
		t.Errorf("Attempts = %d, want %d, the number of requests sent", transfer.Attempts, want)
	}
	if transfer.Offset != cutAt || !transfer.RangeIgnored {
		t.Errorf("Offset = %d, RangeIgnored = %v; want %d and true", transfer.Offset, transfer.RangeIgnored, cutAt)
	}
	msg := err.Error()
	for _, s := range []string{srv.URL + "/kit.tar", "got no further than byte 1000", "last " + strconv.Itoa(want) + " requests",
		"none of the " + strconv.Itoa(want-1) + " retries made progress", "ignores Range requests",
		"run the import again", "server that supports Range requests", "import it from there"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error does not contain %q:\n%s", s, msg)
		}
	}
}

func TestHTTPReaderCutEveryRangeResponse(t *testing.T) {
	// Each response makes progress, so the reader never runs out of
	// attempts, however many cuts there are.
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var requests atomic.Int32
	srv := cutEveryResponse(t, body, cutAt, true, &requests)
	got, err, _ := readResumed(t, srv)
	if err != nil {
		t.Fatalf("reading from a server that honours Range but cuts every response: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("read %d bytes, want %d identical ones", len(got), len(body))
	}
	if n, least := int(requests.Load()), len(body)/cutAt; n < least {
		t.Errorf("%d requests, want at least %d", n, least)
	}
}

func TestHTTPReaderNotFoundAdvises(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := OpenHTTP(context.Background(), srv.Client(), srv.URL+"/nope.tar.zst", nil)
	if err == nil {
		t.Fatal("OpenHTTP of a missing file succeeded")
	}
	for _, want := range []string{"server responded 404", "check the URL", "200 OK", "Range requests",
		"copy the file to this host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestHTTPReaderResumesGzipEncodedFile(t *testing.T) {
	var payload bytes.Buffer
	for i := range 4000 {
		fmt.Fprintf(&payload, "line %d of the kit\n", i)
	}
	var stored bytes.Buffer
	zw := gzip.NewWriter(&stored)
	zw.Write(payload.Bytes())
	zw.Close()
	file := stored.Bytes()

	// The server keeps the file as a .tar.gz with Content-Encoding: gzip,
	// as object stores do, and sends that header with every response,
	// ranged or not. It cuts its first response after cutAt bytes.
	var (
		mu        sync.Mutex
		encodings []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		encodings = append(encodings, r.Header.Get("Accept-Encoding"))
		first := len(encodings) == 1
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Encoding", "gzip")
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(file)))
			w.Write(file[:cutAt])
			return
		}
		http.ServeContent(w, r, "kit.tar.gz", time.Time{}, bytes.NewReader(file))
	}))
	t.Cleanup(srv.Close)

	got, err, _ := readResumed(t, srv)
	if err != nil {
		t.Fatalf("resuming a gzip-encoded file: %v", err)
	}
	if !bytes.Equal(got, file) {
		t.Errorf("read %d bytes that differ from the %d stored bytes of the file", len(got), len(file))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(encodings) < 2 {
		t.Fatalf("server saw %d requests, want the cut one and a resumed one", len(encodings))
	}
	for i, enc := range encodings {
		if enc != "identity" {
			t.Errorf("request %d sent Accept-Encoding %q, want identity", i+1, enc)
		}
	}
}

// The client's transport retries a server error, so OpenHTTP must not run
// those retries again. A server that fails every request gets the
// transport's tries once, not once per attempt of OpenHTTP.
func TestHTTPReaderServerErrorTriedOnce(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	c := fastRetryClient(t, strings.TrimPrefix(srv.URL, "http://"))
	_, err := OpenHTTP(testContext(t), c.HTTP, srv.URL+"/kit.tar", nil)
	var status *StatusError
	if !errors.As(err, &status) || status.Code != http.StatusBadGateway {
		t.Fatalf("OpenHTTP error = %v, want the 502 status", err)
	}
	// fastPolicy allows 6 retries, so the server gets 7 requests.
	if n := requests.Load(); n != 7 {
		t.Errorf("server got %d requests, want 7 (one request and the transport's 6 retries)", n)
	}
}
