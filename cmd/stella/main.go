// Command stella is the Stella Ops command line: it builds, signs, verifies
// and imports Offline Update Kits, and looks up vulnerabilities in the
// active kit.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/mirror"
)

// Exit codes. Scripts on air-gapped hosts branch on them.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitRejected  = 3 // the kit failed verification or policy
	exitStoreBusy = 4 // another process holds the store
	// exitInterrupted follows the shell convention of 128 + SIGINT.
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal cancels ctx so the command can stop cleanly.
		// Restoring the default action then lets a second signal end the
		// process even when the command does not return, such as when it
		// is blocked in a system call.
		<-ctx.Done()
		stop()
	}()
	os.Exit(runCommand(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// runCommand runs the command line args with the given standard streams
// and returns its exit code. It prints the failure of a command that
// fails as main would: the message on stderr and, with JSON output, a
// failure object on stdout. svc is the store service that runs the
// command for a client, or nil in a process of its own.
func runCommand(ctx context.Context, args []string, stdin io.Reader, stdoutW, stderr io.Writer, svc *service) int {
	var req *serviceRequest
	if svc != nil {
		req = svc.newRequest(nil, "")
	}
	return runRequest(ctx, args, stdin, stdoutW, stderr, svc, req)
}

// runRequest is runCommand for req, a command that the store service svc
// runs, or for a process of its own when both are nil.
func runRequest(ctx context.Context, args []string, stdin io.Reader, stdoutW, stderr io.Writer, svc *service,
	req *serviceRequest) (code int) {
	root := newRootCommandFor(svc, req)
	if req != nil {
		defer svc.releaseWriter(req)
		// A defect that panics in one command ends that command only,
		// not the service and the other commands that it runs.
		defer func() {
			if p := recover(); p != nil {
				svc.log.Error("a command panicked", "request", req.id, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				fmt.Fprintf(stderr, "Error: internal error in the store service while it ran the command: %v; "+
					"the service goes on, and its log has the details for a bug report\n", p)
				code = exitError
			}
		}()
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetErr(stderr)
	stdout := &countingWriter{w: stdoutW}
	root.SetOut(stdout)
	cmd, err := root.ExecuteContextC(ctx)
	if forwarded := (*forwardedError)(nil); errors.As(err, &forwarded) {
		// The store service ran the command and the client printed its
		// output and messages already.
		return forwarded.code
	}
	if err == nil && stdout.err != nil {
		// Commands that print text do not check each write, so a full
		// disk under a redirected stdout would otherwise pass as success.
		err = fmt.Errorf("writing the output to stdout: %w; check where stdout goes, such as a full volume "+
			"under a redirected file", stdout.err)
	}
	if err == nil {
		return exitOK
	}
	code = exitCode(err)
	interrupted := errors.Is(err, context.Canceled) && ctx.Err() != nil
	if interrupted {
		code = exitInterrupted
	}
	message := err.Error()
	switch {
	case interrupted:
		message = interruptedMessage(cmd, err)
	case errors.Is(err, errdef.ErrStoreDamaged):
		message = storeDamagedMessage(cmd, err)
	}
	if jsonRequested(cmd, args) && stdout.n == 0 {
		// A script that reads stdout gets the outcome without parsing
		// stderr; commands that printed a result of their own keep it.
		_ = writeJSON(stdoutW, failureObject(cmd, args, message, err, code))
	}
	if errors.As(err, new(loggedError)) {
		return code
	}
	if interrupted {
		fmt.Fprintln(stderr, escapeControl(message))
		return code
	}
	fmt.Fprintln(stderr, "Error:", escapeControl(message))
	return code
}

// commandFailure is the stdout of a command run with JSON output
// that fails before printing anything else.
type commandFailure struct {
	Status   string `json:"status"`
	Command  string `json:"command"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
	ExitCode int    `json:"exitCode"`
}

// jsonRequested reports whether cmd was asked for JSON output: by
// --format where a command has it (its -o names a file), else by -o. When
// the flag was not parsed, as when an earlier flag is unknown, args, the
// raw command line, are read for it.
func jsonRequested(cmd *cobra.Command, args []string) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("format")
	if f == nil {
		f = cmd.Flags().Lookup("output")
	}
	if f == nil && cmd.HasAvailableSubCommands() {
		// A group command such as "stella ouk" failed on a mistyped
		// subcommand, whose -o flag the command line may still hold.
		return jsonRequested(outputFlagCommand, args)
	}
	if f == nil {
		return false
	}
	if f.Changed {
		return strings.EqualFold(f.Value.String(), "json")
	}
	long, short := "--"+f.Name, ""
	if f.Shorthand != "" {
		short = "-" + f.Shorthand
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		if (a == long || (short != "" && a == short)) && i+1 < len(args) && strings.EqualFold(args[i+1], "json") {
			return true
		}
		a = strings.ToLower(a)
		if a == long+"=json" || (short != "" && (a == short+"=json" || a == short+"json")) {
			return true
		}
	}
	return false
}

// outputFlagCommand is a command with only the -o flag, which
// jsonRequested reads the command line of a group command with.
var outputFlagCommand = func() *cobra.Command {
	c := &cobra.Command{}
	new(outputFlag).register(c)
	return c
}()

// interruptedMessage returns the line printed when an interrupt stops
// cmd with err: what the command leaves behind and what to do next.
func interruptedMessage(cmd *cobra.Command, err error) string {
	if unconfirmed := (*stopUnconfirmedError)(nil); errors.As(err, &unconfirmed) {
		return stopUnconfirmedMessage(cmd, unconfirmed)
	}
	if counted := (*countedScanInterruptedError)(nil); errors.As(err, &counted) {
		during := "while the quota slowed the scan down"
		if counted.writingReport {
			during = "while the scan wrote its report"
		}
		return "Interrupted " + during + ": the scan counted against today's quota " +
			"already, and running it again counts again; the store is unchanged otherwise."
	}
	if wait := (*storeWaitInterruptedError)(nil); errors.As(err, &wait) && wait.inService {
		return "Interrupted while waiting for another command in the store service to finish: this command " +
			"changed nothing; run it again once that command has finished."
	}
	if errors.As(err, new(*storeWaitInterruptedError)) {
		return "Interrupted while waiting for another stella process to release the store: this command changed " +
			"nothing; run it again once that process has finished."
	}
	name := ""
	if cmd != nil {
		name = cmd.Name()
	}
	switch name {
	case "push", "mirror":
		var tagErr *mirror.TagStateError
		if errors.As(err, &tagErr) {
			return "Interrupted: " + tagErr.State + "; run the same command again, which skips the blobs the " +
				"registry already holds."
		}
		return "Interrupted: run the same command again; it skips the blobs the registry already holds."
	case "build":
		// Build renames its files into place only once all are complete.
		if flagIsTrue(cmd, "delta") {
			return "Interrupted: neither the kit nor its delta was written, and files already under their names " +
				"are unchanged; run the same command again to build both."
		}
		return "Interrupted: no kit was written, and a file already under the output name is unchanged; " +
			"run the same command again to build the kit."
	case "delta":
		return "Interrupted: no delta was written, and a file already under the output name is unchanged; " +
			"run the same command again to write the delta."
	case "gc":
		if flagIsTrue(cmd, "dry-run") {
			return "Interrupted: a dry run removes nothing; run the same command again for the full report."
		}
		return "Interrupted: gc may have removed some blobs already, so a kit that it does not keep may be gone " +
			"from the store; the active kit and the kits gc keeps are intact. Run the same command again to " +
			"finish, or `stella ouk gc --dry-run` to list the kits it keeps."
	case "verify", "inspect", "status", "history", "lookup", "scan", "check":
		return readOnlyInterruptedMessage
	}
	return "Interrupted: the active kit is unchanged; run the same command again to finish the work."
}

// readOnlyInterruptedMessage is the line of an interrupted command that
// opens the store, if at all, only for reading.
const readOnlyInterruptedMessage = "Interrupted: this command changes nothing; run it again for its result."

// flagIsTrue reports whether cmd has the boolean flag name and it is set.
func flagIsTrue(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Value.String() == "true"
}

// loggedError is an error that the command has logged already, in the
// format of its other log lines, so main only exits with its code.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
	// err is the first write error.
	err error
}

// isTerminal reports whether the counted writer is a terminal, so that a
// command checks where its output goes, not the counter.
func (c *countingWriter) isTerminal() bool { return isTerminal(c.w) }

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// usageError marks a mistake in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}
