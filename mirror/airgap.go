package mirror

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// ErrHostNotAllowed is returned when air-gap mode blocks a request to a host
// that the operator did not name.
var ErrHostNotAllowed = errors.New("host not allowed in air-gap mode")

// AirGapEnv lists the environment variables that switch on air-gap mode.
var AirGapEnv = []string{"STELLA_AIRGAP", "STELLA_OFFLINE"}

// AirGapEnabled reports whether STELLA_AIRGAP or STELLA_OFFLINE switches
// air-gap mode on in the environment (see AirGapSettingIn).
func AirGapEnabled() bool { return AirGapEnabledIn(os.Getenv) }

// AirGapEnabledIn is AirGapEnabled for the environment that getenv reads.
func AirGapEnabledIn(getenv func(string) string) bool {
	on, _ := AirGapSettingIn(getenv)
	return on
}

// AirGapSettingIn reports whether the air-gap variables in the environment
// that getenv reads switch air-gap mode on. A value such as true, 1, yes
// or on switches it on, and an empty value or one such as false, 0, no or
// off leaves it off. Any other value switches it on too, because an
// operator who set the variable meant to guard the host, and warnings then
// holds a line that names the variable and its value.
func AirGapSettingIn(getenv func(string) string) (on bool, warnings []string) {
	for _, name := range AirGapEnv {
		value := getenv(name)
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "", "false", "0", "no", "n", "off", "disabled":
		case "true", "1", "yes", "y", "on", "enabled":
			on = true
		default:
			on = true
			warnings = append(warnings, fmt.Sprintf("%s is %q, which is neither true nor false; air-gap mode is on. "+
				"Set %s=true to keep it on without this warning, or %s=false to switch it off", name, value, name, name))
		}
	}
	return on, warnings
}

// Guard is an http.RoundTripper that, when Enabled, sends only requests to
// the hosts in Allowed and rejects every other request before it leaves the
// process. Redirects and token realms on other hosts are rejected too,
// because each of them is a separate request through Guard.
type Guard struct {
	// Base sends the allowed requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Enabled switches the check on; a disabled Guard passes every request.
	Enabled bool
	// Allowed holds host names or host:port pairs, compared without case.
	// A host name without a port allows every port of that host.
	Allowed []string
}

// RoundTrip sends req through Base when its host is allowed and otherwise
// returns an error wrapping ErrHostNotAllowed.
func (g *Guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.Enabled && !g.allows(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("air-gap mode (STELLA_AIRGAP/STELLA_OFFLINE) blocked a request to %s, "+
			"which is not named on the command line; name that host or unset air-gap mode: %w",
			req.URL.Host, ErrHostNotAllowed)
	}
	base := g.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

func (g *Guard) allows(hostport string) bool {
	hostport = strings.ToLower(hostport)
	host := hostport
	if i := strings.LastIndex(hostport, ":"); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host = hostport[:i]
	}
	for _, a := range g.Allowed {
		a = strings.ToLower(a)
		if a == hostport || a == host {
			return true
		}
	}
	return false
}

// airGapProxy returns the proxy function of a transport in air-gap mode.
// It picks the proxy for a request from config, the proxy variables of the
// environment read when the client is built, by the rules of net/http. A
// proxy that guard does not allow is rejected before any connection is
// opened, because the request would otherwise leave the process for an
// address that the command line does not name. As for any request, the
// proxy's host and port must match a named address, and a name given
// without a port matches every port.
func airGapProxy(config *httpproxy.Config, guard *Guard) func(*http.Request) (*url.URL, error) {
	proxyFor := config.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) {
		proxy, err := proxyFor(req.URL)
		if err != nil || proxy == nil || guard.allows(proxy.Host) {
			return proxy, err
		}
		variable := proxyVariable(req.URL.Scheme)
		return nil, fmt.Errorf("air-gap mode (STELLA_AIRGAP/STELLA_OFFLINE) blocked a request to %s through the proxy %s "+
			"from %s, because %s; unset %s, or add %s to NO_PROXY: %w",
			req.URL.Host, proxy.Host, variable, guard.describeUnnamed(proxy.Host), variable, req.URL.Hostname(), ErrHostNotAllowed)
	}
}

// proxyVariable returns the name of the environment variable that sets
// the proxy for scheme, in the spelling that is set. Like
// httpproxy.FromEnvironment, it reads the upper-case name first.
func proxyVariable(scheme string) string {
	name := "HTTP_PROXY"
	if scheme == "https" {
		name = "HTTPS_PROXY"
	}
	if os.Getenv(name) == "" && os.Getenv(strings.ToLower(name)) != "" {
		return strings.ToLower(name)
	}
	return name
}

// describeUnnamed returns why hostport, which g does not allow, is blocked:
// its host is named on the command line only with other ports, or it is
// not named at all.
func (g *Guard) describeUnnamed(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	var sameHost []string
	for _, a := range g.Allowed {
		named := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			named = h
		}
		if strings.EqualFold(named, host) {
			sameHost = append(sameHost, a)
		}
	}
	if len(sameHost) > 0 {
		return fmt.Sprintf("the command line names its host only as %s, and air-gap mode compares the port too",
			strings.Join(sameHost, ", "))
	}
	return fmt.Sprintf("its host %s is not named on the command line", host)
}
