package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/errdef"
)

// The service socket carries frames: a type byte, a 4-byte big-endian
// payload length and the payload.
//
// The client sends one frameRequest with a serviceCall in JSON, then
// frameStdin chunks and one frameStdinEnd, each only when the service
// asked for standard input with a framePull, and frameCancel on Ctrl-C.
// The service sends frameStarted once it runs the command, frameStdout
// and frameStderr chunks as the command writes them, framePull when the command reads its standard input, and
// one frameExit with the exit code as its payload at the end.
const (
	frameRequest  byte = 'q'
	frameStdin    byte = 'i'
	frameStdinEnd byte = 'e'
	frameCancel   byte = 'c'
	frameStdout   byte = 'o'
	frameStderr   byte = 'r'
	framePull     byte = 'p'
	frameExit     byte = 'x'
	frameStarted  byte = 's'
)

// maxFrame bounds the payload of a frame, so a broken peer cannot make the
// other side allocate without limit.
const maxFrame = 1 << 20

// cancelledWriteWait bounds each write of a command in the service to its
// client once the command is cancelled, by the client or by the service's
// stop (see boundCancelledWrites). It matches the client's own wait after
// a cancel.
const cancelledWriteWait = 5 * time.Second

// serviceProtocol is the version of serviceCall that this release speaks.
const serviceProtocol = 1

// serviceCall is the command that a client sends the service to run.
type serviceCall struct {
	Protocol int               `json:"protocol"`
	Args     []string          `json:"args"`
	Cwd      string            `json:"cwd"`
	Env      map[string]string `json:"env,omitempty"`
	// StderrTerminal is set when the client's stderr is a terminal, so
	// that the command draws its progress bar there as it would on its
	// own.
	StderrTerminal bool `json:"stderrTerminal,omitempty"`
	// StdoutTerminal is set when the client's stdout is a terminal, so
	// that a command that writes binary data there refuses as it would
	// on its own.
	StdoutTerminal bool `json:"stdoutTerminal,omitempty"`
	// TokenSource and TokenWarnings come with the request of another
	// user, whose client reads its quota token itself. TokenSource is
	// the env file that $STELLA_JWT in Env came from, if any, and
	// TokenWarnings are the warnings of reading the token.
	TokenSource   string   `json:"tokenSource,omitempty"`
	TokenWarnings []string `json:"tokenWarnings,omitempty"`
}

// Limits of a serviceCall.
const (
	maxCallArgs   = 4096
	maxCallArgLen = 64 << 10
)

// writeFrame writes one frame to w.
func writeFrame(w io.Writer, kind byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes is over the limit of %d", len(payload), maxFrame)
	}
	var head [5]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(payload)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame from r.
func readFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of type %q announces %d bytes, over the limit of %d", head[0], n, maxFrame)
	}
	// The payload grows as its bytes arrive, so a peer that announces a
	// large frame and sends less makes the reader hold only what it sent.
	payload := make([]byte, 0, min(int(n), frameReadStep))
	for len(payload) < int(n) {
		step := min(int(n)-len(payload), frameReadStep)
		if len(payload)+step > cap(payload) {
			// Doubling keeps the copies of a large frame few.
			grown := make([]byte, len(payload), min(int(n), max(2*cap(payload), len(payload)+step)))
			copy(grown, payload)
			payload = grown
		}
		read, err := io.ReadFull(r, payload[len(payload):len(payload)+step])
		payload = payload[:len(payload)+read]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
	return head[0], payload, nil
}

// frameReadStep is the number of bytes by which readFrame grows a payload.
const frameReadStep = 64 << 10

