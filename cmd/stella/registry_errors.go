package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"stella-ops.org/ouk/mirror"
)

// explainedError is an error whose message was rewritten for the operator.
// errors.Is and errors.As still see the original chain, so the exit code
// does not change.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

// explain rewrites the registry's error response in err in words and adds
// advice for common registry failures. It returns err unchanged when it
// has nothing to add.
func (r *registryFlags) explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var resp *errcode.ErrorResponse
	var limited *mirror.RetryAfterError
	var urlErr *url.Error
	switch {
	case errors.As(err, &resp) && resp.URL != nil:
		msg = strings.Replace(msg, resp.Error(), describeResponse(resp), 1)
	case errors.As(err, &limited) && errors.As(err, &urlErr):
		// An upload error may carry the URL without its query already.
		described := describeRetryAfter(urlErr, limited)
		for _, text := range []string{urlErr.Error(), fmt.Sprintf("%s %q: %v", urlErr.Op, withoutQuery(urlErr.URL), urlErr.Err)} {
			if strings.Contains(msg, text) {
				msg = strings.Replace(msg, text, described, 1)
				break
			}
		}
	}
	hint := r.hint(ctx, err, resp)
	if msg == err.Error() && hint == "" {
		return err
	}
	return &explainedError{msg: msg + hint, err: err}
}

// describeResponse writes an error response of a registry as one line:
// the request, the status, and each error code with its message. The
// detail of an error is kept only when it is text, because registries fill
// it with structures that print as Go values. The query string is left out
// of the URL, because an upload URL carries the registry's session state.
func describeResponse(resp *errcode.ErrorResponse) string {
	u := *resp.URL
	u.RawQuery = ""
	line := fmt.Sprintf("%s %s: the registry responded %d %s", resp.Method, u.String(), resp.StatusCode, http.StatusText(resp.StatusCode))
	var parts []string
	for _, e := range resp.Errors {
		part := e.Code
		if e.Message != "" {
			part += ": " + e.Message
		}
		if detail, ok := e.Detail.(string); ok && detail != "" {
			part += " (" + detail + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, "; ") + ")"
	}
	return line
}

// describeRetryAfter writes a 429 or 503 response with Retry-After, which
// net/http wraps in urlErr, in the form of describeResponse: the method in
// upper case and the URL without its query, then the status and the wait.
// A 503 that ends the retries loses its advice, which hint gives instead.
func describeRetryAfter(urlErr *url.Error, limited *mirror.RetryAfterError) string {
	text := limited.Error()
	if limited.Code >= 500 && limited.Wait <= mirror.RetryAfterMax {
		text = limited.Summary()
	}
	if isRegistryAPI(urlErr.URL) {
		text = strings.Replace(text, "the server responded", "the registry responded", 1)
	}
	return strings.ToUpper(urlErr.Op) + " " + withoutQuery(urlErr.URL) + ": " + text
}

// withoutQuery returns rawURL without its query, which for an upload URL
// carries the registry's session state.
func withoutQuery(rawURL string) string {
	before, _, _ := strings.Cut(rawURL, "?")
	return before
}

// isRegistryAPI reports whether rawURL is a path of the OCI distribution
// API, which starts with /v2/.
func isRegistryAPI(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && strings.HasPrefix(u.Path, "/v2/")
}

// status401 matches a 401 status on its own, not the digits 401 inside a
// digest or an upload URL.
var status401 = regexp.MustCompile(`\b401\b`)

