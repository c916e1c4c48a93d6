package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

// serviceSocketName is the file name of the store service's socket in the
// store folder.
const serviceSocketName = "serve.sock"

// maxClients bounds the clients that the service serves at once, so that
// a burst of them, or a user who opens connections and keeps them, cannot
// use up its file descriptors.
const maxClients = 256

// maxForeignClients bounds the clients of other users than the service's
// among the maxClients, so that they cannot take every place and turn
// away the commands of the service's own user.
const maxForeignClients = maxClients / 2

// maxSocketPath is the longest path that a Unix socket address holds on
// Linux, without its terminating NUL.
const maxSocketPath = 107

// service is the store service: one process that holds the store open and
// runs the commands of its clients on it, so that lookups and scans go on
// while an import or gc runs.
type service struct {
	dir   string // the store folder
	store *cas.Store
	log   *slog.Logger
	// writer admits one command that changes the store at a time; a
	// command holds it by sending into it.
	writer chan struct{}
	// writerCommand is the command path of the last command that took
	// writer, such as "stella ouk import", for the messages of waiters.
	writerCommand atomic.Value
	nextID        atomic.Uint64
	uid           int
	// foreignClients admits up to maxForeignClients clients of other
	// users at once; each holds a place by sending into it.
	foreignClients chan struct{}
	// stop ends the service.
	stop context.CancelFunc
	// brokenOnce guards the stop of stopIfBroken, and brokenErr is the
	// store's error that caused it.
	brokenOnce sync.Once
	brokenErr  error
	// started is when the service started, and watchDir its drop folder
	// or "", for ouk status.
	started  time.Time
	watchDir string
	// foreignInput is the budget of the standard input that commands of
	// other users hold at once (see foreignInputLimit).
	foreignInput *byteBudget
	// unpinned tracks the lookups and scans that read a kit without a
	// pin, while the volume lacks the space to write one.
	unpinned unpinnedReads
	// warnings logs the warnings about clients that a burst of them
	// repeats, such as idle connections.
	warnings clientWarnings
}

// serviceRequest is one command that the service runs.
type serviceRequest struct {
	id uint64
	// env holds the client's values of the environment variables that
	// commands read for themselves (see forwardedEnv).
	env map[string]string
	// cwd is the client's working folder, for paths that commands take
	// by default, such as the quota's .env file.
	cwd string
	// holdsWriter is set while the command holds service.writer.
	holdsWriter bool
	// foreign is set for a command of another user than the service's.
	foreign bool
	// tokenSource and tokenWarnings are the client's serviceCall fields
	// of the same names, for a foreign scan.
	tokenSource   string
	tokenWarnings []string
}

// forwardedEnv lists the environment variables that a client sends with
// its command. The service runs every command with its own environment
// otherwise, such as the registry credentials of its user.
var forwardedEnv = []string{"STELLA_JWT", "COSIGN_PASSWORD", "STELLA_AIRGAP", "STELLA_OFFLINE"}

// getenv returns the value of the environment variable key for this
// command: the client's value when the store service runs it.
func (g *globalOptions) getenv(key string) string {
	v, _ := g.lookupEnv(key)
	return v
}

// lookupEnv is os.LookupEnv for this command: it returns the client's
// value when the store service runs it.
func (g *globalOptions) lookupEnv(key string) (string, bool) {
	if g.request != nil {
		v, ok := g.request.env[key]
		return v, ok
	}
	return os.LookupEnv(key)
}

// resolvePath returns path, read relative to the client's working folder
// when the store service runs the command.
func (g *globalOptions) resolvePath(path string) string {
	if g.request == nil || path == "" || filepath.IsAbs(path) || g.request.cwd == "" {
		return path
	}
	return filepath.Join(g.request.cwd, path)
}