// parseServiceCall decodes and checks the payload of a frameRequest.
func parseServiceCall(payload []byte) (serviceCall, error) {
	var call serviceCall
	if err := json.Unmarshal(payload, &call); err != nil {
		return call, fmt.Errorf("the request does not decode: %w", err)
	}
	if call.Protocol != serviceProtocol {
		return call, fmt.Errorf("the request uses protocol %d, and this service speaks %d; run the client and "+
			"the service from the same stella release", call.Protocol, serviceProtocol)
	}
	if len(call.Args) == 0 || len(call.Args) > maxCallArgs {
		return call, fmt.Errorf("the request has %d arguments; it needs 1 to %d", len(call.Args), maxCallArgs)
	}
	for _, a := range call.Args {
		if len(a) > maxCallArgLen {
			return call, fmt.Errorf("an argument of the request is %d bytes, over the limit of %d", len(a), maxCallArgLen)
		}
	}
	if !forwardedCommands[strings.Join(commandWords(call.Args), " ")] {
		return call, fmt.Errorf("the service does not run %q; run it while the service is stopped",
			strings.Join(commandWords(call.Args), " "))
	}
	for k := range call.Env {
		if !isForwardedEnv(k) {
			return call, fmt.Errorf("the request sets the environment variable %q, which the service does not take", k)
		}
	}
	return call, nil
}

// commandWords returns the leading words of args that name a command,
// such as ["ouk", "import"], up to the first flag.
func commandWords(args []string) []string {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i]
		}
		if i == 1 {
			return args[:2]
		}
	}
	return args
}

func isForwardedEnv(key string) bool {
	for _, k := range forwardedEnv {
		if k == key {
			return true
		}
	}
	return false
}

// frameConn serializes the frames that the goroutines of one command
// write to the connection.
type frameConn struct {
	mu sync.Mutex
	w  io.Writer
	// timeoutErr is the first write that timed out. It may have cut a
	// frame off, after which no later frame can be read, so every later
	// send fails with it at once.
	timeoutErr error
}

func (c *frameConn) send(kind byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timeoutErr != nil {
		return c.timeoutErr
	}
	err := writeFrame(c.w, kind, payload)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timeoutErr = err
	}
	return err
}

// boundCancelledWrites makes out, the frames to a client's conn, fail a
// write that the client does not take within cancelledWriteWait once ctx,
// the command's context, is done. Without it, a client that reads
// nothing, such as a stopped process, would block the command's writes,
// and with them the service's stop, forever. A client that reads gets
// every line, however long the command takes to end. The returned
// function stops the bound of a write that is already waiting at the
// cancel.
func boundCancelledWrites(ctx context.Context, conn net.Conn, out *frameConn) (stop func() bool) {
	out.w = cancelledConnWriter{conn: conn, ctx: ctx}
	return context.AfterFunc(ctx, func() {
		_ = conn.SetWriteDeadline(time.Now().Add(cancelledWriteWait))
	})
}

// cancelledConnWriter is the writer of boundCancelledWrites.
type cancelledConnWriter struct {
	conn net.Conn
	ctx  context.Context
}

func (w cancelledConnWriter) Write(p []byte) (int, error) {
	if w.ctx.Err() != nil {
		_ = w.conn.SetWriteDeadline(time.Now().Add(cancelledWriteWait))
	}
	return w.conn.Write(p)
}

// frameWriter writes what a command prints as frames of one kind.
type frameWriter struct {
	conn *frameConn
	kind byte
}

