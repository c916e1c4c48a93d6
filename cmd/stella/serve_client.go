package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// forwardedCommands are the commands, without the leading "stella", that
// run in the store service while it runs.
var forwardedCommands = map[string]bool{
	"db lookup":    true,
	"db status":    true,
	"scan":         true,
	"quota status": true,
	"ouk status":   true,
	"ouk history":  true,
	"ouk import":   true,
	"ouk rollback": true,
	"ouk gc":       true,
	"ouk inspect":  true,
	"ouk watch":    true,
	"ouk delta":    true,
}

// pathFlags are the flags of forwarded commands that name files or
// folders. The client makes them absolute, since the service runs in
// another working folder.
var pathFlags = map[string]bool{
	"key":             true,
	"sbom":            true,
	"env-file":        true,
	"quota-key":       true,
	"registry-config": true,
	"ca-file":         true,
	"cert-file":       true,
	"key-file":        true,
}

// commandPathFlags are flags that name files or folders in one command
// only, where the flag means something else in others.
var commandPathFlags = map[string]map[string]bool{
	"ouk delta": {"output": true, "from": true, "to": true},
}

// storedKitFlags are the path flags of a command that may also name a kit
// in the store, such as "active" or a digest prefix, when no file has
// that name (see isStoredKitArg).
var storedKitFlags = map[string]map[string]bool{
	"ouk delta": {"from": true, "to": true},
}

// pathArgCommands are the forwarded commands whose argument is a file or
// folder, unless it is - or an address with a scheme.
var pathArgCommands = map[string]bool{
	"ouk import":  true,
	"ouk inspect": true,
	"ouk watch":   true,
}

// forwardToService runs cmd in the store service when the service runs
// on the store and cmd is one that it runs, and then returns a
// *forwardedError with the exit code. Otherwise it returns nil, and the
// command runs in this process.
func (g *globalOptions) forwardToService(cmd *cobra.Command, args []string) error {
	words := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	if g.svc != nil || !forwardedCommands[words] {
		return nil
	}
	dir, err := g.storeDir()
	if err != nil {
		return nil
	}
	socket := filepath.Join(dir, serviceSocketName)
	if len(socket) > maxSocketPath {
		return nil
	}
	if info, err := os.Lstat(socket); err != nil || info.Mode()&os.ModeSocket == 0 {
		return nil
	}
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		// A socket that a stopped service left: the command opens the
		// store itself.
		return nil
	}
	call, err := serviceCallFor(cmd, words, args)
	if err != nil {
		conn.Close()
		return err
	}
	g.logger(cmd.ErrOrStderr()).Info("running the command in the store service", "socket", socket)
	code, err := runRemote(cmd.Context(), conn, call, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		if errors.Is(err, errServiceClosed) && cmd.Context().Err() != nil {
			return cmd.Context().Err()
		}
		return err
	}
	return &forwardedError{code: code}
}

// serviceCallFor returns the request that runs cmd, the command named by
// words, with the flags it was given and its arguments args in the
// service.
func serviceCallFor(cmd *cobra.Command, words string, args []string) (serviceCall, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return serviceCall{}, fmt.Errorf("reading the working folder, which the store service needs for "+
			"relative paths: %w", err)
	}
	line := strings.Fields(words)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "store" {
			return
		}
		values := []string{f.Value.String()}
		if list, ok := f.Value.(pflag.SliceValue); ok {
			values = list.GetSlice()
		}
		for _, v := range values {
			isPath := pathFlags[f.Name] || commandPathFlags[words][f.Name]
			if isPath && storedKitFlags[words][f.Name] && isStoredKitArg(v) {
				// The service looks the kit up in the store, as this
				// process would: no file of that name is here.
				isPath = false
			}
			if isPath && isLocalPath(v) {
				v = filepath.Join(cwd, v)
			}
			line = append(line, "--"+f.Name+"="+v)
		}
	})
	line = append(line, "--")
	for _, a := range args {
		if pathArgCommands[words] && isLocalPath(a) {
			a = filepath.Join(cwd, a)
		}
		line = append(line, a)
	}
	env := map[string]string{}
	for _, k := range forwardedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return serviceCall{Protocol: serviceProtocol, Args: line, Cwd: cwd, Env: env,
		StderrTerminal: isTerminal(cmd.ErrOrStderr())}, nil
}

// isLocalPath reports whether v, the value of a path flag or argument, is
// a relative path: not empty, not - for standard input, not an address
// with a scheme and not a digest of a kit in the store.
func isLocalPath(v string) bool {
	return v != "" && v != "-" && !filepath.IsAbs(v) && !strings.Contains(v, "://") &&
		!strings.HasPrefix(v, "sha256:")
}