// hint returns advice for err, or "" when it has none: rejected or
// missing credentials, an unknown certificate authority, a mismatch
// between --plain-http and the registry's protocol, a 408, 429 or server
// error of a registry or web server, a refused connection or a host name
// that does not resolve.
// resp is the registry's error response in err, or nil.
func (r *registryFlags) hint(ctx context.Context, err error, resp *errcode.ErrorResponse) string {
	msg := err.Error()
	var status *mirror.StatusError
	var limited *mirror.RetryAfterError
	var urlErr *url.Error
	switch {
	case resp != nil && resp.StatusCode == http.StatusUnauthorized:
		return r.unauthorizedHint(ctx)
	case errors.As(err, &status) && status.Code == http.StatusUnauthorized:
		return r.webUnauthorizedHint(status)
	case resp != nil && resp.StatusCode == http.StatusBadRequest && r.plainHTTP && len(resp.Errors) == 0:
		// A Go TLS server responds to a plain HTTP request with a bare 400.
		return "; a registry that speaks HTTPS responds to plain HTTP with 400, so drop --plain-http"
	case resp != nil && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout ||
		resp.StatusCode == http.StatusTooManyRequests):
		// The response may come from a token service on another host than
		// the registry, so the hint names the host of the request.
		host := r.hostOr("the registry")
		if resp.URL != nil && resp.URL.Host != "" {
			host = resp.URL.Host
		}
		return retriedStatusHint(resp.StatusCode, host, "the registry's logs and storage", mirror.SentOncePerAttempt(err))
	case errors.As(err, &status) && (status.Code >= 500 || status.Code == http.StatusRequestTimeout ||
		status.Code == http.StatusTooManyRequests):
		host := status.Host
		if host == "" {
			host = r.hostOr("the web server")
		}
		return retriedStatusHint(status.Code, host, "the web server's logs", mirror.SentOncePerAttempt(err))
	case errors.As(err, &limited) && limited.Code >= 500 && limited.Wait <= mirror.RetryAfterMax:
		host, logs := r.hostOr("the server"), "the web server's logs"
		if errors.As(err, &urlErr) {
			if u, err := url.Parse(urlErr.URL); err == nil && u.Host != "" {
				host = u.Host
			}
			if isRegistryAPI(urlErr.URL) {
				logs = "the registry's logs and storage"
			}
		}
		return retriedStatusHint(limited.Code, host, logs, mirror.SentOncePerAttempt(err))
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return r.unauthorizedHint(ctx)
	case r.caFile != "" && strings.Contains(msg, "--ca-file "+r.caFile):
		// The error is about the CA file itself, such as one without a
		// certificate, and gives its own advice.
		return ""
	case strings.Contains(msg, "docker-credential-") && strings.Contains(msg, "executable file not found"):
		return "; the registry config names a credential helper that is not installed on this host: install " +
			"it, remove credsStore or the registry's credHelpers entry from the config, or pass --username " +
			"with --password-stdin"
	case isCertificateExpired(err):
		return "; the registry's certificate is expired or not yet valid by this host's clock: renew the " +
			"certificate on the registry, or check the clocks of this host and the registry"
	case (strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate")) && r.caFile != "":
		return fmt.Sprintf("; --ca-file %s does not hold the CA that signed the server's certificate, or the "+
			"certificate does not name the host you gave: check both", r.caFile)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		return "; pass the registry's CA certificate with --ca-file, or --insecure to skip TLS verification"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "; the registry speaks plain HTTP, so pass --plain-http"
	case resp == nil && (status401.MatchString(msg) || strings.Contains(msg, "Unauthorized")):
		// A 401 from a web server, which sends no registry error response.
		return "; check --username with --password-stdin, or the credentials in --registry-config"
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("; nothing accepts connections at %s: check the address and port, and that the "+
			"registry or web server runs there", r.hostOr("that address"))
	case isHostNotFound(err):
		return fmt.Sprintf("; the host name of %s does not resolve: check the address, and that this host "+
			"can resolve it (/etc/hosts or DNS)", r.hostOr("the address"))
	}
	return ""
}

// retriedStatusHint returns advice for code, a 408, 429 or 5xx status that
// host sent to a request and to each retry of it. perAttempt is true for a
// request that the transport could not send again, which was sent once in
// each attempt of the operation instead (see mirror.SentOncePerAttempt).
// A 429 with Retry-After is a *mirror.RetryAfterError, which gives its own
// advice. logs names what to check after a 5xx.
func retriedStatusHint(code int, host, logs string, perAttempt bool) string {
	tries := "this request and each retry of it"
	if perAttempt {
		tries = fmt.Sprintf("this request in each of the %d attempts of the operation, which sent it once per "+
			"attempt because its body is read from the kit as it is sent", mirror.Attempts)
	}
	switch code {
	case http.StatusTooManyRequests:
		return fmt.Sprintf("; %s limits the rate of requests and responded 429 to %s: wait a few minutes and run "+
			"the command again, or raise the limit for this host on %s", host, tries, host)
	case http.StatusRequestTimeout:
		return fmt.Sprintf("; %s timed out reading the request (408) on each try: check the network and any "+
			"proxy between this host and %s, then run the command again", host, host)
	}
	return fmt.Sprintf("; %s failed %s: check %s, then run the command again", host, tries, logs)
}

// hostOr returns the host the command connects to, or fallback when it
// is not known.
func (r *registryFlags) hostOr(fallback string) string {
	if r.host == "" {
		return fallback
	}
	return r.host
}