func (w frameWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxFrame)
		if err := w.conn.send(w.kind, p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// terminalFrameWriter is the stderr or stdout of a command whose client
// writes it to a terminal (see isTerminal).
type terminalFrameWriter struct{ frameWriter }

func (terminalFrameWriter) isTerminal() bool { return true }

// pullReader is the standard input of a command in the service: each
// Read requests the next chunk from the client.
type pullReader struct {
	conn   *frameConn
	chunks <-chan []byte // closed at the end of the client's input
	ctx    context.Context
	rest   []byte
	done   bool
	// budget, when not nil, is charged for each chunk as it arrives, and
	// reserved counts the bytes charged. The caller gives them back once
	// the command has ended.
	budget   *byteBudget
	reserved int64
}

func (r *pullReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		if r.done {
			return 0, io.EOF
		}
		want := min(len(p), maxFrame)
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(want))
		if err := r.conn.send(framePull, n[:]); err != nil {
			return 0, err
		}
		select {
		case chunk, ok := <-r.chunks:
			if !ok {
				r.done = true
			}
			if r.budget != nil && len(chunk) > 0 {
				if err := r.budget.take(r.ctx, int64(len(chunk))); err != nil {
					return 0, err
				}
				r.reserved += int64(len(chunk))
			}
			r.rest = chunk
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// serveClient runs the command of one client.
func (s *service) serveClient(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	out := &frameConn{w: conn}
	fail := func(msg string) {
		_ = out.send(frameStderr, []byte("Error: "+msg+"\n"))
		_ = out.send(frameExit, []byte(fmt.Sprint(exitUsage)))
	}
	uid, pid, err := peerCredentials(conn)
	if err != nil {
		s.log.Warn("rejected a client whose user cannot be read", "error", err)
		fail(fmt.Sprintf("the store service of %s cannot read the user of this process: %v", s.dir, err))
		return
	}
	foreign := uid != s.uid
	if foreign && s.foreignClients != nil {
		select {
		case s.foreignClients <- struct{}{}:
			defer func() { <-s.foreignClients }()
		default:
			s.warnings.warn(s.log, "too many clients of other users at once; closing a new connection", uid, pid,
				"limit", maxForeignClients)
			turnAway(conn, fmt.Sprintf("the store service of %s serves %d clients of other users at once already, "+
				"so this command did not run; try again once some have finished", s.dir, maxForeignClients))
			return
		}
	}
	in := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The service's stop ends the wait for the request at once.
	stopRequestWait := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	kind, payload, err := readFrame(in)
	stopRequestWait()
	if ctx.Err() != nil {
		// The client learns that its command did not run, since no
		// frameStarted comes.
		return
	}
	if errors.Is(err, io.EOF) {
		// A client that closes the connection before it sends a byte,
		// such as serviceListens checking that the service runs, is not
		// worth a warning: other commands and services check that often.
		return
	}
	if err == nil && kind != frameRequest {
		err = fmt.Errorf("the first frame has type %q instead of a request", kind)
	}
	if err != nil {
		s.warnings.warn(s.log, "a client sent no request", uid, pid, "error", err)
		return
	}
	conn.SetReadDeadline(time.Time{})
	call, err := parseServiceCall(payload)
	if err == nil && foreign {
		err = checkSharedCall(call, s.uid)
	}
	if err != nil {
		s.log.Warn("rejected a request", "uid", uid, "pid", pid, "error", err)
		fail(err.Error())
		return
	}

	serviceCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWriteBound := boundCancelledWrites(ctx, conn, out)
	defer stopWriteBound()
	chunks := make(chan []byte, 1)
	// clientEnd is set, before the cancel, once the client has cancelled
	// its command or gone away, for the log line of the command's end.
	var clientEnd atomic.Pointer[clientEndCause]
	go func() {
		// A client that cancels or goes away stops its command.
		defer cancel()
		cause := clientEndCause{state: "disconnected"}
		defer func() { clientEnd.Store(&cause) }()
		closed := false
		for {
			kind, payload, err := readFrame(in)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					cause.err = err
				}
				return
			}
			switch kind {
			case frameStdin:
				if !closed {
					select {
					case chunks <- payload:
					case <-ctx.Done():
						return
					}
				}
			case frameStdinEnd:
				if !closed {
					closed = true
					close(chunks)
				}
			case frameCancel:
				cause.state = "cancelled"
				return
			default:
				cause.err = fmt.Errorf("the client sent a frame of unknown type %q", kind)
				return
			}
		}
	}()
	if ctx.Err() != nil {
		// The service is stopping: the client learns that its command
		// did not run, since no frameStarted came.
		return
	}
	if err := out.send(frameStarted, nil); err != nil {
		return
	}
	req := s.newRequest(call.Env, call.Cwd)
	if foreign {
		// Paths of another user are not read with this user's rights.
		req.cwd, req.foreign = "", true
		req.tokenSource, req.tokenWarnings = call.TokenSource, call.TokenWarnings
	}
	start := time.Now()
	s.log.Info("command started", "request", req.id, "command", strings.Join(commandWords(call.Args), " "))
	stdin := &pullReader{conn: out, chunks: chunks, ctx: ctx}
	if foreign {
		// The SBOM of another user's scan stays in memory until the scan
		// ends, so its bytes count against the shared budget until then.
		stdin.budget = s.foreignInput
	}
	var stderr io.Writer = frameWriter{out, frameStderr}
	if call.StderrTerminal {
		stderr = terminalFrameWriter{frameWriter{out, frameStderr}}
	}
	var stdout io.Writer = frameWriter{out, frameStdout}
	if call.StdoutTerminal {
		stdout = terminalFrameWriter{frameWriter{out, frameStdout}}
	}
	code := runRequest(ctx, call.Args, stdin, stdout, stderr, s, req)
	if stdin.budget != nil {
		stdin.budget.give(stdin.reserved)
	}
	if serviceCtx.Err() != nil && clientEnd.Load() == nil && strings.Join(commandWords(call.Args), " ") == "ouk watch" {
		// A watch that the service's stop ended must not exit 0 as one
		// stopped by its operator, so that a service manager restarts it.
		slog.New(slog.NewTextHandler(stderr, nil)).Error("the store service stopped, which ended this watch; " +
			"run the watch again once the service runs, or while it is stopped")
		code = exitError
	}
	ended := []any{"request", req.id, "exitCode", code, "duration", time.Since(start).Round(time.Millisecond)}
	s.log.Info("command ended", append(ended, commandEndCause(clientEnd.Load(), serviceCtx)...)...)
	_ = out.send(frameExit, []byte(fmt.Sprint(code)))
	s.stopIfBroken()
}

