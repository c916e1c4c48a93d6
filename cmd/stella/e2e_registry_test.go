package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/mirror/testutil/faultproxy"
	"stella-ops.org/ouk/oci/layout"
)

const (
	registryUser     = "stella-ci"
	registryPassword = "s3cret-Registry-pw"
	scannerRef       = "example.test/stella-ops/scanner:0.1.0"
)

// testRegistry is a distribution registry process on loopback.
type testRegistry struct {
	host   string // 127.0.0.1:PORT
	caFile string // empty for plain HTTP
}

// startRegistry runs the distribution registry binary with filesystem
// storage, plain or with TLS from a test CA and htpasswd authentication.
// Deletes stay off, as in the registry's default configuration.
func startRegistry(t *testing.T, secure bool) *testRegistry {
	t.Helper()
	bin := toolPath(t, "registry")
	dir := t.TempDir()
	port := freePort(t)
	reg := &testRegistry{host: fmt.Sprintf("127.0.0.1:%d", port)}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"+
		"storage:\n  filesystem:\n    rootdirectory: %s\n"+
		"http:\n  addr: %s\n", filepath.Join(dir, "data"), reg.host)
	if secure {
		reg.caFile, cfg = writeTLSFiles(t, dir, cfg)
		hash, err := bcrypt.GenerateFromPassword([]byte(registryPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		writeFile(t, htpasswd, registryUser+":"+string(hash)+"\n")
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: stella-test\n    path: %s\n", htpasswd)
	}
	config := filepath.Join(dir, "config.yml")
	writeFile(t, config, cfg)
	cmd := exec.Command(bin, "serve", config)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitForRegistry(t, reg, &logs)
	return reg
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitForRegistry polls /v2/ until the registry responds.
func waitForRegistry(t *testing.T, reg *testRegistry, logs *bytes.Buffer) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	scheme := "http"
	if reg.caFile != "" {
		scheme = "https"
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(reg.caFile)
		pool.AppendCertsFromPEM(ca)
		client.Transport = &http.Transport{TLSClientConfig: tlsConfig(pool)}
	}
	for range 200 {
		resp, err := client.Get(scheme + "://" + reg.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("registry on %s did not start:\n%s", reg.host, logs.String())
}

// writeTLSFiles creates a test CA and a server certificate for 127.0.0.1,
// adds them to the registry config and returns the CA file.
func writeTLSFiles(t *testing.T, dir, cfg string) (string, string) {
	t.Helper()
	caFile, certFile, keyFile := writeTestCertificates(t, dir, time.Now().Add(24*time.Hour))
	cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
	return caFile, cfg
}

// writeTestCertificates writes a test CA and a server certificate for
// 127.0.0.1 that is valid until serverNotAfter, and returns the CA,
// certificate and key files.
func writeTestCertificates(t *testing.T, dir string, serverNotAfter time.Time) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stella test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: serverNotAfter.Add(-48 * time.Hour), NotAfter: serverNotAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, srvKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return caFile, certFile, keyFile
}

// registryDemoImage writes a two-platform demo image layout and returns its folder
// and the digests of the index and of each platform manifest.
func registryDemoImage(t *testing.T, dir string) (string, map[string]string) {
	t.Helper()
	bins := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		path := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"))
		writeFile(t, path, strings.Repeat("demo scanner for "+p+"\n", 500))
		bins[p] = path
	}
	out := filepath.Join(dir, "scanner-image")
	desc, err := layout.BuildDemoImage(context.Background(), bins, scannerRef, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", desc.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{"index": desc.Digest.String()}
	for _, m := range idx.Manifests {
		digests[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest.String()
	}
	return out, digests
}

// tool runs a peer tool and returns its trimmed stdout.
func tool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(toolPath(t, name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func decodeImport(t *testing.T, out string) importer.Result {
	t.Helper()
	var res importer.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding import result: %v\n%s", err, out)
	}
	return res
}

func TestRegistryTLSAuthPushImportMirror(t *testing.T) {
	reg := startRegistry(t, true)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar.zst", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	kit2 := e.buildKit("kit2.tar.zst", "--version", "2.0.0", "--sequence", "2", "--image", scannerRef+"="+image,
		"--base", kit1)
	auth := []string{"--ca-file", reg.caFile, "-u", registryUser, "--password-stdin"}
	pw := []byte(registryPassword + "\n")
	var outputs []string
	mustIn := func(args ...string) string {
		t.Helper()
		r := e.runIn(pw, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		if r.code != 0 {
			t.Fatalf("stella %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}

	mustIn(append([]string{"ouk", "push"}, append(auth, kit1, reg.host+"/stella-ops/ouk:1.0.0")...)...)
	res1 := decodeImport(t, mustIn(append([]string{"ouk", "import", "--key", e.pub, "-o", "json"},
		append(auth, "oci://"+reg.host+"/stella-ops/ouk:1.0.0")...)...))
	if res1.Version != "1.0.0" || res1.BlobsStored == 0 || res1.SignedBy == "" {
		t.Fatalf("import of kit 1 from the registry: %+v", res1)
	}
	if got := e.activeDigest(); got != res1.Digest {
		t.Fatalf("active kit %s after import of %s", got, res1.Digest)
	}

	// A newer kit moves only the blobs the store lacks.
	mustIn(append([]string{"ouk", "push"}, append(auth, kit2, reg.host+"/stella-ops/ouk:2.0.0")...)...)
	res2 := decodeImport(t, mustIn(append([]string{"ouk", "import", "--key", e.pub, "-o", "json"},
		append(auth, "oci://"+reg.host+"/stella-ops/ouk:2.0.0")...)...))
	if res2.Version != "2.0.0" || res2.BlobsSkipped == 0 {
		t.Errorf("import of kit 2: version %q, %d blobs skipped", res2.Version, res2.BlobsSkipped)
	}
	if res2.BlobsStored >= res1.BlobsStored || res2.BytesRead >= res1.BytesRead {
		t.Errorf("kit 2 moved %d blobs (%d bytes), kit 1 %d blobs (%d bytes); only missing blobs should move",
			res2.BlobsStored, res2.BytesRead, res1.BlobsStored, res1.BytesRead)
	}

	// Mirror the images with credentials from a docker config file.
	dockerDir := t.TempDir()
	authB64 := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + registryPassword))
	writeFile(t, filepath.Join(dockerDir, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, authB64))
	mirrorArgs := []string{"ouk", "mirror", "--key", e.pub, "--ca-file", reg.caFile, "--registry-config", filepath.Join(dockerDir, "config.json"),
		"--to", reg.host + "/site", "-o", "json"}
	var rep mirrorReport
	if err := json.Unmarshal([]byte(mustIn(mirrorArgs...)), &rep); err != nil {
		t.Fatal(err)
	}
	want := reg.host + "/site/stella-ops/scanner:0.1.0"
	if len(rep.Images) != 1 || rep.Images[0].Target != want || rep.Images[0].Digest != digests["index"] {
		t.Fatalf("mirror report %+v, want %s at %s", rep.Images, want, digests["index"])
	}
	if rep.Images[0].Status != mirror.StatusPushed {
		t.Errorf("first mirror status %q", rep.Images[0].Status)
	}
	craneEnv := []string{"DOCKER_CONFIG=" + dockerDir, "SSL_CERT_FILE=" + reg.caFile}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if got := tool(t, craneEnv, "crane", "digest", "--platform", p, want); got != digests[p] {
			t.Errorf("crane digest --platform %s = %s, want %s", p, got, digests[p])
		}
	}
	if got := tool(t, craneEnv, "crane", "digest", want); got != digests["index"] {
		t.Errorf("crane digest = %s, want %s", got, digests["index"])
	}
	if err := json.Unmarshal([]byte(mustIn(mirrorArgs...)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Images[0].Status != mirror.StatusPresent || rep.Images[0].BlobsPushed != 0 {
		t.Errorf("second mirror pushed again: %+v", rep.Images[0])
	}

	// A wrong password fails without showing any password.
	r := e.runIn([]byte("wrong-"+registryPassword+"\n"), append([]string{"ouk", "import", "--key", e.pub},
		append(auth, "oci://"+reg.host+"/stella-ops/ouk:1.0.0")...)...)
	if r.code == 0 {
		t.Errorf("import with a wrong password succeeded")
	}
	outputs = append(outputs, r.stdout, r.stderr)
	for _, out := range outputs {
		if strings.Contains(out, registryPassword) || strings.Contains(out, authB64) {
			t.Fatalf("output shows the registry password:\n%s", out)
		}
	}
}

func TestRegistryPlainInteropAndFaults(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	kit2 := e.buildKit("kit2.tar.zst", "--version", "2.0.0", "--sequence", "2", "--image", scannerRef+"="+image)

	var pushed mirror.PushResult
	out := e.must("ouk", "push", "--plain-http", "-o", "json", kit1, reg.host+"/ouk:1.0.0")
	if err := json.Unmarshal([]byte(out), &pushed); err != nil {
		t.Fatal(err)
	}
	// distribution has no referrers API: the sha256-<hex> tag carries them.
	fallback := "sha256-" + strings.TrimPrefix(pushed.Digest, "sha256:")
	if got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/ouk:"+fallback); got == "" {
		t.Errorf("no referrers tag %s", fallback)
	}
	if got := tool(t, nil, "crane", "digest", "--insecure", reg.host+"/ouk:1.0.0"); got != pushed.Digest {
		t.Errorf("crane sees %s, stella pushed %s", got, pushed.Digest)
	}
	if got := tool(t, nil, "oras", "resolve", "--plain-http", reg.host+"/ouk:1.0.0"); got != pushed.Digest {
		t.Errorf("oras resolves %s, stella pushed %s", got, pushed.Digest)
	}
	discover := tool(t, nil, "oras", "discover", "--plain-http", "--format", "json", reg.host+"/ouk:1.0.0")
	for _, at := range []string{"application/vnd.dev.sigstore.bundle.v0.3+json", "application/spdx+json"} {
		if !strings.Contains(discover, at) {
			t.Errorf("oras discover lists no %s referrer:\n%s", at, discover)
		}
	}

	// A kit copied by oras from a layout folder imports from the registry.
	layoutDir := filepath.Join(e.dir, "kit1-layout")
	untarKit(t, kit1, layoutDir)
	tool(t, nil, "oras", "cp", "-r", "--from-oci-layout", layoutDir+":1.0.0", "--to-plain-http", reg.host+"/copied:1.0.0")
	res := decodeImport(t, e.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json", "oci://"+reg.host+"/copied:1.0.0"))
	if res.Digest != pushed.Digest || res.SignedBy == "" {
		t.Errorf("import of the oras copy: %+v", res)
	}

	// Through a proxy that cuts connections and responds 500 and 429, push,
	// import and mirror still complete.
	proxy, err := faultproxy.New("http://"+reg.host, 5,
		faultproxy.CutResponse, faultproxy.Status500, faultproxy.CutRequest, faultproxy.Status429)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	via := strings.TrimPrefix(proxy.URL, "http://")
	e.must("ouk", "push", "--plain-http", kit2, via+"/ouk:2.0.0")
	res2 := decodeImport(t, e.must("ouk", "import", "--plain-http", "--key", e.pub, "-o", "json", "oci://"+via+"/ouk:2.0.0"))
	if res2.Version != "2.0.0" || res2.BlobsSkipped == 0 {
		t.Errorf("import through the proxy: %+v", res2)
	}
	e.must("ouk", "mirror", "--key", e.pub, "--plain-http", "--to", via+"/site")
	if got := tool(t, nil, "crane", "digest", "--insecure", "--platform", "linux/arm64", reg.host+"/site/stella-ops/scanner:0.1.0"); got != digests["linux/arm64"] {
		t.Errorf("mirrored arm64 digest %s, want %s", got, digests["linux/arm64"])
	}
	if proxy.Total() == 0 {
		t.Errorf("the proxy injected no fault")
	}
}

// untarKit unpacks a plain kit tar into a layout folder.
func untarKit(t *testing.T, kit, dir string) {
	t.Helper()
	for _, e := range readTar(t, kit) {
		path := filepath.Join(dir, filepath.FromSlash(e.hdr.Name))
		if strings.HasSuffix(e.hdr.Name, "/") {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, string(e.data))
	}
}

func TestImportHTTPSResumes(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst", "--version", "1.0.0", "--sequence", "1")
	body, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	var cut atomic.Bool
	cut.Store(true)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"kit-1"`)
		if r.Header.Get("Range") == "" && cut.CompareAndSwap(true, false) {
			// Send half the kit, then drop the connection.
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "kit.tar.zst", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	caFile := filepath.Join(e.dir, "web-ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	res := decodeImport(t, e.must("ouk", "import", "--ca-file", caFile, "--key", e.pub, "-o", "json", srv.URL+"/kits/kit.tar.zst"))
	if res.Version != "1.0.0" {
		t.Fatalf("import over HTTPS: %+v", res)
	}
	if cut.Load() {
		t.Errorf("the server never cut the transfer")
	}
}

// redirectToUnnamedHost starts a server on 127.0.0.1 that redirects every
// request to a second server named localhost, and returns the first
// server's address and whether the second one was reached.
func redirectToUnnamedHost(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	reached := new(atomic.Bool)
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	t.Cleanup(other.Close)
	named := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/kit.tar", http.StatusFound)
	}))
	t.Cleanup(named.Close)
	return named.URL, reached
}

func TestAirGapBlocksUnnamedHost(t *testing.T) {
	e := newEnv(t)
	named, reached := redirectToUnnamedHost(t)
	t.Setenv("STELLA_AIRGAP", "true")
	r := e.run("ouk", "import", "--key", e.pub, named+"/kit.tar")
	if r.code == 0 {
		t.Fatalf("air-gap import followed a redirect to another host")
	}
	if reached.Load() {
		t.Errorf("the unnamed host was contacted")
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "air-gap mode") || !strings.Contains(msg, "localhost") {
		t.Errorf("air-gap error is not one line naming the blocked host:\n%s", r.stderr)
	}
}

// TestAirGapUnknownValueFailsClosed checks that a value of STELLA_AIRGAP
// that is neither true nor false turns air-gap mode on, with a warning.
func TestAirGapUnknownValueFailsClosed(t *testing.T) {
	e := newEnv(t)
	named, reached := redirectToUnnamedHost(t)
	t.Setenv("STELLA_AIRGAP", "enabeld")
	r := e.run("ouk", "import", "--key", e.pub, named+"/kit.tar")
	if r.code == 0 {
		t.Fatalf("import with STELLA_AIRGAP=enabeld followed a redirect to another host")
	}
	if reached.Load() {
		t.Errorf("the unnamed host was contacted with STELLA_AIRGAP=enabeld")
	}
	if !strings.Contains(r.stderr, "air-gap mode (STELLA_AIRGAP/STELLA_OFFLINE) blocked") {
		t.Errorf("the import was not blocked by air-gap mode:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `STELLA_AIRGAP is \"enabeld\"`) {
		t.Errorf("no warning names the unknown value:\n%s", r.stderr)
	}
}

func tlsConfig(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func TestAirGapRejectsUnnamedProxy(t *testing.T) {
	e := newEnv(t)
	// A proxy on loopback that counts connections and closes each one.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var connections atomic.Int32
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			conn.Close()
		}
	}()
	proxy := "http://" + listener.Addr().String()
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(name, proxy)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	t.Setenv("STELLA_AIRGAP", "true")

	// The registry host is never resolved: the request stops at the
	// proxy check, before any connection or name lookup.
	r := e.run("ouk", "import", "--key", e.pub, "oci://registry.intranet/stella/kit:1")
	if r.code == 0 {
		t.Fatalf("air-gap import through an unnamed proxy succeeded")
	}
	if n := connections.Load(); n != 0 {
		t.Errorf("the proxy %s received %d connections in air-gap mode", proxy, n)
	}
	msg := strings.TrimSpace(r.stderr)
	for _, want := range []string{"air-gap mode", "through the proxy " + listener.Addr().String(), "HTTPS_PROXY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("air-gap error lacks %q:\n%s", want, msg)
		}
	}
}
