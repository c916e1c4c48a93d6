package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/mirror"
)

// signatureProxy starts a proxy that forwards to the registry at host and
// hands each upload of a signature manifest to onSignature instead. It
// returns the proxy's host and port.
func signatureProxy(t *testing.T, host string, onSignature http.HandlerFunc) string {
	t.Helper()
	backend, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(backend)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if bytes.Contains(body, []byte("application/vnd.dev.sigstore.bundle")) {
				onSignature(w, r)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// denySignatureProxy forwards to the registry at host and rejects every
// upload of a signature manifest with 403, as a registry policy might.
func denySignatureProxy(t *testing.T, host string) string {
	t.Helper()
	return signatureProxy(t, host, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"signature rejected by test policy"}]}`)
	})
}

// pushFirstKit starts a registry, pushes kit 1.0.0 to its tag
// stella/kit:latest and builds kit 2.0.0 to push over it. It returns the
// env, the registry, the path of kit 2 and the result of the first push.
func pushFirstKit(t *testing.T) (e *env, reg *testRegistry, kit2 string, first mirror.PushResult) {
	t.Helper()
	reg = startRegistry(t, false)
	e = newEnv(t)
	kit1 := e.buildKit("kit1.tar.zst", "--version", "1.0.0", "--sequence", "1")
	kit2 = e.buildKit("kit2.tar.zst", "--version", "2.0.0", "--sequence", "2")
	if err := json.Unmarshal([]byte(e.must("ouk", "push", "--plain-http", "-o", "json", kit1, reg.host+"/stella/kit:latest")), &first); err != nil {
		t.Fatal(err)
	}
	return e, reg, kit2, first
}

func TestRegistryPushFailedSignatureKeepsTag(t *testing.T) {
	e, reg, kit2, first := pushFirstKit(t)

	via := denySignatureProxy(t, reg.host)
	r := e.run("ouk", "push", "--plain-http", kit2, via+"/stella/kit:latest")
	if r.code == 0 {
		t.Fatalf("push with a rejected signature succeeded:\n%s", r.stdout)
	}
	for _, want := range []string{"403 Forbidden", "tag " + via + "/stella/kit:latest was not moved", "still names " + first.Digest} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("push error lacks %q:\n%s", want, r.stderr)
		}
	}
	if got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/stella/kit:latest"); got != first.Digest {
		t.Errorf("tag names %s after the failed push, want kit 1 %s", got, first.Digest)
	}
	res := decodeImport(t, e.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json", "oci://"+reg.host+"/stella/kit:latest"))
	if res.Version != "1.0.0" || res.SignedBy == "" {
		t.Errorf("import through the tag after the failed push: %+v, want signed kit 1.0.0", res)
	}

	// Pushed again without the proxy, kit 2 gets its signature and the tag.
	var second mirror.PushResult
	if err := json.Unmarshal([]byte(e.must("ouk", "push", "--plain-http", "-o", "json", kit2, reg.host+"/stella/kit:latest")), &second); err != nil {
		t.Fatal(err)
	}
	if got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/stella/kit:latest"); got != second.Digest {
		t.Errorf("tag names %s after the second push of kit 2, want %s", got, second.Digest)
	}
	res = decodeImport(t, e.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json", "oci://"+reg.host+"/stella/kit:latest"))
	if res.Version != "2.0.0" || res.SignedBy == "" {
		t.Errorf("import of kit 2: %+v, want signed kit 2.0.0", res)
	}
}

func TestRegistryPushTruncatedKitNoRetry(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit, err := os.ReadFile(e.buildKit("kit.tar", "--version", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(e.dir, "truncated.tar")
	writeFile(t, truncated, string(kit[:len(kit)/2]))

	r := e.run("ouk", "push", "--plain-http", "-v", truncated, reg.host+"/stella/trunc:1")
	if r.code != exitRejected {
		t.Errorf("push of a truncated kit file: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "truncated; copy the kit file again") {
		t.Errorf("error lacks the advice for a truncated kit file:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "retrying") {
		t.Errorf("push retried reading a truncated kit file:\n%s", r.stderr)
	}
}

func TestRegistryPushInterruptedKeepsTag(t *testing.T) {
	e, reg, kit2, first := pushFirstKit(t)

	// A proxy that stalls the upload of the signature manifest until the
	// client gives up, so the interrupt lands between the bundle and the tag.
	held := make(chan struct{}, 1)
	via := signatureProxy(t, reg.host, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case held <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	})

	cmd := exec.Command(stellaBin, "--store", e.store, "ouk", "push", "--plain-http", kit2, via+"/stella/kit:latest")
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the push never uploaded its signature manifest:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("interrupted push exited with %d, want %d\n%s", code, exitInterrupted, stderr.String())
	}
	want := "Interrupted: tag " + via + "/stella/kit:latest was not moved and still names " + first.Digest
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("interrupt message lacks %q:\n%s", want, stderr.String())
	}
	if got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/stella/kit:latest"); got != first.Digest {
		t.Errorf("tag names %s after the interrupted push, want kit 1 %s", got, first.Digest)
	}
}