// clientEndCause records how a client ended its command in the service
// before the command ended.
type clientEndCause struct {
	// state is "cancelled" after the client's cancel, as on Ctrl-C, or
	// "disconnected" when its connection ended.
	state string
	// err is the error that ended the connection, if it did not end
	// cleanly.
	err error
}

// commandEndCause returns the log attributes that name what stopped a
// command in the service: its client, as cause records, or the service's
// stop, which cancels serviceCtx. It returns none for a command that
// nothing stopped.
func commandEndCause(cause *clientEndCause, serviceCtx context.Context) []any {
	switch {
	case cause != nil && cause.err != nil:
		return []any{"client", cause.state, "clientError", cause.err}
	case cause != nil:
		return []any{"client", cause.state}
	case serviceCtx.Err() != nil:
		return []any{"stoppedBy", "service stop"}
	}
	return nil
}

// runRemote sends call over conn and copies what the command in the
// service writes to stdout and stderr, reading stdin when the command
// requests it. It returns the command's exit code. The first cancel of ctx
// makes the service stop the command, and runRemote still waits for the
// command's last lines and exit code then.
func runRemote(ctx context.Context, conn net.Conn, call serviceCall, startWait time.Duration, stdin io.Reader,
	stdout, stderr io.Writer) (int, error) {
	defer conn.Close()
	// A service that does not start the command within startWait is
	// taken as stuck. So is one that does not end the command within
	// cancelWait of a cancel. The read deadlines below end both waits.
	const cancelWait = 5 * time.Second
	_ = conn.SetReadDeadline(time.Now().Add(startWait))
	payload, err := json.Marshal(call)
	if err != nil {
		return 0, err
	}
	out := &frameConn{w: conn}
	// A service that turns the client away closes the connection after
	// sending its reason, maybe before the request is written. The reason
	// is still read below, so a failed send does not end the call.
	sendErr := out.send(frameRequest, payload)
	// deadlineMu orders the cancel's read deadline after the clear at
	// frameStarted, so that a Ctrl-C in between keeps its bound.
	var deadlineMu sync.Mutex
	cancelled := false
	stop := context.AfterFunc(ctx, func() {
		deadlineMu.Lock()
		cancelled = true
		_ = conn.SetReadDeadline(time.Now().Add(cancelWait))
		deadlineMu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(cancelWait))
		_ = out.send(frameCancel, nil)
	})
	defer stop()
	in := bufio.NewReader(conn)
	var pulls chan int
	started := false
	// beforeStart holds what the service writes to stderr before it
	// starts the command, which is the reason when it turns the client
	// away. That reason becomes the client's error, so that it reaches
	// the JSON failure object too.
	var beforeStart bytes.Buffer
	for {
		kind, payload, err := readFrame(in)
		if err != nil && !started {
			_, _ = stderr.Write(beforeStart.Bytes())
			beforeStart.Reset()
		}
		if err != nil && ctx.Err() != nil && started && errors.Is(err, os.ErrDeadlineExceeded) {
			// The service may still run the command to its end, so the
			// client must not claim that the command stopped.
			return 0, &stopUnconfirmedError{wait: cancelWait}
		}
		if err != nil && ctx.Err() != nil {
			return 0, fmt.Errorf("%w before it ended the interrupted command (%v)", errServiceClosed, err)
		}
		if err != nil && !started && errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, fmt.Errorf("the store service did not start the command within %s, so it may be stuck or "+
				"overloaded; the command did not run. Check the service's log and restart it, or wait longer with "+
				"--lock-timeout: %w", startWait, errdef.ErrStoreInUse)
		}
		if err != nil && !started && sendErr != nil {
			return 0, fmt.Errorf("%w before it started the command (sending it failed: %v); the command did "+
				"not run, so run it again", errServiceClosed, sendErr)
		}
		if err != nil && !started {
			return 0, fmt.Errorf("%w before it started the command (%v); the command did not run, so run it again",
				errServiceClosed, err)
		}
		if err != nil {
			return 0, fmt.Errorf("%w before the command finished (%v); the command may have run in part: check "+
				"with `stella ouk status`, then run it again", errServiceClosed, err)
		}
		switch kind {
		case frameStarted:
			started = true
			_, _ = stderr.Write(beforeStart.Bytes())
			beforeStart.Reset()
			deadlineMu.Lock()
			if !cancelled {
				_ = conn.SetReadDeadline(time.Time{})
			}
			deadlineMu.Unlock()
		case frameStdout:
			if _, err := stdout.Write(payload); err != nil {
				// As a command of its own would, give up once stdout is
				// gone, as after `| head -1`, and report the write error,
				// as on a full volume under a redirected stdout.
				_ = out.send(frameCancel, nil)
				return 0, fmt.Errorf("writing the output to stdout: %w; check where stdout goes, such as a "+
					"full volume under a redirected file", err)
			}
		case frameStderr:
			if !started && beforeStart.Len() < maxFrame {
				beforeStart.Write(payload)
				continue
			}
			_, _ = stderr.Write(payload)
		case framePull:
			if pulls == nil {
				pulls = make(chan int, 1)
				go sendStdin(out, stdin, pulls)
			}
			if len(payload) == 4 {
				select {
				case pulls <- int(binary.BigEndian.Uint32(payload)):
				default:
					// The input ended already, or a pull is pending.
				}
			}
		case frameExit:
			var code int
			if _, err := fmt.Sscan(string(payload), &code); err != nil {
				return 0, fmt.Errorf("the store service sent the exit code %q: %w", payload, err)
			}
			if !started && (code == exitStoreBusy || code == exitUsage) {
				return 0, newServiceRejectedError(beforeStart.String(), code)
			}
			_, _ = stderr.Write(beforeStart.Bytes())
			return code, nil
		default:
			return 0, fmt.Errorf("the store service sent a frame of unknown type %q; run the client and the "+
				"service from the same stella release", kind)
		}
	}
}

