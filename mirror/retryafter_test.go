package mirror

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

func TestRequestPolicyHonoursRetryAfter(t *testing.T) {
	policy := requestPolicy{Policy: DefaultRetryPolicy}
	response := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	for _, tc := range []struct {
		name string
		resp *http.Response
		want time.Duration
	}{
		{"429 within the limit", response(http.StatusTooManyRequests, "30"), 30 * time.Second},
		{"503 within the limit", response(http.StatusServiceUnavailable, "20"), 20 * time.Second},
		{"429 at the limit", response(http.StatusTooManyRequests, "60"), RetryAfterMax},
		{"429 over the limit", response(http.StatusTooManyRequests, "61"), -1},
		{"429 as a date over the limit", response(http.StatusTooManyRequests, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.Retry(0, tc.resp, nil)
			if err != nil || got != tc.want {
				t.Errorf("Retry = %s, %v; want %s", got, err, tc.want)
			}
		})
	}

	// A date 40 s ahead is a wait of about 40 s, less the time the test takes.
	date := time.Now().Add(40 * time.Second).UTC().Format(http.TimeFormat)
	got, err := policy.Retry(0, response(http.StatusTooManyRequests, date), nil)
	if err != nil || got < 30*time.Second || got > 41*time.Second {
		t.Errorf("Retry with the date %s = %s, %v; want about 40s", date, got, err)
	}
	// Retry-After: 0 and no header leave the backoff of the base policy.
	for _, resp := range []*http.Response{response(http.StatusTooManyRequests, "0"), response(http.StatusTooManyRequests, "")} {
		got, err := policy.Retry(0, resp, nil)
		if err != nil || got < 100*time.Millisecond || got > 3*time.Second {
			t.Errorf("Retry with Retry-After %q = %s, %v; want the backoff of 100ms to 3s", resp.Header.Get("Retry-After"), got, err)
		}
	}
	// The base policy still ends the retries.
	if got, _ := policy.Retry(6, response(http.StatusTooManyRequests, "30"), nil); got >= 0 {
		t.Errorf("Retry after six retries = %s, want no retry", got)
	}
}

