package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/sbom"
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
	"ouk check":    true,
	"ouk inspect":  true,
	"ouk watch":    true,
	"ouk delta":    true,
	"ouk export":   true,
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
	"ouk delta":  {"output": true, "from": true, "to": true},
	"ouk export": {"output": true},
}

// outputPathFlags are the path flags of a command that name a file that
// the command writes. Every other path names a file that it reads.
var outputPathFlags = map[string]map[string]bool{
	"ouk delta":  {"output": true},
	"ouk export": {"output": true},
}

// stdioPathFlags are the path flags of a command that take - for standard
// input, or for standard output where the flag names an output.
// stdioPathArgCommands are the commands whose path argument takes - for
// standard input.
var (
	stdioPathFlags = map[string]map[string]bool{
		"scan":       {"sbom": true},
		"ouk export": {"output": true},
	}
	stdioPathArgCommands = map[string]bool{"ouk import": true}
)

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
	info, err := os.Lstat(socket)
	if err != nil || info.Mode()&os.ModeSocket == 0 {
		return nil
	}
	log := g.logger(cmd.ErrOrStderr())

	owner, ok := fileOwner(info)
	foreign := ok && owner != os.Geteuid()
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	// A socket that this user may not use rejects the connection before
	// it is known whether a service listens on it. The store's holder
	// record then shows whether the service still runs or left the
	// socket behind when it stopped.
	denied := errors.Is(err, fs.ErrPermission) && cas.LockHolder(filepath.Join(dir, storeDBDir)) != ""
	if err != nil && !denied {
		// A socket that a stopped service left: the command opens the
		// store itself.
		log.Info("the service socket does not accept connections; opening the store", "socket", socket, "error", err)
		return nil
	}
	if foreign && !sharedCommands[words] {
		if conn != nil {
			conn.Close()
		}
		return fmt.Errorf("store %s is held by the store service of user ID %d (%s), which runs this command "+
			"for that user only; run the command as that user, or while the service is stopped: %w", dir, owner,
			holderOrUnknown(dir), errdef.ErrStoreInUse)
	}
	if denied {
		return fmt.Errorf("store %s is held by the store service of user ID %d (%s), whose socket this user "+
			"may not use (%v); run the command as that user, or let the group of the store's db folder read "+
			"it, with this user and the service's user as members, and restart the service: %w", dir, owner, holderOrUnknown(dir), err, errdef.ErrStoreInUse)
	}

	call, err := serviceCallFor(cmd, words, args)
	stdin := cmd.InOrStdin()
	if err == nil && foreign {
		var sbomFile io.ReadCloser
		call, sbomFile, err = sharedServiceCall(cmd, call)
		if sbomFile != nil {
			defer sbomFile.Close()
			stdin = sbomFile
		}
	}
	if err != nil {
		conn.Close()
		return err
	}

	log.Info("running the command in the store service", "socket", socket)
	code, err := runRemote(cmd.Context(), conn, call, max(g.lockWait, 2*time.Second), stdin,
		cmd.OutOrStdout(), cmd.ErrOrStderr())
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
	var pathErr error
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
			use := servicePath{name: "--" + f.Name, output: outputPathFlags[words][f.Name]}
			if stdioPathFlags[words][f.Name] {
				use.stdio = "--" + f.Name + " -"
				if f.Shorthand != "" {
					use.stdio = "-" + f.Shorthand + " -"
				}
			}
			if err := checkServicePath(use, v); isPath && err != nil && pathErr == nil {
				pathErr = err
			}
			line = append(line, "--"+f.Name+"="+v)
		}
	})
	if pathErr != nil {
		return serviceCall{}, pathErr
	}
	line = append(line, "--")
	for _, a := range args {
		if pathArgCommands[words] && isLocalPath(a) {
			a = filepath.Join(cwd, a)
		}
		if pathArgCommands[words] {
			use := servicePath{name: "the argument"}
			if stdioPathArgCommands[words] {
				use.stdio = "- as the argument"
			}
			if err := checkServicePath(use, a); err != nil {
				return serviceCall{}, err
			}
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
		StderrTerminal: isTerminal(cmd.ErrOrStderr()), StdoutTerminal: isTerminal(cmd.OutOrStdout())}, nil
}

// isLocalPath reports whether v, the value of a path flag or argument, is
// a relative path: not empty, not - for standard input, not an address
// with a scheme and not a digest of a kit in the store.
func isLocalPath(v string) bool {
	return v != "" && v != "-" && !filepath.IsAbs(v) && !strings.Contains(v, "://") &&
		!strings.HasPrefix(v, "sha256:")
}