// open hands the service's store to a command. A command that writes
// waits, up to opts.LockWait, for any other such command to finish, as it
// would wait for another process.
func (s *service) open(ctx context.Context, g *globalOptions, opts cas.Options) (*cas.Store, string, error) {
	if opts.ReadOnly || opts.ReadOnlyIfUnwritable || g.request == nil || g.request.holdsWriter {
		return s.store, s.dir, nil
	}
	select {
	case s.writer <- struct{}{}:
		return s.startWriter(g)
	default:
	}
	running, _ := s.writerCommand.Load().(string)
	if opts.Logger != nil && opts.LockWait > 0 {
		opts.Logger.Warn("waiting for the store service to finish another command that changes the store",
			"store", s.dir, "running", running, "timeout", opts.LockWait)
	}
	timer := time.NewTimer(opts.LockWait)
	defer timer.Stop()
	select {
	case s.writer <- struct{}{}:
		return s.startWriter(g)
	case <-ctx.Done():
		return nil, "", &storeWaitInterruptedError{err: ctx.Err(), inService: true}
	case <-timer.C:
		return nil, "", fmt.Errorf("store %s is busy: the store service runs another command that changes it "+
			"(%s); try again when it has finished, or wait longer with --lock-timeout (now %s): %w", s.dir,
			running, opts.LockWait, errdef.ErrStoreInUse)
	}
}

// startWriter hands the store to the command of g, which holds writer
// now, unless the store's volume lacks the space for its writes. The
// command then fails as it would on its own, and the next writer may run.
func (s *service) startWriter(g *globalOptions) (*cas.Store, string, error) {
	if err := s.checkWriterSpace(); err != nil {
		<-s.writer
		s.log.Warn("rejected a command that changes the store, because the store's volume lacks the space for it",
			"request", g.request.id, "command", g.command, "error", err)
		return nil, "", err
	}
	g.request.holdsWriter = true
	s.writerCommand.Store(g.command)
	return s.store, s.dir, nil
}

// releaseWriter lets the next command that changes the store run, once
// this command, or this watch round, is done with the store. Outside the
// store service it does nothing.
func (g *globalOptions) releaseWriter() {
	if g.svc != nil && g.request != nil {
		g.svc.releaseWriter(g.request)
	}
}

// releaseWriter ends req's hold on writer, if it has one, and stops the
// service when the command left the store unable to write.
func (s *service) releaseWriter(req *serviceRequest) {
	if req.holdsWriter {
		req.holdsWriter = false
		<-s.writer
		s.stopIfBroken()
	}
}

// stopIfBroken stops the service once its store has stopped writing after
// a fatal database error, such as a full volume. The store fails every
// later write until it is opened again, so the service exits with an
// error, for its service manager to start it again, and commands open the
// store themselves meanwhile.
func (s *service) stopIfBroken() {
	err := s.store.Broken()
	if err == nil {
		return
	}
	s.brokenOnce.Do(func() {
		s.log.Error("stopping the service, because the store stopped writing; the next service opens it again",
			"store", s.dir, "error", err)
		s.brokenErr = err
		s.stop()
	})
}

// newRequest starts the record of one command.
func (s *service) newRequest(env map[string]string, cwd string) *serviceRequest {
	return &serviceRequest{id: s.nextID.Add(1), env: env, cwd: cwd}
}

