package mirror

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// basicServer serves body to requests with the Basic credentials user and
// password, and responds to others with 401 and a Basic challenge. Its first
// authorized response is cut after cutAt bytes. It records for each
// request whether it carried an Authorization header.
type basicServer struct {
	*httptest.Server
	mu       sync.Mutex
	authSeen []bool
}

func newBasicServer(t *testing.T, user, password string, body []byte) *basicServer {
	t.Helper()
	s := &basicServer{}
	cut := true
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.authSeen = append(s.authSeen, r.Header.Get("Authorization") != "")
		s.mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="kits"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		s.mu.Lock()
		first := cut
		cut = false
		s.mu.Unlock()
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:cutAt])
			return
		}
		http.ServeContent(w, r, "kit.tar", testCreated, bytes.NewReader(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *basicServer) requests() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.authSeen...)
}

// dockerConfig writes a docker config file with Basic credentials for
// each host and returns its path.
func dockerConfig(t *testing.T, user, password string, hosts ...string) string {
	t.Helper()
	encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	var entries []string
	for _, h := range hosts {
		entries = append(entries, fmt.Sprintf("%q:{\"auth\":%q}", h, encoded))
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":{`+strings.Join(entries, ",")+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWebClientRespondsToBasicChallenge(t *testing.T) {
	body := bytes.Repeat([]byte("kit bytes "), 1000)
	for _, tc := range []struct {
		name string
		opts func(host string) ClientOptions
	}{
		{"username", func(host string) ClientOptions {
			return ClientOptions{Username: "op", Password: "secret", Hosts: []string{host},
				RegistryConfig: filepath.Join(t.TempDir(), "config.json"), Retry: fastPolicy()}
		}},
		{"registry config", func(host string) ClientOptions {
			return ClientOptions{RegistryConfig: dockerConfig(t, "op", "secret", host), Hosts: []string{host}, Retry: fastPolicy()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newBasicServer(t, "op", "secret", body)
			host := strings.TrimPrefix(srv.URL, "http://")
			c, err := NewClient(tc.opts(host))
			if err != nil {
				t.Fatal(err)
			}
			source, _ := url.Parse(srv.URL + "/kit.tar")
			r, err := OpenHTTP(testContext(t), c.WebClient(source), source.String(), nil)
			if err != nil {
				t.Fatalf("download with credentials: %v", err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, %v; want the %d bytes of the file", len(got), err, len(body))
			}
			if r.Resumes == 0 {
				t.Errorf("the download was not resumed, so the Range request went untested")
			}
			seen := srv.requests()
			if len(seen) < 3 {
				t.Fatalf("server saw %d requests, want the challenge, the first download and the resumed one: %v", len(seen), seen)
			}
			if seen[0] {
				t.Errorf("the first request carried credentials before any challenge")
			}
			for i, auth := range seen[1:] {
				if !auth {
					t.Errorf("request %d after the challenge carried no credentials", i+2)
				}
			}
		})
	}
}

func TestWebClientNoCredentialsAfterRedirect(t *testing.T) {
	body := []byte("kit")
	target := newBasicServer(t, "op", "secret", body)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/kit.tar", http.StatusFound)
	}))
	defer origin.Close()

	originHost := strings.TrimPrefix(origin.URL, "http://")
	targetHost := strings.TrimPrefix(target.URL, "http://")
	// The config has credentials for both hosts, and only the host in the
	// URL may receive them.
	c, err := NewClient(ClientOptions{RegistryConfig: dockerConfig(t, "op", "secret", originHost, targetHost),
		Hosts: []string{originHost}, Retry: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}

	source, _ := url.Parse(origin.URL + "/kit.tar")
	_, err = OpenHTTP(testContext(t), c.WebClient(source), source.String(), nil)
	var status *StatusError
	if !errors.As(err, &status) || status.Code != http.StatusUnauthorized {
		t.Fatalf("download redirected to a host that requires credentials: %v, want 401", err)
	}
	for i, auth := range target.requests() {
		if auth {
			t.Errorf("request %d to the redirect target carried credentials", i+1)
		}
	}
	if status.Host != targetHost {
		t.Errorf("status error names host %q, want %q", status.Host, targetHost)
	}
	if status.User != "" {
		t.Errorf("status error names user %q, want no user", status.User)
	}
	if len(status.Challenges) != 1 || status.Challenges[0] != "Basic" {
		t.Errorf("challenges %v, want [Basic]", status.Challenges)
	}
}

func TestWebClientReportsRejectedUser(t *testing.T) {
	srv := newBasicServer(t, "op", "secret", []byte("kit"))
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := NewClient(ClientOptions{Username: "op", Password: "wrong", Hosts: []string{host},
		RegistryConfig: filepath.Join(t.TempDir(), "config.json"), Retry: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	source, _ := url.Parse(srv.URL + "/kit.tar")
	_, err = OpenHTTP(testContext(t), c.WebClient(source), source.String(), nil)
	var status *StatusError
	if !errors.As(err, &status) || status.Code != http.StatusUnauthorized {
		t.Fatalf("download with a wrong password: %v, want 401", err)
	}
	if status.User != "op" {
		t.Errorf("status error names user %q, want op, whose credentials were sent", status.User)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("server saw %d requests, want the challenge and one try with credentials", n)
	}
}

func TestChallengeSchemes(t *testing.T) {
	for _, tc := range []struct {
		headers []string
		want    string
	}{
		{[]string{`Basic realm="kits"`}, "Basic"},
		{[]string{`Bearer realm="https://auth.example.test/token",service="files"`}, "Bearer"},
		{[]string{`Negotiate`, `basic realm="a, b"`}, "Negotiate basic"},
		{[]string{`Digest realm="x", qop="auth", Basic realm="y"`}, "Digest Basic"},
		{[]string{`Basic realm="say \"hi, there\"", charset="UTF-8"`}, "Basic"},
		{[]string{`Basic realm = "kits", charset = "UTF-8"`}, "Basic"},
		{nil, ""},
	} {
		h := http.Header{}
		for _, v := range tc.headers {
			h.Add("WWW-Authenticate", v)
		}
		if got := strings.Join(challengeSchemes(h), " "); got != tc.want {
			t.Errorf("challengeSchemes(%q) = %q, want %q", tc.headers, got, tc.want)
		}
	}
}
