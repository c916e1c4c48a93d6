package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestExpiredRegistryCertificateAdvice checks that a registry whose
// certificate expired is not blamed on the CA file.
func TestExpiredRegistryCertificateAdvice(t *testing.T) {
	e := newEnv(t)
	caFile, certFile, keyFile := writeTestCertificates(t, t.TempDir(), time.Now().Add(-24*time.Hour))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")

	kit := e.buildKit("kit.tar")
	for _, args := range [][]string{
		{"ouk", "push", "--ca-file", caFile, kit, host + "/k/kit:1"},
		{"ouk", "import", "--ca-file", caFile, "--key", e.pub, "oci://" + host + "/k/kit:1"},
	} {
		r := e.run(args...)
		if r.code == 0 {
			t.Errorf("%s with an expired registry certificate succeeded", args[1])
			continue
		}
		if !strings.Contains(r.stderr, "renew the certificate on the registry") {
			t.Errorf("%s with an expired registry certificate: no advice to renew it: %s", args[1], r.stderr)
		}
		if strings.Contains(r.stderr, "does not hold the CA") {
			t.Errorf("%s with an expired registry certificate blames the CA file: %s", args[1], r.stderr)
		}
	}
}