type serveOptions struct {
	watchDir string
	interval time.Duration
	settle   time.Duration
	keys     []string
}

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--watch DIR]",
		Short: "Hold the store open and run other stella commands on it, so scans go on during imports",
		Long: `Run the store service: a process that holds the store open and runs the
commands that other stella processes of the same user give it, through the
socket serve.sock in the store folder. Other users who may read the
store's db folder get lookups, db status, ouk status, ouk history and
scans from it, with the SBOM read by their own process. While the service
runs, these commands run in it: db lookup, db status, scan, quota status,
ouk status, ouk history, ouk import, ouk rollback, ouk gc, ouk inspect,
ouk watch, ouk check, ouk delta and ouk export. Lookups and scans then go
on while an import, a rollback, gc or a watch round changes the store,
each reading the kit that was active when it started; commands that
change the store run one at a time. Their
output, messages and exit codes are those of the command run on its own.
A client's Ctrl-C stops its command in the service.

A command runs with the client's working folder for its paths and with
the client's $STELLA_JWT and $COSIGN_PASSWORD, and with the service's
environment otherwise, such as for registry credentials. Air-gap mode is
on when the client or the service sets STELLA_AIRGAP or STELLA_OFFLINE.
The service never prompts for a password. Other commands that need the
store, such as ouk push or ouk mirror, do not run in the service: they
exit at once with code 4 and a message that names the service, since it
holds the store until it stops. Stop the service while they run. A
client waits up to --lock-timeout for the service to start its command.

The store folder must hold a store, as after a first 'stella ouk import';
otherwise the service exits with 1 at once, so a mistyped --store does not
serve a new empty store.

With --watch, the service also imports every new kit in the drop folder
DIR, as 'stella ouk watch' does, and --key, --interval and --settle have
the meaning they have there. It then creates a store that is missing, for
the first kit to fill, and logs a warning that names it. A DIR that is a
file is a usage error (exit 2) before the service starts; a missing DIR
is waited for, as ouk watch waits for it. The service ends with exit
code 1 when the watch ends with an error.

SIGINT, SIGTERM or SIGHUP, as when the terminal or SSH session that
started it closes, stops the service: commands that it runs are
interrupted as a Ctrl-C of theirs would, the socket is removed and the
store is closed. The service exits 0 then.

On a volume too full to open the store for writing, the service opens it
read-only and logs a warning: lookups, scans and status go on, and
commands that change the store exit with 1 and the disk-full message they
give on their own. On a volume that becomes that full, lookups and scans
write no pin and scans are not counted against the quota, and commands
that change the store are rejected in the same way. A service whose
store stops writing after a fatal database error, such as a write that
still finds the volume full, stops and exits with 1. Run it under a
service manager, such as a systemd unit with Restart=on-failure.

The SBOMs that scans of other users send take up to 1 GiB of the
service's memory at once; a scan that would pass that limit waits up to
10s, then exits with 4 and asks to be tried again.`,
		Example: `  stella --store /var/lib/stella serve
  stella --store /var/lib/stella serve --watch /srv/stella/drop`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.watchDir, "watch", "", "drop folder to import new kits and deltas from, as ouk watch does")
	f.StringArrayVar(&o.keys, "key", nil, "with --watch, a trusted public key file (repeatable)")
	f.DurationVar(&o.interval, "interval", 30*time.Second, "with --watch, the time between scans of the folder")
	f.DurationVar(&o.settle, "settle", defaultSettle, "with --watch, the time a damaged kit must stay unchanged "+
		"before it is rejected")
	return cmd
}

