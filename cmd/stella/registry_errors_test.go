package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
)

func unauthorizedResponse(t *testing.T) *errcode.ErrorResponse {
	t.Helper()
	u, err := url.Parse("http://127.0.0.1:5502/v2/stella/kit/manifests/B1?_state=secret")
	if err != nil {
		t.Fatal(err)
	}
	return &errcode.ErrorResponse{Method: http.MethodHead, URL: u, StatusCode: http.StatusUnauthorized,
		Errors: errcode.Errors{{Code: errcode.ErrorCodeUnauthorized, Message: "authentication required",
			Detail: []any{map[string]any{"Type": "repository", "Name": "stella/kit", "Action": "pull"}}}}}
}

func TestExplainUnauthorizedWithUser(t *testing.T) {
	r := &registryFlags{username: "alice", host: "127.0.0.1:5502"}
	err := r.explain(context.Background(), fmt.Errorf("resolving B1: %w", unauthorizedResponse(t)))
	msg := err.Error()
	for _, want := range []string{
		"the registry responded 401 Unauthorized (UNAUTHORIZED: authentication required)",
		"127.0.0.1:5502 rejected the credentials for user alice",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"map[", "_state", "secret"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message shows %q:\n%s", bad, msg)
		}
	}
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) {
		t.Errorf("explained error lost the registry response from its chain")
	}
}

func TestExplainUnauthorizedWithoutCredentials(t *testing.T) {
	r := &registryFlags{host: "127.0.0.1:5502"}
	msg := r.explain(context.Background(), unauthorizedResponse(t)).Error()
	if !strings.Contains(msg, "requires credentials") || strings.Contains(msg, "rejected") {
		t.Errorf("message for a request without credentials:\n%s", msg)
	}
}

func TestExplainPlainHTTPToTLS(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:5503/v2/k/kit/manifests/B1")
	resp := &errcode.ErrorResponse{Method: http.MethodHead, URL: u, StatusCode: http.StatusBadRequest}
	r := &registryFlags{plainHTTP: true, host: "127.0.0.1:5503"}
	msg := r.explain(context.Background(), resp).Error()
	if !strings.Contains(msg, "speaks HTTPS responds to plain HTTP with 400, so drop --plain-http") {
		t.Errorf("no --plain-http hint:\n%s", msg)
	}
	r.plainHTTP = false
	if msg := r.explain(context.Background(), resp).Error(); strings.Contains(msg, "--plain-http") {
		t.Errorf("hint about --plain-http, which was not given:\n%s", msg)
	}
}

func TestExplainNoCredentialHintForDigits(t *testing.T) {
	r := &registryFlags{host: "127.0.0.1:40123"}
	for _, msg := range []string{
		"GET https://127.0.0.1:40123/kit.tar: 127.0.0.1:40123 stopped answering: no bytes within 60s",
		"pushing blob sha256:0a401b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9: timed out",
	} {
		got := r.explain(context.Background(), errors.New(msg)).Error()
		if strings.Contains(got, "--username") {
			t.Errorf("credential advice for an error that is no 401:\n%s", got)
		}
	}
	got := r.explain(context.Background(), errors.New("GET https://127.0.0.1:8443/kit.tar: response status 401")).Error()
	if !strings.Contains(got, "--username") {
		t.Errorf("no credential advice for a web server's 401:\n%s", got)
	}
}

func TestExplainConnectionFailures(t *testing.T) {
	r := &registryFlags{host: "127.0.0.1:5999"}
	connectionRefused := fmt.Errorf("resolving 1: %w", &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}})
	got := r.explain(context.Background(), connectionRefused).Error()
	for _, want := range []string{"connection refused", "nothing accepts connections at 127.0.0.1:5999", "check the address and port"} {
		if !strings.Contains(got, want) {
			t.Errorf("refused connection: message lacks %q:\n%s", want, got)
		}
	}
	if !errors.Is(r.explain(context.Background(), connectionRefused), syscall.ECONNREFUSED) {
		t.Error("the explained error no longer wraps ECONNREFUSED")
	}

	unknownHost := fmt.Errorf("pushing: %w", &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "registry.example.test", IsNotFound: true}})
	r = &registryFlags{host: "registry.example.test:5000"}
	got = r.explain(context.Background(), unknownHost).Error()
	if !strings.Contains(got, "the host name of registry.example.test:5000 does not resolve") {
		t.Errorf("unknown host: message lacks the advice:\n%s", got)
	}
}

func TestExplainCAFileErrorOnce(t *testing.T) {
	r := &registryFlags{caFile: "junk.pem", host: "127.0.0.1:5443"}
	err := fmt.Errorf("--ca-file junk.pem contains no PEM certificate; pass a PEM file of CA certificates")
	msg := r.explain(context.Background(), err).Error()
	if strings.Contains(msg, "does not hold the CA") {
		t.Errorf("a CA file without a certificate is also said to hold the wrong CA:\n%s", msg)
	}
}

