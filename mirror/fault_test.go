package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"stella-ops.org/ouk/mirror/testutil/faultproxy"
)

func TestFaultyRegistryPushImportMirror(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar.zst", "1.0.0", 1, "")
	backend := memRegistry(t, true)
	proxy, err := faultproxy.New("http://"+backend, 5,
		faultproxy.CutResponse, faultproxy.Status500, faultproxy.CutRequest, faultproxy.Status429)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")
	c := fastRetryClient(t, host)

	pushed := pushFile(t, c, kit, host+"/ouk:1")
	store := newStore(t)
	res, _ := importRef(t, c, store, f.keys, host+"/ouk:1")
	if res.Digest != pushed.Digest {
		t.Errorf("imported %s, pushed %s", res.Digest, pushed.Digest)
	}
	images, err := MirrorImages(context.Background(), store, bundleIndex(t, store, res.Digest), host+"/site",
		MirrorOptions{Repository: c.Repository})
	if err != nil {
		t.Fatalf("mirroring through the faulty proxy: %v", err)
	}
	if len(images) != 1 || images[0].Status != StatusPushed {
		t.Errorf("mirror result: %+v", images)
	}
	for kind, name := range map[faultproxy.Fault]string{faultproxy.CutResponse: "cut responses",
		faultproxy.Status500: "500 answers", faultproxy.CutRequest: "cut uploads", faultproxy.Status429: "429 answers"} {
		if proxy.Injected[kind].Load() == 0 {
			t.Errorf("proxy injected no %s", name)
		}
	}
}

// fastRetryClient returns a plain-HTTP client whose retries wait 1 ms.
func fastRetryClient(t *testing.T, hosts ...string) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{PlainHTTP: true, Hosts: hosts, RegistryConfig: t.TempDir() + "/config.json",
		Retry: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHTTPReaderResumes(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "kit.tar", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	proxy, err := faultproxy.New(srv.URL, 1, faultproxy.CutResponse)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	var ranges []string
	proxy.SetMatch(func(r *http.Request) bool {
		ranges = append(ranges, r.Header.Get("Range")+" "+r.Header.Get("If-Range"))
		// The proxy cuts the first response and faults a request only once.
		return true
	})
	c := fastRetryClient(t, strings.TrimPrefix(proxy.URL, "http://"))
	r, err := OpenHTTP(context.Background(), c.HTTP, proxy.URL+"/kits/kit.tar", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading through cuts: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, want %d identical ones", len(got), len(body))
	}
	if r.Resumes != 1 {
		t.Errorf("resumed %d times, want 1", r.Resumes)
	}
	if len(ranges) < 2 || !strings.HasPrefix(ranges[1], "bytes=") || !strings.HasSuffix(ranges[1], `"v1"`) {
		t.Errorf("second request headers %q, want a Range with If-Range", ranges)
	}
}

func TestHTTPReaderDetectsChange(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1<<20)
	// The file is replaced once the first request has arrived. Counting
	// requests, rather than changing the version when the first response
	// ends, keeps a retry that overtakes the cut response from seeing v1.
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version := `"v2"`
		if requests.Add(1) == 1 {
			version = `"v1"`
		}
		w.Header().Set("ETag", version)
		http.ServeContent(w, r, "kit.tar", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	proxy, err := faultproxy.New(srv.URL, 1, faultproxy.CutResponse)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	n := 0
	proxy.SetMatch(func(*http.Request) bool { n++; return n == 1 })
	c := fastRetryClient(t, strings.TrimPrefix(proxy.URL, "http://"))
	r, err := OpenHTTP(context.Background(), c.HTTP, proxy.URL+"/kit.tar", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("reading a file replaced mid-download: %v, want ErrChanged", err)
	}
}

func TestAirGapBlocksRedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("should not be reached"))
	}))
	defer other.Close()
	named := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/kit.tar", http.StatusFound)
	}))
	defer named.Close()
	rec := &recorder{}
	host := strings.TrimPrefix(named.URL, "http://")
	c, err := NewClient(ClientOptions{AirGap: true, Hosts: []string{host}, Transport: rec, Retry: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenHTTP(context.Background(), c.HTTP, named.URL+"/kit.tar", nil)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("redirect to another host: %v, want ErrHostNotAllowed", err)
	}
	if len(rec.hosts) != 1 || rec.hosts[0] != host {
		t.Errorf("transport saw %v, want only %s", rec.hosts, host)
	}
	if msg := err.Error(); strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "air-gap") {
		t.Errorf("error is not one line naming air-gap mode: %q", msg)
	}
}

func TestAirGapEnabled(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		{"STELLA_AIRGAP", "true", true}, {"STELLA_OFFLINE", "true", true},
		{"STELLA_AIRGAP", "false", false}, {"STELLA_OFFLINE", "", false},
		{"STELLA_AIRGAP", "on", true}, {"STELLA_OFFLINE", " Enabled ", true},
		{"STELLA_AIRGAP", "off", false}, {"STELLA_OFFLINE", "No", false},
		// A value of no known meaning fails closed.
		{"STELLA_AIRGAP", "sure", true}, {"STELLA_OFFLINE", "ture", true},
	} {
		t.Setenv("STELLA_AIRGAP", "")
		t.Setenv("STELLA_OFFLINE", "")
		t.Setenv(tc.name, tc.value)
		if got := AirGapEnabled(); got != tc.want {
			t.Errorf("%s=%q: AirGapEnabled() = %v", tc.name, tc.value, got)
		}
	}
}

func TestAirGapUnknownValueWarns(t *testing.T) {
	env := map[string]string{"STELLA_AIRGAP": "ture", "STELLA_OFFLINE": "false"}
	on, warnings := AirGapSettingIn(func(name string) string { return env[name] })
	if !on {
		t.Errorf("STELLA_AIRGAP=ture left air-gap mode off")
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q, want one", warnings)
	}
	for _, want := range []string{"STELLA_AIRGAP", `"ture"`, "air-gap mode is on"} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("warning %q does not contain %q", warnings[0], want)
		}
	}

	env = map[string]string{"STELLA_AIRGAP": "yes", "STELLA_OFFLINE": "off"}
	if _, warnings := AirGapSettingIn(func(name string) string { return env[name] }); len(warnings) != 0 {
		t.Errorf("known values gave warnings %q", warnings)
	}
}

func FuzzCheckContentRange(f *testing.F) {
	for _, s := range []string{"bytes 10-99/100", "bytes 0-0/1", "bytes */100", "items 1-2/3", ""} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, v string, off int64) {
		_ = checkContentRange(v, off)
	})
}

func FuzzSniffManifest(f *testing.F) {
	for _, s := range []string{`{"mediaType":"application/vnd.oci.image.index.v1+json"}`, `{}`, `[]`, `{"mediaType":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if mt := sniffManifest(b); mt != "" && !isManifest(mt) {
			t.Errorf("sniffed %q", mt)
		}
	})
}