func (o *serveOptions) run(cmd *cobra.Command, g *globalOptions) error {
	if o.watchDir == "" && (len(o.keys) > 0 || cmd.Flags().Changed("interval") || cmd.Flags().Changed("settle")) {
		return usagef("--key, --interval and --settle apply to --watch; give the drop folder with --watch DIR")
	}
	if o.interval <= 0 {
		return usagef("--interval is %s; give a positive duration such as 30s", o.interval)
	}
	if o.settle <= 0 {
		return usagef("--settle is %s; give a positive duration such as 2m", o.settle)
	}
	// Checked before the service starts, since a watch that fails later
	// ends the service with exit 1, which a service manager restarts in a
	// loop. A missing folder is allowed: the watch waits for it.
	if info, err := os.Stat(o.watchDir); o.watchDir != "" && err == nil && !info.IsDir() {
		return usagef("--watch %q is a file, not a folder; give the drop folder that kits are copied into",
			o.watchDir)
	}
	// A hangup, as when the terminal or SSH session that started the
	// service closes, stops the service cleanly as SIGTERM does. Later
	// hangups, which a closing session may send, are caught until run
	// returns, so they do not kill the service while it stops.
	signalCtx, stopHangup := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
	defer stopHangup()
	// The signal that stops the service, for its log line.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	ctx := signalCtx
	stderr := cmd.ErrOrStderr()
	log := serviceLogger(g, stderr)
	dir, err := g.storeDir()
	if err != nil {
		return err
	}
	socket := filepath.Join(dir, serviceSocketName)
	if len(socket) > maxSocketPath {
		return usagef("the service socket %s would be %d bytes long, over the %d bytes a Unix socket path may "+
			"have; give a store folder with a shorter path", socket, len(socket), maxSocketPath)
	}
	if serviceListens(socket) {
		// Checked before the store is opened, which would wait for the
		// running service and then name it as a holder of the store.
		return fmt.Errorf("another store service listens on %s and serves the store %s already: %w",
			socket, dir, errdef.ErrStoreInUse)
	}
	store, dir, created, err := o.openStore(ctx, g, log, stderr)
	if err != nil {
		return err
	}
	defer func() {
		store.Unserve()
		removeUnusedStore(log, store, dir, created)
		store.Close()
	}()
	ln, err := listenService(socket)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	svc := &service{dir: dir, store: store, log: log, writer: make(chan struct{}, 1), uid: os.Getuid(), stop: stop,
		started: time.Now().UTC().Truncate(time.Second), foreignClients: make(chan struct{}, maxForeignClients),
		foreignInput: newByteBudget(foreignInputLimit, foreignInputWait)}
	if o.watchDir != "" {
		svc.watchDir = absPath(o.watchDir)
	}
	store.Serve()

	var running sync.WaitGroup
	watchDone := make(chan int, 1)
	if o.watchDir != "" {
		args := []string{"ouk", "watch", "--interval", o.interval.String(), "--settle", o.settle.String()}
		for _, k := range o.keys {
			args = append(args, "--key", absPath(k))
		}
		if g.verbose {
			args = append(args, "--verbose")
		}
		if g.quiet {
			args = append(args, "--quiet")
		}
		args = append(args, "--", absPath(o.watchDir))
		// The watch shares stderr with the service's log, whose lines
		// would follow a progress bar on the same line, so hiding the
		// terminal makes the watch log its progress as lines.
		watchStderr := struct{ io.Writer }{stderr}
		running.Add(1)
		go func() {
			defer running.Done()
			code := runCommand(ctx, args, eofReader{}, io.Discard, watchStderr, svc)
			watchDone <- code
			stop()
		}()
	}
	log.Info("store service started", "store", dir, "socket", socket, "pid", os.Getpid(), "watch", o.watchDir)

	go func() {
		<-ctx.Done()
		// The signal that cancelled ctx reaches this channel apart from
		// the one that cancelled it, so it may come a moment later.
		select {
		case sig := <-signals:
			log.Info("stopping the store service", "signal", sig.String())
		case <-time.After(200 * time.Millisecond):
			log.Info("stopping the store service")
		}
		// A second SIGINT or SIGTERM then ends a service whose stop
		// hangs, as it ends any other command (see main). Hangups stay
		// caught by signalCtx.
		signal.Stop(signals)
		ln.Close()
	}()
	var retryWait time.Duration
	var acceptErr error
	clients := make(chan struct{}, maxClients)
	for {
		conn, err := ln.Accept()
		if err != nil && ctx.Err() == nil && isTemporaryAcceptError(err) {
			// A shortage, such as of file descriptors during a burst of
			// clients, ends once some of them are done, so the service
			// retries the accept.
			retryWait = min(max(2*retryWait, 5*time.Millisecond), time.Second)
			log.Warn("accepting a client on the service socket failed; retrying", "error", err, "retryIn", retryWait)
			select {
			case <-time.After(retryWait):
			case <-ctx.Done():
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Error("accepting a client on the service socket failed; stopping the service", "error", err)
				// Exit 1, so that a service manager starts it again.
				acceptErr = err
			}
			stop()
			break
		}
		retryWait = 0
		select {
		case clients <- struct{}{}:
		default:
			// Past the limit, the client learns at once that its command
			// did not run, and the service keeps its file descriptors.
			uid, pid, _ := peerCredentials(conn.(*net.UnixConn))
			svc.warnings.warn(log, "too many clients at once; closing a new connection", uid, pid,
				"limit", maxClients)
			turnAway(conn, fmt.Sprintf("the store service of %s serves %d clients at once already, so this "+
				"command did not run; try again once some have finished", dir, maxClients))
			continue
		}
		running.Add(1)
		go func() {
			defer running.Done()
			defer func() { <-clients }()
			svc.serveClient(ctx, conn.(*net.UnixConn))
		}()
	}
	running.Wait()
	svc.warnings.flush()
	removeSocket(socket, ln)
	select {
	case code := <-watchDone:
		if code != exitOK && signalCtx.Err() == nil {
			return loggedError{err: fmt.Errorf("the watch of %s ended with exit code %d", o.watchDir, code)}
		}
	default:
	}
	if svc.brokenErr != nil {
		return loggedError{err: fmt.Errorf("the store service stopped: %w", svc.brokenErr)}
	}
	if acceptErr != nil {
		return loggedError{err: fmt.Errorf("the store service stopped: accepting clients failed: %w", acceptErr)}
	}
	log.Info("store service stopped", "store", dir)
	return nil
}

