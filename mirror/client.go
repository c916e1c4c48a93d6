package mirror

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http/httpproxy"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"stella-ops.org/ouk/internal/regfile"
)

// ClientOptions configures how commands reach registries and web servers.
// The fields match the flags of the oras command line.
type ClientOptions struct {
	// RegistryConfig is the docker config file holding credentials and
	// credential helpers; empty means $DOCKER_CONFIG/config.json, else
	// ~/.docker/config.json.
	RegistryConfig string
	// Username and Password, when Username is set, are used for the hosts
	// named on the command line instead of the config file.
	Username string
	Password string
	// CAFile adds PEM certificates to the system roots.
	CAFile string
	// CertFile and KeyFile hold a client certificate for mutual TLS.
	CertFile, KeyFile string
	// PlainHTTP talks HTTP instead of HTTPS to registries.
	PlainHTTP bool
	// Insecure skips TLS certificate verification.
	Insecure bool
	// ConnectTimeout bounds the TCP connect and, separately, the TLS
	// handshake of each connection; zero means DefaultConnectTimeout. It
	// does not apply to a Transport given by the caller.
	ConnectTimeout time.Duration
	// IdleTimeout bounds each wait for a server during a request: for the
	// response after the request was sent, and for the next bytes of the
	// request or response body. The request then fails with a
	// *TimeoutError. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// AirGap rejects every request to a host outside Hosts.
	AirGap bool
	// Hosts are the hosts (host or host:port) the operator named. In
	// air-gap mode they are the only ones contacted, and Username/Password
	// apply to them only.
	Hosts []string
	// Transport replaces the network transport under the guard; tests use
	// it to record requests. Its TLS settings are then the caller's.
	Transport http.RoundTripper
	// Retry replaces the retry policy; nil means DefaultRetryPolicy.
	Retry retry.Policy
	// Logger receives warnings and retries; nil discards.
	Logger *slog.Logger
}

// DefaultRetryPolicy retries connection resets, 408, 429 and 5xx responses up
// to six times with exponential backoff between 100 ms and 3 s. NewClient
// lengthens the wait to what a Retry-After header requests, up to
// RetryAfterMax.
var DefaultRetryPolicy retry.Policy = &retry.GenericPolicy{
	Retryable: retry.DefaultPredicate,
	Backoff:   retry.ExponentialBackoff(100*time.Millisecond, 2, 0.2),
	MinWait:   100 * time.Millisecond,
	MaxWait:   3 * time.Second,
	MaxRetry:  6,
}

// Client holds the HTTP clients built from ClientOptions.
type Client struct {
	opts ClientOptions
	// HTTP is the guarded, retrying client without registry authentication,
	// used for web downloads.
	HTTP *http.Client
	// Auth is HTTP wrapped with registry authentication.
	Auth *auth.Client
}

// NewClient builds the HTTP clients. It reads the CA, client certificate
// and docker config files, and logs a warning when Insecure is set.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Retry == nil {
		opts.Retry = DefaultRetryPolicy
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	base := opts.Transport
	if base == nil {
		t, err := opts.transport()
		if err != nil {
			return nil, err
		}
		base = t
	}
	policy := requestPolicy{Policy: opts.Retry, log: opts.Logger}
	timed := &timeoutTransport{base: base, idle: opts.IdleTimeout, connect: opts.ConnectTimeout}
	rt := &retry.Transport{
		Base:   &Guard{Base: timed, Enabled: opts.AirGap, Allowed: opts.Hosts},
		Policy: func() retry.Policy { return policy },
	}
	httpClient := &http.Client{Transport: retryAfterTransport{singleTryTransport{rt}}}
	cred, err := opts.credential()
	if err != nil {
		return nil, err
	}
	ac := &auth.Client{
		Client:     httpClient,
		Cache:      auth.NewCache(),
		Credential: cred,
		// Token realms on loopback are allowed because an intranet
		// registry and its token service may share the host. Air-gap mode
		// still limits which hosts are contacted.
		BlockedRealmPrefixes: nil,
	}
	ac.SetUserAgent("stella")
	return &Client{opts: opts, HTTP: httpClient, Auth: ac}, nil
}

// transport builds the network transport with the TLS settings and the
// connect timeouts. In air-gap mode a proxy from the environment is used
// only when the operator named its host (see airGapProxy).
func (o ClientOptions) transport() (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if o.AirGap {
		t.Proxy = airGapProxy(httpproxy.FromEnvironment(), &Guard{Enabled: true, Allowed: o.Hosts})
	}
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	t.DialContext = dialer.DialContext
	t.TLSHandshakeTimeout = o.ConnectTimeout
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := regfile.ReadFile(o.CAFile, "a PEM file of CA certificates")
		if err != nil {
			return nil, fmt.Errorf("reading --ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s contains no PEM certificate; pass a PEM file of CA certificates", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s with key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case o.CertFile != "" || o.KeyFile != "":
		return nil, fmt.Errorf("--cert-file and --key-file go together; pass both for mutual TLS")
	}
	if o.Insecure {
		o.Logger.Warn("TLS certificate verification is off (--insecure); anyone on the network path can read and change the transfer")
		cfg.InsecureSkipVerify = true
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// credential returns the credential source: the static username and
// password for the named hosts, else the docker config file and its helpers.
func (o ClientOptions) credential() (auth.CredentialFunc, error) {
	if o.Username != "" {
		cred := auth.Credential{Username: o.Username, Password: o.Password}
		hosts := o.Hosts
		return func(_ context.Context, hostport string) (auth.Credential, error) {
			for _, h := range hosts {
				if h == hostport {
					return cred, nil
				}
			}
			return auth.EmptyCredential, nil
		}, nil
	}
	var (
		store credentials.Store
		err   error
	)
	if o.RegistryConfig != "" {
		store, err = credentials.NewStore(o.RegistryConfig, credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		if o.RegistryConfig != "" {
			return nil, fmt.Errorf("reading registry credentials from %s: %w; fix the file", o.RegistryConfig, err)
		}
		return nil, fmt.Errorf("reading registry credentials from the docker config file: %w; fix the file or pass --registry-config", err)
	}
	return credentials.Credential(store), nil
}

// Repository returns a remote repository for ref (REGISTRY/REPO[:TAG|@DIGEST])
// that uses the client.
func (c *Client) Repository(ref string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return nil, fmt.Errorf("registry reference %q: %w; write it as REGISTRY/REPOSITORY:TAG", ref, err)
	}
	repo.Client = c.Auth
	repo.PlainHTTP = c.opts.PlainHTTP
	// Registries often refuse deletes (distribution's default), and a
	// stale referrers index left behind does no harm, so a push never
	// tries to remove one.
	repo.SkipReferrersGC = true
	return repo, nil
}