func TestExplainMissingCredentialHelper(t *testing.T) {
	r := &registryFlags{host: "127.0.0.1:5443"}
	err := fmt.Errorf("resolving 1: failed to resolve credential: %w",
		&exec.Error{Name: "docker-credential-site", Err: exec.ErrNotFound})
	msg := r.explain(context.Background(), err).Error()
	if !strings.Contains(msg, "credential helper that is not installed") {
		t.Errorf("no advice for a missing credential helper:\n%s", msg)
	}
}

func TestDamagedRegistryCopyAdvice(t *testing.T) {
	stored := fmt.Errorf("storing blob sha256:448d: content hashes to sha256:0da8: %w", errdef.ErrDigestMismatch)
	if msg := damagedRegistryCopy(stored).Error(); !strings.Contains(msg, "Import the kit file instead") {
		t.Errorf("no advice for a blob the store found damaged:\n%s", msg)
	}
	short := errors.New(`reading blob sha256:448d from the source: GET "http://127.0.0.1:5000/v2/k/blobs/sha256:448d": mismatch Content-Length`)
	if msg := damagedRegistryCopy(short).Error(); !strings.Contains(msg, "copy is damaged") {
		t.Errorf("no advice for a blob of another length:\n%s", msg)
	}
	other := errors.New("connection refused")
	if got := damagedRegistryCopy(other); got != other {
		t.Errorf("an unrelated error changed: %v", got)
	}
}

func TestExplainWebUnauthorized(t *testing.T) {
	const source = "https://files.test:8443/kits/kit.tar"
	for _, tc := range []struct {
		name   string
		flags  registryFlags
		status mirror.StatusError
		want   []string
		reject []string
	}{
		{"rejected user", registryFlags{username: "op", host: "files.test:8443"},
			mirror.StatusError{User: "op", Challenges: []string{"Basic"}},
			[]string{"files.test:8443 rejected the credentials for user op from --username and --password-stdin"},
			[]string{"none were sent"}},
		{"rejected config entry", registryFlags{config: "/etc/stella/config.json", host: "files.test:8443"},
			mirror.StatusError{User: "op", Challenges: []string{"Basic"}},
			[]string{"rejected the credentials for user op from --registry-config /etc/stella/config.json"},
			[]string{"none were sent"}},
		{"no credentials", registryFlags{config: "/etc/stella/config.json", host: "files.test:8443"},
			mirror.StatusError{Challenges: []string{"Basic"}},
			[]string{"files.test:8443 requires credentials (HTTP Basic)", "/etc/stella/config.json has none for it",
				"none were sent", "add an auths entry for files.test:8443"},
			[]string{"rejected"}},
		{"other scheme", registryFlags{username: "op", host: "files.test:8443"},
			mirror.StatusError{Challenges: []string{"Negotiate"}},
			[]string{"requests Negotiate authentication", "supports only Basic challenges", "no credentials were sent"},
			[]string{"rejected"}},
		{"no challenge", registryFlags{username: "op", host: "files.test:8443"},
			mirror.StatusError{},
			[]string{"sent no WWW-Authenticate challenge, so no credentials were sent"},
			[]string{"rejected"}},
		{"redirect", registryFlags{username: "op", host: "files.test:8443"},
			mirror.StatusError{Scheme: "https", Host: "cdn.files.test", Challenges: []string{"Basic"}},
			[]string{"redirected to https://cdn.files.test", "only to the scheme and host of the URL given"},
			[]string{"rejected"}},
		// Advising the http:// URL would send the password unencrypted.
		{"redirect to plain HTTP", registryFlags{username: "op", host: "files.test:8443"},
			mirror.StatusError{Scheme: "http", Host: "files.test:8081", Challenges: []string{"Basic"}},
			[]string{"redirected from https:// to http://files.test:8081", "never sends credentials over plain HTTP"},
			[]string{"give the URL of the redirect target", "rejected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status
			status.URL, status.Code, status.Status = source, http.StatusUnauthorized, "401 Unauthorized"
			if status.Host == "" {
				status.Scheme, status.Host = "https", "files.test:8443"
			}
			msg := tc.flags.explain(context.Background(), fmt.Errorf("importing: %w", &status)).Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			for _, bad := range tc.reject {
				if strings.Contains(msg, bad) {
					t.Errorf("message contains %q:\n%s", bad, msg)
				}
			}
		})
	}
}