// fileOwner returns the user ID that owns the file of info.
func fileOwner(info os.FileInfo) (int, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// holderOrUnknown describes the process that holds the store in the store
// folder dir, from its holder record.
func holderOrUnknown(dir string) string {
	if h := cas.LockHolder(filepath.Join(dir, storeDBDir)); h != "" {
		return h
	}
	return "process unknown"
}

// servicePath describes a path flag or argument of a command that runs in
// the store service, for the advice of checkServicePath.
type servicePath struct {
	// name is the flag, such as "--sbom", or "the argument".
	name string
	// output is set when the command writes the file.
	output bool
	// stdio is the spelling of - in its place, such as "--sbom -", "-o -"
	// or "- as the argument". It is empty unless the command takes - there
	// for standard input or output.
	stdio string
}

// checkServicePath rejects value, the path of use given to a command that
// runs in the store service, when it names a file that only this process
// can open, such as the pipe of a shell's process substitution. The
// error names what to give instead.
func checkServicePath(use servicePath, value string) error {
	// Cleaned, so that spellings such as //dev/fd/63 or /dev/./stdin,
	// which open the same files, are caught too.
	clean := filepath.Clean(value)
	access, substitution := "open", "<(...)"
	if use.output {
		access, substitution = "write to", ">(...)"
	}
	if stream, ok := standardStreamFiles[clean]; ok {
		return usagef("%s %s is the %s of this process, which the store service cannot %s; %s", use.name, value,
			stream, access, use.streamAdvice())
	}
	for _, prefix := range []string{"/dev/fd/", "/proc/self/", "/proc/thread-self/"} {
		if strings.HasPrefix(clean, prefix) {
			return usagef("%s %s names a file of this process, such as the pipe of a shell's %s, which the "+
				"store service cannot %s; %s", use.name, value, substitution, access, use.fileAdvice())
		}
	}
	return nil
}

// standardStreamFiles are the names of this process's standard streams
// under /dev, with the stream that each names.
var standardStreamFiles = map[string]string{
	"/dev/stdin":  "standard input",
	"/dev/stdout": "standard output",
	"/dev/stderr": "standard error",
}

// fileAdvice returns what to give in place of a path of use that only the
// client can open.
func (use servicePath) fileAdvice() string {
	switch {
	case use.output && use.stdio != "":
		return fmt.Sprintf("give the path of a file to write, or %s to write to standard output, or run the "+
			"command while the service is stopped", use.stdio)
	case use.output:
		return "give the path of a file to write, or run the command while the service is stopped"
	case use.stdio != "":
		return fmt.Sprintf("give %s to read the data from standard input, such as from a pipe, or write it to "+
			"a file first, or run the command while the service is stopped", use.stdio)
	}
	return "write the data to a file first, or run the command while the service is stopped"
}

// streamAdvice returns what to give in place of a path of use that names
// one of the client's standard streams.
func (use servicePath) streamAdvice() string {
	switch {
	case use.output && use.stdio != "":
		return fmt.Sprintf("give %s, which writes to standard output through the service, or the path of a "+
			"file to write", use.stdio)
	case use.output:
		return "give the path of a file to write, or run the command while the service is stopped"
	case use.stdio != "":
		return fmt.Sprintf("give %s, which reads standard input through the service", use.stdio)
	}
	return "write the data to a file first, or run the command while the service is stopped"
}

// sharedServiceCall adapts call, the request of cmd, for a store service
// of another user, which opens no file for this user. The SBOM of a scan
// is read here and sent as standard input, returned as the open file, and
// the token of the quota's env file is sent as $STELLA_JWT.
func sharedServiceCall(cmd *cobra.Command, call serviceCall) (serviceCall, io.ReadCloser, error) {
	var file io.ReadCloser
	args := make([]string, 0, len(call.Args)+1)
	envFile := ""
	for i, a := range call.Args {
		if a == "--" {
			args = append(args, call.Args[i:]...)
			break
		}
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case name == "sbom" && value != "-":
			f, err := sbom.OpenFile(value)
			if err != nil {
				return call, nil, err
			}
			file = f
			args = append(args, "--sbom=-", "--sbom-label="+cmd.Flags().Lookup("sbom").Value.String())
		case name == "env-file":
			envFile = value
		case pathFlags[name] && name != "sbom":
			return call, nil, usagef("the store service runs as another user and reads no file for this one, "+
				"so --%s cannot be given; run the command as the service's user, or while it is stopped", name)
		default:
			args = append(args, a)
		}
	}
	env := map[string]string{}
	envFlag := quota.DefaultEnvFile
	if f := cmd.Flags().Lookup("env-file"); f != nil {
		envFlag = f.Value.String()
	}
	tok, warnings := loadQuotaToken(os.Getenv, envFlag, envFile)
	if tok.Raw != "" {
		env[quota.TokenEnv] = tok.Raw
		if tok.Source != quota.TokenEnv {
			call.TokenSource = tok.Source
		}
	}
	call.Args, call.Env, call.Cwd, call.TokenWarnings = args, env, "", warnings
	return call, file, nil
}
