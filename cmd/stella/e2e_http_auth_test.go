package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestImportHTTPBasicAuth(t *testing.T) {
	e := newEnv(t)
	kit, err := os.ReadFile(e.buildKit("kit.tar.zst", "--version", "1.0.0", "--sequence", "1"))
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "op", "s3cret-web-pw"
	var (
		mu       sync.Mutex
		withAuth []bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		withAuth = append(withAuth, r.Header.Get("Authorization") != "")
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="kits"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		http.ServeContent(w, r, "kit.tar.zst", time.Time{}, bytes.NewReader(kit))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	source := srv.URL + "/kits/kit.tar.zst"
	requests := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		out := withAuth
		withAuth = nil
		return out
	}

	r := e.run("ouk", "import", "--key", e.pub, source)
	if r.code != exitError {
		t.Errorf("import without credentials: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{"401 Unauthorized", host + " requires credentials (HTTP Basic)", "none were sent"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error without credentials lacks %q:\n%s", want, r.stderr)
		}
	}
	requests()

	r = e.runIn([]byte("wrong-password\n"), "ouk", "import", "-u", user, "--password-stdin", "--key", e.pub, source)
	if r.code != exitError {
		t.Errorf("import with a wrong password: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	if want := host + " rejected the credentials for user op from --username"; !strings.Contains(r.stderr, want) {
		t.Errorf("error with a wrong password lacks %q:\n%s", want, r.stderr)
	}
	if seen := requests(); len(seen) != 2 || seen[0] || !seen[1] {
		t.Errorf("requests with credentials %v, want the challenge without, then one try with them", seen)
	}

	config := filepath.Join(e.dir, "config.json")
	encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	writeFile(t, config, fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, encoded))
	res := decodeImport(t, e.must("ouk", "import", "--registry-config", config, "--key", e.pub, "-o", "json", source))
	if res.Version != "1.0.0" {
		t.Errorf("import with credentials from --registry-config: %+v", res)
	}
	if seen := requests(); len(seen) < 2 || seen[0] {
		t.Errorf("requests with credentials %v, want none on the first request, before the challenge", seen)
	}

	r = e.runIn([]byte(password+"\n"), "ouk", "import", "-u", user, "--password-stdin", "--key", e.pub, source)
	if r.code != 0 {
		t.Fatalf("import with --username: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "over plain HTTP") {
		t.Errorf("no warning that the password went over plain HTTP:\n%s", r.stderr)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, password) || strings.Contains(out, encoded) {
			t.Errorf("output shows the password:\n%s", out)
		}
	}

	// Credentials in the URL stay rejected, and the message does not
	// repeat them.
	r = e.run("ouk", "import", "--key", e.pub, "http://"+user+":"+password+"@"+host+"/kits/kit.tar.zst")
	if r.code != exitUsage {
		t.Errorf("credentials in the URL: exit %d, want %d", r.code, exitUsage)
	}
	for _, want := range []string{"before its host " + host, "--username with --password-stdin", "auths entry for " + host} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error for credentials in the URL lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, password) {
		t.Errorf("error repeats the password from the URL:\n%s", r.stderr)
	}
}
