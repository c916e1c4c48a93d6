package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// A registry that fails every request with 503 and no Retry-After gets the
// tag lookup of an import once and six times more from the transport's
// retries, and the import then stops with advice.
func TestRegistryServerErrorSentSevenTimes(t *testing.T) {
	e := newEnv(t)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"storage back end down"}]}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	r := e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+host+"/stella/kit:latest")
	if r.code != exitError {
		t.Errorf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{
		"GET " + srv.URL + "/v2/stella/kit/manifests/latest: the registry responded 503 Service Unavailable " +
			"(UNAVAILABLE: storage back end down)",
		host + " failed this request and each retry of it",
		"then run the command again",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := requests.Load(); n != 7 {
		t.Errorf("registry got %d requests, want 7 (one request and the transport's 6 retries)", n)
	}
}

// A registry or web server that responds 429 without Retry-After, or 408,
// to every request gets advice that fits the status once the transport's
// retries are spent.
func TestImportRetryStatusAdvice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		web    bool
		want   string
	}{
		{"registry 429", http.StatusTooManyRequests, false, "limits the rate of requests"},
		{"web 429", http.StatusTooManyRequests, true, "limits the rate of requests"},
		{"web 408", http.StatusRequestTimeout, true, "timed out reading the request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")

			args := []string{"ouk", "import", "--key", e.pub}
			if tc.web {
				args = append(args, srv.URL+"/kits/kit.tar")
			} else {
				args = append(args, "--plain-http", "oci://"+host+"/stella/kit:latest")
			}
			r := e.run(args...)
			if r.code != exitError {
				t.Errorf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
			}
			if want := host + " " + tc.want; !strings.Contains(r.stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.stderr)
			}
			if n := requests.Load(); n != 7 {
				t.Errorf("server got %d requests, want 7 (one request and the transport's 6 retries)", n)
			}
		})
	}
}

// A blob upload is read from the store as it is sent, so the transport
// cannot send it again, and mirror runs the whole copy again instead. The
// error names the operation, the image and the target in stella's words,
// gives the request as METHOD URL with or without Retry-After, and states
// that the upload was sent once per attempt.
func TestMirrorUploadServerErrorWording(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	e.must("ouk", "import", "--key", e.pub, kit)

	backend, err := url.Parse("http://" + reg.host)
	if err != nil {
		t.Fatal(err)
	}
	for _, retryAfter := range []string{"", "0"} {
		t.Run("Retry-After "+retryAfter, func(t *testing.T) {
			rp := httputil.NewSingleHostReverseProxy(backend)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
					io.Copy(io.Discard, r.Body)
					if retryAfter != "" {
						w.Header().Set("Retry-After", retryAfter)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"storage back end down"}]}`)
					return
				}
				rp.ServeHTTP(w, r)
			}))
			defer srv.Close()
			proxy := strings.TrimPrefix(srv.URL, "http://")

			r := e.run("ouk", "mirror", "--key", e.pub, "--plain-http", "--to", proxy+"/site")
			if r.code != exitError {
				t.Errorf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
			}
			target := proxy + "/site/stella-ops/scanner"
			for _, want := range []string{
				"mirroring " + scannerRef + " to " + target + ":0.1.0",
				"pushing application/", " to " + target + ": ",
				"PUT http://" + proxy + "/v2/site/stella-ops/scanner/blobs/uploads/",
				"the registry responded 503 Service Unavailable",
				proxy + " failed this request in each of the 6 attempts of the operation, which sent it once per attempt",
				"check the registry's logs and storage, then run the command again",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("error lacks %q:\n%s", want, r.stderr)
				}
			}
			for _, bad := range []string{"failed to perform", `Put "`, "each retry of it", "_state="} {
				if strings.Contains(r.stderr, bad) {
					t.Errorf("error contains %q:\n%s", bad, r.stderr)
				}
			}
		})
	}
}
