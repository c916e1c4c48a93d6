package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/mirror"
)

// registryFlags are the options of every command that talks to a registry
// or web server, spelled as the oras command line spells them.
type registryFlags struct {
	config        string
	username      string
	passwordStdin bool
	caFile        string
	certFile      string
	keyFile       string
	plainHTTP     bool
	insecure      bool
	connectWait   time.Duration
	idleWait      time.Duration
}

func (r *registryFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.config, "registry-config", "", "docker config file with registry credentials (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)")
	f.StringVarP(&r.username, "username", "u", "", "registry user name; the password comes from --password-stdin")
	f.BoolVar(&r.passwordStdin, "password-stdin", false, "read the registry password from standard input")
	f.StringVar(&r.caFile, "ca-file", "", "PEM file of CA certificates to trust besides the system ones")
	f.StringVar(&r.certFile, "cert-file", "", "client certificate (PEM) for mutual TLS")
	f.StringVar(&r.keyFile, "key-file", "", "private key (PEM) of --cert-file")
	f.BoolVar(&r.plainHTTP, "plain-http", false, "use HTTP instead of HTTPS for the registry")
	f.BoolVar(&r.insecure, "insecure", false, "skip TLS certificate verification (unsafe; prints a warning)")
	f.DurationVar(&r.connectWait, "connect-timeout", mirror.DefaultConnectTimeout,
		"how long to wait for a TCP connection, and then for the TLS handshake, to a registry or web server")
	f.DurationVar(&r.idleWait, "idle-timeout", mirror.DefaultIdleTimeout,
		"how long a request may wait for a registry or web server that sends or accepts no bytes before it fails and is retried")
}

// client builds the registry client for the hosts named on the command
// line. The password is read from stdin once, here.
func (r *registryFlags) client(cmd *cobra.Command, log *slog.Logger, hosts ...string) (*mirror.Client, error) {
	opts := mirror.ClientOptions{
		RegistryConfig: r.config,
		Username:       r.username,
		CAFile:         r.caFile,
		CertFile:       r.certFile,
		KeyFile:        r.keyFile,
		PlainHTTP:      r.plainHTTP,
		Insecure:       r.insecure,
		ConnectTimeout: r.connectWait,
		IdleTimeout:    r.idleWait,
		AirGap:         mirror.AirGapEnabled(),
		Hosts:          hosts,
		Logger:         log,
	}
	if r.connectWait <= 0 {
		return nil, usagef("--connect-timeout is %s; give a positive duration such as 30s", r.connectWait)
	}
	if r.idleWait <= 0 {
		return nil, usagef("--idle-timeout is %s; give a positive duration such as 60s", r.idleWait)
	}
	if r.passwordStdin && r.username == "" {
		return nil, usagef("--password-stdin needs --username")
	}
	if r.username != "" && !r.passwordStdin {
		return nil, usagef("--username needs --password-stdin, which reads the password from standard input")
	}
	if r.passwordStdin {
		pw, err := readPasswordLine(cmd.InOrStdin())
		if err != nil {
			return nil, err
		}
		opts.Password = pw
	}
	return mirror.NewClient(opts)
}

// readPasswordLine reads the first line of r without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("--password-stdin: standard input is empty, so no password was given")
	}
	return pw, nil
}

// registryHost returns the host[:port] of REGISTRY/REPO[:TAG] or
// REGISTRY[/PREFIX].
func registryHost(ref string) string {
	host, _, _ := strings.Cut(ref, "/")
	return host
}

// registryHint returns advice for common registry failures, or "" when it
// has none: an unknown certificate authority or a refused login.
func registryHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		return "; pass the registry's CA certificate with --ca-file, or --insecure to skip TLS verification"
	case strings.Contains(msg, "401") || strings.Contains(msg, "Unauthorized") || strings.Contains(msg, "credential"):
		return "; check --username with --password-stdin, or the credentials in --registry-config"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "; the registry speaks plain HTTP, so pass --plain-http"
	}
	return ""
}

// withRegistryHint adds registryHint's advice to err.
func withRegistryHint(err error) error {
	if err == nil {
		return nil
	}
	if hint := registryHint(err); hint != "" {
		return fmt.Errorf("%w%s", err, hint)
	}
	return err
}
