package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRegistryErrorsGiveNextStep(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0")

	// A TLS registry whose certificate comes from a CA the host does not trust.
	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsServer.Close()
	host := strings.TrimPrefix(tlsServer.URL, "https://")
	r := e.run("ouk", "push", kit, host+"/stella/kit:1")
	if r.code == 0 || !strings.Contains(r.stderr, "--ca-file") {
		t.Errorf("push to a registry with an unknown CA: exit %d, no --ca-file advice: %s", r.code, r.stderr)
	}

	// A registry that refuses the login.
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer denied.Close()
	host = strings.TrimPrefix(denied.URL, "http://")
	r = e.runIn([]byte("wrong\n"), "ouk", "push", "--plain-http", "--username", "alice", "--password-stdin", kit, host+"/stella/kit:1")
	if r.code == 0 || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("push with a refused login: exit %d, no credentials advice: %s", r.code, r.stderr)
	}

	if r := e.run("ouk", "push", "--username", "alice", kit, host+"/stella/kit:1"); r.code != exitUsage {
		t.Errorf("--username without --password-stdin: exit %d, want %d", r.code, exitUsage)
	}
}
