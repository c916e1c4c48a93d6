package mirror

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// setProxyEnv points the proxy variables of the environment at proxy,
// in both spellings that net/http reads, and clears NO_PROXY.
func setProxyEnv(t *testing.T, proxy string) {
	t.Helper()
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(name, proxy)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
}

func TestAirGapTransportRejectsUnnamedProxy(t *testing.T) {
	// The check below sends no request, so no proxy needs to listen at
	// this address.
	setProxyEnv(t, "http://127.0.0.1:9")
	opts := ClientOptions{AirGap: true, Hosts: []string{"registry.intranet"}}
	tr, err := opts.transport()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "https://registry.intranet/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := tr.Proxy(req)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("proxy for a named host in air-gap mode: %v, %v; want an error wrapping ErrHostNotAllowed", proxy, err)
	}
	for _, want := range []string{"proxy 127.0.0.1:9", "from HTTPS_PROXY", "registry.intranet", "NO_PROXY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}

	// A proxy whose host is named on the command line stays in use.
	opts.Hosts = append(opts.Hosts, "127.0.0.1:9")
	if tr, err = opts.transport(); err != nil {
		t.Fatal(err)
	}
	proxy, err = tr.Proxy(req)
	if err != nil || proxy == nil || proxy.Host != "127.0.0.1:9" {
		t.Errorf("proxy named on the command line: %v, %v; want 127.0.0.1:9", proxy, err)
	}

}

func TestAirGapProxyOtherPortNamed(t *testing.T) {
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY", "no_proxy"} {
		t.Setenv(name, "")
	}
	// Only the lower-case spelling is set. No request is sent, so nothing
	// needs to listen at either address.
	t.Setenv("http_proxy", "http://registry.intranet:5999")
	opts := ClientOptions{AirGap: true, Hosts: []string{"registry.intranet:8081"}}
	tr, err := opts.transport()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://registry.intranet:8081/kit.tar.zst", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Proxy(req)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("proxy on another port of a named host: %v, want ErrHostNotAllowed", err)
	}
	msg := err.Error()
	for _, want := range []string{"proxy registry.intranet:5999", "from http_proxy", "only as registry.intranet:8081",
		"compares the port too", "unset http_proxy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "not named") {
		t.Errorf("error calls the named host not named:\n%s", msg)
	}
}