// serviceRejectedError is the error of a client whose command the store
// service did not run, as when it serves as many clients as it may. It
// wraps the error kind of the exit code that the service sent:
// errdef.ErrStoreInUse for exit 4 and errdef.ErrInvalidArgument for exit 2.
type serviceRejectedError struct {
	message string
	code    int
}

// newServiceRejectedError returns the error of a rejection whose reason
// the service wrote as stderr, an "Error: " line, with exit code code.
func newServiceRejectedError(stderr string, code int) *serviceRejectedError {
	message := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr), "Error:"))
	if message == "" {
		message = fmt.Sprintf("the store service did not run the command and gave no reason (exit code %d)", code)
	}
	return &serviceRejectedError{message: message, code: code}
}

func (e *serviceRejectedError) Error() string { return e.message }

func (e *serviceRejectedError) Unwrap() error {
	if e.code == exitStoreBusy {
		return errdef.ErrStoreInUse
	}
	return errdef.ErrInvalidArgument
}

// stopUnconfirmedError is the error of a client that requested the stop
// of its running command after an interrupt, and whose service did not
// send the command's exit code within wait. It wraps context.Canceled, so
// the client exits as an interrupted command, with the line of
// stopUnconfirmedMessage.
type stopUnconfirmedError struct{ wait time.Duration }