func TestRetryAfterOverLimitFailsAtOnce(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}`)
	}))
	defer srv.Close()

	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := NewClient(ClientOptions{PlainHTTP: true, Hosts: []string{host}, RegistryConfig: filepath.Join(t.TempDir(), "config.json")})
	if err != nil {
		t.Fatal(err)
	}
	repo := repository(t, c, host+"/ouk:1")
	err = withRetry(testContext(t), slog.New(slog.DiscardHandler), "resolve", func(int) error {
		_, rc, err := repo.FetchReference(testContext(t), "1")
		if err == nil {
			rc.Close()
		}
		return err
	})

	var limited *RetryAfterError
	if !errors.As(err, &limited) {
		t.Fatalf("resolve against a registry that requests an hour's wait: %v, want a RetryAfterError", err)
	}
	if limited.Wait != time.Hour {
		t.Errorf("error records a wait of %s, want 1h0m0s", limited.Wait)
	}
	if limited.Retried {
		t.Errorf("error records the request as retried, want not retried")
	}
	for _, want := range []string{"429 Too Many Requests (TOOMANYREQUESTS: rate limited)", "requested a wait of 1h0m0s",
		"longer than the 1m0s that stella waits", "run the command again after that time"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1: a wait over the limit is not retried", n)
	}
}

func TestIsTransientRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err  RetryAfterError
		want bool
	}{
		{RetryAfterError{Wait: 30 * time.Second}, true},
		{RetryAfterError{Wait: 30 * time.Second, Retried: true}, false},
		{RetryAfterError{Wait: 2 * time.Minute}, false},
	} {
		err := tc.err
		if got := isTransient(&err); got != tc.want {
			t.Errorf("isTransient(%+v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryAfterLongWaitsExact(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		text  string
	}{
		{"172800", 48 * time.Hour, "requested a wait of 48h0m0s"},
		{"9223372036", 9223372036 * time.Second, "requested a wait of 2562047h47m16s"},
		{"18446744073709551615", maxWait, "requested a wait of longer than 292 years"},
	} {
		resp := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {tc.value}}}
		got, ok := retryAfter(resp)
		if !ok || got != tc.want {
			t.Errorf("retryAfter(%q) = %s, %v; want %s", tc.value, got, ok, tc.want)
		}
		err := &RetryAfterError{Status: "503 Service Unavailable", Wait: got}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Retry-After %q: message %q lacks %q", tc.value, err, tc.text)
		}
		if err.Temporary() {
			t.Errorf("Retry-After %q counts as a wait that stella honours", tc.value)
		}
	}
	for _, value := range []string{"-5", "+5", "1.5", "soon", "3, 3"} {
		resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {value}}}
		if got, ok := retryAfter(resp); ok {
			t.Errorf("retryAfter(%q) = %s, want the value ignored", value, got)
		}
	}
}

func TestRetryAfterWaitLogged(t *testing.T) {
	var logged strings.Builder
	policy := requestPolicy{Policy: DefaultRetryPolicy, log: slog.New(slog.NewTextHandler(&logged, nil))}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/", nil)
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"2"}}, Request: req}
	if got, err := policy.Retry(0, resp, nil); err != nil || got != 2*time.Second {
		t.Fatalf("Retry = %s, %v; want 2s", got, err)
	}
	for _, want := range []string{"level=INFO", "Retry-After", "host=127.0.0.1:5000", "status=429", "wait=2s"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logged.String())
		}
	}
}

func TestIsTransientRegistryStatus(t *testing.T) {
	response := &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: http.StatusServiceUnavailable}
	if isTransient(fmt.Errorf("pushing blob: %w", response)) {
		t.Errorf("isTransient(503 response) = true, want false: the transport has retried the request")
	}
	if !isTransient(fmt.Errorf("pushing blob: %w", &retrySkippedError{response})) {
		t.Errorf("isTransient(503 response to an upload the transport could not retry) = false, want true")
	}
}

// A Retry-After shorter than the backoff leaves the backoff in place, so
// the message states the waits that stella used, not the requested 0s.
func TestRetryAfterZeroReportsBackoff(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := NewClient(ClientOptions{PlainHTTP: true, Hosts: []string{host}, Retry: fastPolicy(),
		RegistryConfig: filepath.Join(t.TempDir(), "config.json")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.HTTP.Get(srv.URL + "/v2/")
	var limited *RetryAfterError
	if !errors.As(err, &limited) {
		t.Fatalf("GET against a registry that responds 503 with Retry-After: 0: %v, want a RetryAfterError", err)
	}
	if limited.Retries != 6 {
		t.Errorf("error records %d retries, want 6", limited.Retries)
	}
	if limited.MinWaited != time.Millisecond || limited.MaxWaited != time.Millisecond {
		t.Errorf("error records waits of %s to %s, want 1ms, the backoff of the policy", limited.MinWaited, limited.MaxWaited)
	}
	for _, want := range []string{"stella waited 1ms before each", "the server requested 0s (Retry-After)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "waited 0s") {
		t.Errorf("error claims a wait of 0s:\n%s", err)
	}
	if n := requests.Load(); n != 7 {
		t.Errorf("server saw %d requests, want 7", n)
	}
}

func TestRetryAfterErrorWaitWording(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  RetryAfterError
		want string
	}{
		{"waited as requested", RetryAfterError{Status: "503 Service Unavailable", Wait: 20 * time.Second, Retried: true,
			Retries: 6, MinWaited: 20 * time.Second, MaxWaited: 20 * time.Second},
			"stella waited 20s before each, as the server requested (Retry-After)"},
		{"backoff over a short request", RetryAfterError{Status: "503 Service Unavailable", Wait: time.Second, Retried: true,
			Retries: 6, MinWaited: time.Second, MaxWaited: 3 * time.Second},
			"stella waited 1s to 3s before each; the server requested 1s (Retry-After)"},
		{"no retry before the deadline", RetryAfterError{Status: "503 Service Unavailable", Wait: 30 * time.Second, Retried: true},
			"would pass the deadline of the request, so stella sent no retry"},
	} {
		if got := tc.err.Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.name, got, tc.want)
		}
	}
}
