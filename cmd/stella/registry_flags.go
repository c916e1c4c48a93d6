package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/regfile"
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

	// clientEnv reads the environment of the client of the store service
	// that runs the command, or is nil in a process of its own.
	clientEnv func(string) string

	// built is the client that client returned, and host the registry it
	// was built for. explain reads them to tell whether credentials were
	// sent.
	built *mirror.Client
	host  string
}

func (r *registryFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.config, "registry-config", "", "docker config file with registry credentials (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)")
	f.StringVarP(&r.username, "username", "u", "", "user name for the registry or web server; the password comes from --password-stdin")
	f.BoolVar(&r.passwordStdin, "password-stdin", false, "read the password for --username from standard input")
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

// airGap reports whether air-gap mode is on: set in the environment of
// this process, or of the client that the store service runs the command
// for, since either may be the operator's guard against network access.
func (r *registryFlags) airGap(log *slog.Logger) bool {
	on, warnings := mirror.AirGapSettingIn(os.Getenv)
	if r.clientEnv != nil {
		clientOn, clientWarnings := mirror.AirGapSettingIn(r.clientEnv)
		on = on || clientOn
		warnings = append(warnings, clientWarnings...)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	return on
}

// validateTimeouts checks --connect-timeout and --idle-timeout. A command
// whose source may be a local file checks them before it reads the kind of
// source, so that a wrong value fails the same way for every source.
func (r *registryFlags) validateTimeouts() error {
	if r.connectWait <= 0 {
		return usagef("--connect-timeout is %s; give a positive duration such as 30s", r.connectWait)
	}
	if r.idleWait <= 0 {
		return usagef("--idle-timeout is %s; give a positive duration such as 60s", r.idleWait)
	}
	return nil
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
		AirGap:         r.airGap(log),
		Hosts:          hosts,
		Logger:         log,
	}
	if err := r.validateTimeouts(); err != nil {
		return nil, err
	}
	if err := r.checkFiles(); err != nil {
		return nil, err
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
	client, err := mirror.NewClient(opts)
	if err != nil {
		return nil, err
	}
	r.built = client
	if len(hosts) > 0 {
		r.host = hosts[0]
	}
	return client, nil
}

// checkFiles returns an error naming the first file flag whose path
// does not exist or is not a regular file. A missing file exits with 1, as
// a missing kit or key does. Without this check, oras-go
// treats a missing --registry-config file as an empty one, and a typo in
// its path reads as wrong credentials. A named pipe would block the read
// until a writer appears.
func (r *registryFlags) checkFiles() error {
	for _, f := range []struct{ flag, path, want string }{
		{"--registry-config", r.config, "a docker config.json file"},
		{"--ca-file", r.caFile, "a PEM file of CA certificates"},
		{"--cert-file", r.certFile, "a PEM client certificate file"},
		{"--key-file", r.keyFile, "a PEM private key file for the client certificate"},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: no such file; check the path", f.flag, f.path)
		}
		if err := regfile.Check(f.path, f.want); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	return nil
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