// openStore opens the store that the service serves, and returns the
// parts of it that the open created. Without --watch, a store folder that
// contains no store is an error, so a mistyped --store fails at once instead
// of serving a new empty store. With --watch, the first kit from the drop
// folder fills a new store, and a warning names it.
func (o *serveOptions) openStore(ctx context.Context, g *globalOptions, log *slog.Logger,
	stderr io.Writer) (*cas.Store, string, newStoreParts, error) {
	if o.watchDir == "" {
		if err := g.checkStorePresent(); err != nil {
			return nil, "", newStoreParts{}, err
		}
		store, dir, err := g.openStoreWith(ctx, cas.Options{Logger: g.logger(stderr), LockWait: g.lockWait,
			MustExist: true, ReadOnlyIfFull: true})
		warnServiceReadOnly(log, store, dir)
		return store, dir, newStoreParts{}, err
	}
	created := g.absentStoreParts()
	// A new store cannot open read-only, so only an existing one does
	// when its volume is full.
	store, dir, err := g.openStoreWith(ctx, cas.Options{Logger: g.logger(stderr), LockWait: g.lockWait,
		ReadOnlyIfFull: !created.db})
	warnServiceReadOnly(log, store, dir)
	if err == nil && created.db {
		log.Warn("created a new store, because the store folder contained none; the first kit from the drop folder "+
			"fills it. If the store belongs elsewhere, check --store and $STELLA_HOME", "store", dir, "watch", o.watchDir)
	}
	return store, dir, created, err
}

// warnServiceReadOnly logs a warning when the service opened store
// read-only for lack of space, so that the commands that change it fail.
func warnServiceReadOnly(log *slog.Logger, store *cas.Store, dir string) {
	if store == nil || store.LowSpace() == nil {
		return
	}
	log.Warn("opened the store read-only, because its volume lacks the space to open it for writing; the service "+
		"runs lookups, scans and status, but rejects the commands that change the store until it is restarted "+
		"on a volume with space", "store", dir, "reason", store.LowSpace())
}

