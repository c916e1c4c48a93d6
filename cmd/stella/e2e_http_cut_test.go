package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestImportHTTPSameCutIsTransferFailure(t *testing.T) {
	e := newEnv(t)
	kit, err := os.ReadFile(e.buildKit("kit.tar"))
	if err != nil {
		t.Fatal(err)
	}
	cut := len(kit) / 2
	var requests atomic.Int32
	// The server ignores Range and cuts every response at the same byte,
	// so no retry gets further than the first request did.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(kit)))
		w.Write(kit[:cut])
	}))
	defer srv.Close()
	url := srv.URL + "/kits/kit.tar"

	r := e.runLimited(stallLimit, "ouk", "import", "--key", e.pub, url)
	if r.code != exitError {
		t.Errorf("exit %d, want %d, as for other network failures\nstderr: %s", r.code, exitError, r.stderr)
	}
	n := strconv.Itoa(int(requests.Load()))
	for _, want := range []string{url, "got no further than byte " + strconv.Itoa(cut), "last " + n + " requests",
		"made progress", "ignores Range requests", "run the import again",
		"server that supports Range requests", "copy the file to this host"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not contain %q:\n%s", want, r.stderr)
		}
	}
	for _, notWant := range []string{"truncated", "copy the kit file again"} {
		if strings.Contains(r.stderr, notWant) {
			t.Errorf("error calls the kit damaged with %q, but the transfer failed:\n%s", notWant, r.stderr)
		}
	}
	if active := e.activeDigest(); active != "" {
		t.Errorf("active kit %s after a failed import, want none", active)
	}
}

func TestImportHTTPGzipEncodedKitResumes(t *testing.T) {
	e := newEnv(t)
	kit, err := os.ReadFile(e.buildKit("kit.tar.gz", "--version", "1.0.0", "--sequence", "1"))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	// An object store that keeps the .tar.gz with Content-Encoding: gzip
	// sends that header with every response, and the first response is
	// cut in the middle.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Encoding", "gzip")
		if requests.Add(1) == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(kit)))
			w.Write(kit[:len(kit)/2])
			return
		}
		http.ServeContent(w, r, "kit.tar.gz", time.Time{}, bytes.NewReader(kit))
	}))
	defer srv.Close()

	res := decodeImport(t, e.must("ouk", "import", "--key", e.pub, "-o", "json", srv.URL+"/kits/kit.tar.gz"))
	if res.Version != "1.0.0" {
		t.Errorf("import of a gzip-encoded kit: %+v", res)
	}
	if n := requests.Load(); n < 2 {
		t.Errorf("server saw %d requests, so the download was never resumed", n)
	}
}