func TestExplainServerError(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:5504/v2/stella/kit/manifests/latest")
	resp := &errcode.ErrorResponse{Method: http.MethodGet, URL: u, StatusCode: http.StatusServiceUnavailable,
		Errors: errcode.Errors{{Code: "UNAVAILABLE", Message: "storage back end down"}}}
	// The request went to another host than the one named, as a request to
	// a token service does.
	r := &registryFlags{host: "127.0.0.1:5505"}
	msg := r.explain(context.Background(), fmt.Errorf("resolving latest: %w", resp)).Error()
	for _, want := range []string{
		"GET http://127.0.0.1:5504/v2/stella/kit/manifests/latest: the registry responded 503 Service Unavailable " +
			"(UNAVAILABLE: storage back end down)",
		"127.0.0.1:5504 failed this request and each retry of it",
		"check the registry's logs and storage, then run the command again",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// A 408 or 429 without Retry-After, from a registry or a web server, gets
// a next step that fits the status, as a 5xx does.
func TestExplainRetryStatuses(t *testing.T) {
	u, err := url.Parse("http://127.0.0.1:5504/v2/stella/kit/manifests/latest")
	if err != nil {
		t.Fatal(err)
	}
	registryResponse := func(code int) error {
		return fmt.Errorf("resolving latest: %w", &errcode.ErrorResponse{Method: http.MethodGet, URL: u, StatusCode: code})
	}
	webResponse := func(code int) error {
		return fmt.Errorf("importing: %w", &mirror.StatusError{URL: "http://127.0.0.1:5506/kits/kit.tar", Code: code,
			Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), Scheme: "http", Host: "127.0.0.1:5506"})
	}
	r := &registryFlags{host: "127.0.0.1:5505"}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"registry 429", registryResponse(http.StatusTooManyRequests),
			[]string{"127.0.0.1:5504 limits the rate of requests", "wait a few minutes and run the command again",
				"raise the limit"}},
		{"registry 408", registryResponse(http.StatusRequestTimeout),
			[]string{"127.0.0.1:5504 timed out reading the request", "check the network and any proxy"}},
		{"web 429", webResponse(http.StatusTooManyRequests),
			[]string{"127.0.0.1:5506 limits the rate of requests", "wait a few minutes and run the command again",
				"raise the limit"}},
		{"web 408", webResponse(http.StatusRequestTimeout),
			[]string{"127.0.0.1:5506 timed out reading the request", "check the network and any proxy"}},
		{"web 503", webResponse(http.StatusServiceUnavailable),
			[]string{"127.0.0.1:5506 failed this request and each retry of it", "check the web server's logs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := r.explain(context.Background(), tc.err).Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

// A 503 with Retry-After gets the request line and the advice of a 503
// without it, and the request is named as METHOD URL without its query.
func TestExplainRetryAfterServerError(t *testing.T) {
	limited := &mirror.RetryAfterError{Code: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
		Detail: "UNAVAILABLE: storage back end down", Retried: true, Retries: 6,
		MinWaited: 100 * time.Millisecond, MaxWaited: 3 * time.Second}
	err := fmt.Errorf("resolving latest: %w", &url.Error{Op: "Get",
		URL: "http://127.0.0.1:5504/v2/stella/kit/manifests/latest?session=abc", Err: limited})
	r := &registryFlags{host: "127.0.0.1:5505"}
	msg := r.explain(context.Background(), err).Error()
	for _, want := range []string{
		"GET http://127.0.0.1:5504/v2/stella/kit/manifests/latest: the registry responded 503 Service Unavailable " +
			"(UNAVAILABLE: storage back end down) to every retry, although stella waited 100ms to 3s before each",
		"127.0.0.1:5504 failed this request and each retry of it: check the registry's logs and storage, then run the command again",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{`Get "`, "session=abc", "run the command again later"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message contains %q:\n%s", bad, msg)
		}
	}
}

// A request that the transport could not send again was sent once per
// attempt of the operation, so the advice does not speak of its retries.
func TestExplainRetryAfterSentOncePerAttempt(t *testing.T) {
	limited := &mirror.RetryAfterError{Code: http.StatusServiceUnavailable, Status: "503 Service Unavailable"}
	err := fmt.Errorf("pushing blob: %w", &url.Error{Op: "Put",
		URL: "http://127.0.0.1:5504/v2/site/scanner/blobs/uploads/1", Err: limited})
	r := &registryFlags{host: "127.0.0.1:5504"}
	msg := r.explain(context.Background(), err).Error()
	for _, want := range []string{
		"PUT http://127.0.0.1:5504/v2/site/scanner/blobs/uploads/1: the registry responded 503 Service Unavailable and requested a wait of 0s",
		"127.0.0.1:5504 failed this request in each of the 6 attempts of the operation, which sent it once per attempt",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "each retry of it") {
		t.Errorf("message speaks of retries of a request sent once per attempt:\n%s", msg)
	}
}