// isTemporaryAcceptError reports whether err, from accepting a client,
// comes from a shortage of file descriptors or memory, or from a client
// that went away, after which the service can accept the next client.
func isTemporaryAcceptError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// serviceLogger returns the logger of the service's own events: each
// command it runs, by default, and only errors with --quiet.
func serviceLogger(g *globalOptions, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: plainError}))
}

// listenService listens on the service socket at path. A socket file left
// by a service that ended without removing it is replaced; one that a
// running service accepts connections on is not.
func listenService(path string) (*net.UnixListener, error) {
	if info, err := os.Lstat(path); err == nil {
		if info.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; move it away, since the store service needs "+
				"that name for its socket", path)
		}
		if serviceListens(path) {
			return nil, fmt.Errorf("another store service accepts connections on %s: %w", path, errdef.ErrStoreInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the socket %s that an earlier service left: %w", path, err)
		}
	}
	// Only the user of the service may connect: the socket is created
	// with mode 0600, and the service checks each client's user too.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on the service socket %s: %w", path, err)
	}

	ln.SetUnlinkOnClose(false)
	// Users who may read the store's database may connect too, because
	// they could look up in it without the service. The service runs
	// only read commands for them (see sharedCommands).
	if info, err := os.Stat(filepath.Join(filepath.Dir(path), storeDBDir)); err == nil {
		mode := os.FileMode(0o600)
		if info.Mode().Perm()&0o050 == 0o050 && shareSocketGroup(path, info) {
			mode |= 0o060
		}
		if info.Mode().Perm()&0o005 == 0o005 {
			mode |= 0o006
		}
		if err := os.Chmod(path, mode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting the mode of the service socket %s: %w", path, err)
		}
	}
	return ln, nil
}

// shareSocketGroup gives the socket at path the group of the db folder of
// info and reports whether it did. The socket is created with the
// service's own group, whose members may not be those who may read the
// db folder. Changing the group fails when the service's user is not a
// member of the db folder's group, and then the socket grants no group
// rights.
func shareSocketGroup(path string, info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return os.Lchown(path, -1, int(st.Gid)) == nil
}

// serviceListens reports whether a store service accepts connections on
// the socket at path.
func serviceListens(path string) bool {
	info, err := os.Lstat(path)
	if err != nil || info.Mode()&os.ModeSocket == 0 {
		return false
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// removeSocket removes the service socket, unless another file took its
// place.
func removeSocket(path string, ln *net.UnixListener) {
	ln.Close()
	if info, err := os.Lstat(path); err == nil && info.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
}

// absPath returns path made absolute, or path when that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// eofReader is a standard input that holds nothing.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// forwardedError ends a command that the store service ran for this
// process, with the exit code of the command in the service.
type forwardedError struct{ code int }

func (e *forwardedError) Error() string {
	return fmt.Sprintf("the store service ran the command; exit code %d", e.code)
}

// errServiceClosed is the error of a client whose service closed the
// connection before it sent the command's exit code.
var errServiceClosed = errors.New("the store service closed the connection")

// turnAway sends msg and the store-in-use exit code to a client whose
// command the service does not run, and closes the connection.
func turnAway(conn net.Conn, msg string) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = writeFrame(conn, frameStderr, []byte("Error: "+msg+"\n"))
	_ = writeFrame(conn, frameExit, []byte(fmt.Sprint(exitStoreBusy)))
	conn.Close()
}

// serviceHoldsStore reports whether a running store service holds the
// store in the store folder dir: its socket accepts connections, or it
// denies this user while the store's holder record names a running
// stella serve.
func serviceHoldsStore(dir string) bool {
	socket := filepath.Join(dir, serviceSocketName)
	info, err := os.Lstat(socket)
	if err != nil || info.Mode()&os.ModeSocket == 0 {
		return false
	}
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err == nil {
		conn.Close()
		return true
	}
	return errors.Is(err, fs.ErrPermission) &&
		strings.Contains(cas.LockHolder(filepath.Join(dir, storeDBDir)), ", stella serve,")
}
