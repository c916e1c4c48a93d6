package mirror

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// WebClient returns the client for downloading source, an https:// or
// http:// URL, from a web server. It sends the operator's credentials for
// the host of source (--username, else the docker config file) only in
// response to a 401 with a Basic challenge from that scheme, host and
// port. A redirect to another host or to plain HTTP never carries them.
// After the first challenge, later requests to that host, such as the
// Range requests of a resumed download, carry the credentials at once.
func (c *Client) WebClient(source *url.URL) *http.Client {
	return &http.Client{Transport: &basicAuthTransport{
		base:       c.HTTP.Transport,
		origin:     originOf(source),
		host:       source.Host,
		credential: c.Auth.Credential,
		log:        c.opts.Logger,
	}}
}

// basicAuthTransport is a round tripper that responds to the Basic
// challenge of one origin with the credentials for its host.
type basicAuthTransport struct {
	base http.RoundTripper
	// origin is scheme://host:port of the source URL, the only origin that
	// receives credentials.
	origin string
	// host is the host[:port] of the source as the operator wrote it, the
	// key for the credential lookup.
	host       string
	credential auth.CredentialFunc
	log        *slog.Logger

	mu sync.Mutex
	// challenged is set once the origin sent a Basic challenge.
	challenged bool
	// warned is set once the warning about credentials over plain HTTP
	// was logged.
	warned bool
}

func (t *basicAuthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if originOf(req.URL) != t.origin || req.Header.Get("Authorization") != "" {
		return t.base.RoundTrip(req)
	}
	t.mu.Lock()
	challenged := t.challenged
	t.mu.Unlock()
	if challenged {
		if authed, ok := t.withCredentials(req); ok {
			return t.send(authed)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !hasBasicChallenge(resp.Header) {
		return resp, err
	}
	authed, ok := t.withCredentials(req)
	if !ok {
		return resp, nil
	}
	t.mu.Lock()
	t.challenged = true
	t.mu.Unlock()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.send(authed)
}

// send passes req, which carries credentials, to base and sets it as the
// Request of the response, so that callers can see that credentials were
// sent.
func (t *basicAuthTransport) send(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// withCredentials returns a copy of req with the credentials for the
// host, or nil and false when there are none, the lookup failed, or req
// has a body that cannot be sent again.
func (t *basicAuthTransport) withCredentials(req *http.Request) (*http.Request, bool) {
	cred, err := t.credential(req.Context(), t.host)
	if err != nil {
		t.log.Warn("reading the credentials for the web server failed; sending none", "host", t.host, "error", err)
		return nil, false
	}
	if cred.Username == "" && cred.Password == "" {
		return nil, false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return nil, false
	}
	out := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, false
		}
		out.Body = body
	}
	out.SetBasicAuth(cred.Username, cred.Password)
	if req.URL.Scheme == "http" {
		t.warnPlainHTTP(cred.Username)
	}
	return out, true
}

func (t *basicAuthTransport) warnPlainHTTP(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.warned {
		return
	}
	t.warned = true
	t.log.Warn("sending the password over plain HTTP, unencrypted, because the web server requested it; "+
		"anyone on the network path can read it, so serve the kit over https:// where credentials are needed",
		"host", t.host, "user", user)
}

// originOf returns scheme://host:port of u, with the default port of the
// scheme filled in and the host in lower case.
func originOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// challengeSchemes returns the authentication schemes that the
// WWW-Authenticate headers of h name, such as "Basic" or "Bearer".
func challengeSchemes(h http.Header) []string {
	var out []string
	for _, v := range h.Values("WWW-Authenticate") {
		// Challenges and their parameters are both separated by commas.
		// A part starts a challenge unless its first word is a parameter
		// name, which '=' follows, possibly after spaces.
		for _, part := range splitOutsideQuotes(v) {
			part = strings.TrimSpace(part)
			scheme, rest, _ := strings.Cut(part, " ")
			isParam := strings.Contains(scheme, "=") || strings.HasPrefix(strings.TrimLeft(rest, " "), "=")
			if scheme != "" && !isParam {
				out = append(out, scheme)
			}
		}
	}
	return out
}

// splitOutsideQuotes splits a header value at the commas that are not
// inside a quoted string.
func splitOutsideQuotes(v string) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// hasBasicChallenge reports whether h contains a Basic challenge.
func hasBasicChallenge(h http.Header) bool {
	for _, s := range challengeSchemes(h) {
		if strings.EqualFold(s, "Basic") {
			return true
		}
	}
	return false
}