// isCertificateExpired reports whether err is a server certificate that
// failed verification for its validity period.
func isCertificateExpired(err error) bool {
	var invalid x509.CertificateInvalidError
	return errors.As(err, &invalid) && invalid.Reason == x509.Expired
}

// isHostNotFound reports whether err is a DNS lookup that found no such
// host.
func isHostNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// unauthorizedHint returns the advice for a registry that rejected the
// request for lack of valid credentials. The advice states whether
// credentials were sent, and for which user, but never shows a password or
// token.
func (r *registryFlags) unauthorizedHint(ctx context.Context) string {
	host := r.host
	if host == "" {
		host = "the registry"
	}
	config := r.config
	if config == "" {
		config = "the docker config file ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)"
	}
	if r.username != "" {
		return fmt.Sprintf("; %s rejected the credentials for user %s; check the user name given with --username "+
			"and the password read by --password-stdin", host, r.username)
	}
	if r.built != nil && r.host != "" {
		cred, err := r.built.Auth.Credential(ctx, r.host)
		if err == nil && cred != auth.EmptyCredential {
			sent := "the credentials"
			if cred.Username != "" {
				sent = "the credentials for user " + cred.Username
			}
			return fmt.Sprintf("; %s rejected %s from %s; log in again, or pass --username with --password-stdin",
				host, sent, config)
		}
	}
	return fmt.Sprintf("; %s requires credentials, and %s has none for it; pass --username with --password-stdin, "+
		"log in with `docker login` or `oras login`, or name another config file with --registry-config", host, config)
}

// webUnauthorizedHint returns the advice for a web server that responded
// 401 to a download. It states whether credentials were sent, for which
// user and from where, and never shows a password.
func (r *registryFlags) webUnauthorizedHint(status *mirror.StatusError) string {
	host := status.Host
	if host == "" {
		host = r.hostOr("the web server")
	}
	source := r.credentialSource()
	basic := slices.ContainsFunc(status.Challenges, func(s string) bool { return strings.EqualFold(s, "Basic") })
	switch {
	case status.User != "":
		return fmt.Sprintf("; %s rejected the credentials for user %s from %s; check the user name and the password",
			host, status.User, source)
	case redirectedToPlainHTTP(status):
		return fmt.Sprintf("; the download was redirected from https:// to http://%s, which requires credentials, and "+
			"stella never sends credentials over plain HTTP after such a redirect, because the password would cross "+
			"the network unencrypted; have the server redirect to an https:// address, or copy the kit to this "+
			"host and import it from there", host)
	case redirected(status):
		return fmt.Sprintf("; the download was redirected to %s://%s, which requires credentials, and stella sends "+
			"credentials only to the scheme and host of the URL given (%s); give the URL of the redirect target "+
			"instead", status.Scheme, host, status.URL)
	case len(status.Challenges) == 0:
		return fmt.Sprintf("; %s sent no WWW-Authenticate challenge, so no credentials were sent; stella sends "+
			"credentials to a web server only in response to a Basic challenge, so check the server's configuration", host)
	case !basic:
		return fmt.Sprintf("; %s requests %s authentication, and stella supports only Basic challenges from web "+
			"servers, so no credentials were sent; enable Basic authentication for the kit files, or copy the kit "+
			"to this host and import it from there", host, strings.Join(status.Challenges, " or "))
	}
	config := r.config
	if config == "" {
		config = "the docker config file ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)"
	}
	return fmt.Sprintf("; %s requires credentials (HTTP Basic), and %s has none for it, so none were sent: pass "+
		"--username with --password-stdin, or add an auths entry for %s to that file", host, config, host)
}

// redirected reports whether the status came from another scheme or host
// than the URL of the download.
func redirected(status *mirror.StatusError) bool {
	source, err := url.Parse(status.URL)
	if err != nil || status.Host == "" {
		return false
	}
	return !strings.EqualFold(source.Host, status.Host) || !strings.EqualFold(source.Scheme, status.Scheme)
}

// redirectedToPlainHTTP reports whether the download of an https:// URL
// was redirected to an http:// address, which then sent the status.
func redirectedToPlainHTTP(status *mirror.StatusError) bool {
	source, err := url.Parse(status.URL)
	return err == nil && strings.EqualFold(source.Scheme, "https") && strings.EqualFold(status.Scheme, "http")
}

// credentialSource names where the credentials for the named host come
// from: --username, or the docker config file.
func (r *registryFlags) credentialSource() string {
	switch {
	case r.username != "":
		return "--username and --password-stdin"
	case r.config != "":
		return "--registry-config " + r.config
	}
	return "the docker config file ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)"
}