func (e *stopUnconfirmedError) Error() string {
	return fmt.Sprintf("the store service did not confirm within %s that it stopped the interrupted command", e.wait)
}

func (e *stopUnconfirmedError) Unwrap() error { return context.Canceled }

// stopUnconfirmedMessage returns the line of an interrupted client whose
// command, cmd, may still run in the store service as err reports: what
// the command may still do and where to see its outcome.
func stopUnconfirmedMessage(cmd *cobra.Command, err *stopUnconfirmedError) string {
	effect := ""
	name := ""
	if cmd != nil {
		name = cmd.Name()
	}
	switch {
	case name == "import" || name == "rollback":
		effect = ", so it may still change the active kit"
	case name == "watch":
		effect = ", so it may still import kits and change the active kit"
	case name == "gc" && !flagIsTrue(cmd, "dry-run"):
		effect = ", so it may still remove blobs and kits that gc does not keep"
	case name == "delta" || name == "export":
		effect = ", so it may still write its output file"
	}
	return fmt.Sprintf("Interrupted: the stop of this command was requested, but the store service has not "+
		"confirmed within %s that the command ended. The command may still be running in the service and may "+
		"still finish%s. See its outcome with `stella ouk status` and `stella ouk history`, or in the "+
		"service's log, before running it again.", err.wait, effect)
}

// sendStdin responds to each pull with up to the requested number of bytes of
// stdin, and with the end of the input once stdin is read.
func sendStdin(out *frameConn, stdin io.Reader, pulls <-chan int) {
	buf := make([]byte, maxFrame)
	for want := range pulls {
		n, err := stdin.Read(buf[:max(1, min(want, maxFrame))])
		if n > 0 {
			if out.send(frameStdin, buf[:n]) != nil {
				return
			}
			continue
		}
		if err != nil {
			_ = out.send(frameStdinEnd, nil)
			return
		}
		_ = out.send(frameStdin, nil)
	}
}

// sharedCommands are the commands that the service also runs for users
// other than its own, as they could read a store they cannot write
// without the service.
var sharedCommands = map[string]bool{
	"db lookup":   true,
	"db status":   true,
	"ouk status":  true,
	"ouk history": true,
	"scan":        true,
}

// checkSharedCall returns an error unless the service of user ID owner
// runs call for another user. Such a call is a command of sharedCommands
// that names no file and sets no variable but $STELLA_JWT. A scan reads
// the SBOM that the client sends as its standard input.
func checkSharedCall(call serviceCall, owner int) error {
	command := commandWords(call.Args)
	words := strings.Join(command, " ")
	if !sharedCommands[words] {
		return fmt.Errorf("the store service runs as user ID %d and runs %q for that user only; run the "+
			"command as that user, or while the service is stopped", owner, words)
	}
	for _, a := range call.Args[len(command):] {
		if a == "--" {
			break
		}
		// pflag takes the argument after "--NAME" or "-N" as the flag's
		// value even when that argument is "--", which would hide the
		// flags after it from this check. Clients send each flag as
		// --NAME=VALUE, so every other form is rejected.
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			return fmt.Errorf("the request has the argument %q before --, where a request of another user "+
				"gives only flags in the form --NAME=VALUE; run the client and the service from the same "+
				"stella release", a)
		}
		if name == "sbom" && value == "-" {
			continue
		}
		if pathFlags[name] {
			return fmt.Errorf("the store service runs as user ID %d and reads no file for another user, so "+
				"--%s is not accepted; run the command as that user, or while the service is stopped", owner, name)
		}
	}
	for k := range call.Env {
		if k != "STELLA_JWT" {
			return fmt.Errorf("the store service takes no $%s from another user", k)
		}
	}
	return nil
}
