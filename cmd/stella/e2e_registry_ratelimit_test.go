package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRegistryLongRetryAfterFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	var requests atomic.Int32
	// A registry that rate-limits every request and requests a wait of five
	// minutes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "300")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}`)
	}))
	defer srv.Close()

	host := strings.TrimPrefix(srv.URL, "http://")

	r := e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+host+"/stella/kit:latest")
	if r.code != exitError {
		t.Errorf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{"429 Too Many Requests (TOOMANYREQUESTS: rate limited)", "requested a wait of 5m0s",
		"longer than the 1m0s that stella waits", "run the command again after that time"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("registry saw %d requests, want 1: stella must not retry before the requested wait", n)
	}
}
