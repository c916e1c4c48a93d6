package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, frameStdout, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(&buf, frameStdinEnd, nil); err != nil {
		t.Fatal(err)
	}
	kind, payload, err := readFrame(&buf)
	if err != nil || kind != frameStdout || string(payload) != "hello" {
		t.Fatalf("first frame: %q %q %v", kind, payload, err)
	}
	kind, payload, err = readFrame(&buf)
	if err != nil || kind != frameStdinEnd || len(payload) != 0 {
		t.Fatalf("second frame: %q %q %v", kind, payload, err)
	}
	if _, _, err := readFrame(&buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	if err := writeFrame(io.Discard, frameStdout, make([]byte, maxFrame+1)); err == nil {
		t.Error("writeFrame took a payload over the limit")
	}
	head := []byte{frameStdout, 0xff, 0xff, 0xff, 0xff}
	if _, _, err := readFrame(bytes.NewReader(head)); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("readFrame of an oversized length: %v", err)
	}
	cut := []byte{frameStdout, 0, 0, 0, 9, 'a'}
	if _, _, err := readFrame(bytes.NewReader(cut)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("readFrame of a cut payload: %v, want unexpected EOF", err)
	}
}

func TestParseServiceCall(t *testing.T) {
	call := func(c serviceCall) []byte {
		b, _ := json.Marshal(c)
		return b
	}
	good := serviceCall{Protocol: serviceProtocol, Args: []string{"db", "lookup", "--", "CVE-1"}, Cwd: "/"}
	if _, err := parseServiceCall(call(good)); err != nil {
		t.Fatalf("a valid call: %v", err)
	}
	cases := map[string]struct {
		payload []byte
		want    string
	}{
		"not JSON":      {[]byte("{"), "does not decode"},
		"old protocol":  {call(serviceCall{Protocol: 0, Args: good.Args}), "speaks 1"},
		"no arguments":  {call(serviceCall{Protocol: serviceProtocol}), "has 0 arguments"},
		"build":         {call(serviceCall{Protocol: serviceProtocol, Args: []string{"ouk", "build"}}), `does not run "ouk build"`},
		"serve":         {call(serviceCall{Protocol: serviceProtocol, Args: []string{"serve"}}), `does not run "serve"`},
		"flag first":    {call(serviceCall{Protocol: serviceProtocol, Args: []string{"--store", "x", "ouk", "gc"}}), `does not run ""`},
		"foreign env":   {call(serviceCall{Protocol: serviceProtocol, Args: good.Args, Env: map[string]string{"PATH": "/"}}), `"PATH"`},
		"long argument": {call(serviceCall{Protocol: serviceProtocol, Args: []string{"db", "lookup", strings.Repeat("a", maxCallArgLen+1)}}), "over the limit"},
	}
	for name, c := range cases {
		_, err := parseServiceCall(c.payload)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

func TestServiceCallPaths(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		line []string
		want []string
	}{
		{[]string{"ouk", "import", "--key", "k.pub", "--key=/abs.pub", "kit.tar"},
			[]string{"ouk", "import", "--key=" + filepath.Join(cwd, "k.pub"), "--key=/abs.pub", "--", filepath.Join(cwd, "kit.tar")}},
		{[]string{"ouk", "import", "oci://127.0.0.1:5000/kit:1"},
			[]string{"ouk", "import", "--", "oci://127.0.0.1:5000/kit:1"}},
		{[]string{"ouk", "import", "-o", "json", "-"},
			[]string{"ouk", "import", "--output=json", "--", "-"}},
		{[]string{"ouk", "delta", "--from", "sha256:aa", "--to", "new.tar", "-o", "d.tar"},
			[]string{"ouk", "delta", "--from=sha256:aa", "--output=" + filepath.Join(cwd, "d.tar"), "--to=" + filepath.Join(cwd, "new.tar"), "--"}},
		{[]string{"scan", "--sbom", "app.json", "-o", "json"},
			[]string{"scan", "--output=json", "--sbom=" + filepath.Join(cwd, "app.json"), "--"}},
		{[]string{"--store", "/s", "-q", "db", "lookup", "x/y"},
			[]string{"db", "lookup", "--quiet=true", "--", "x/y"}},
	}
	for _, c := range cases {
		root := newRootCommand()
		cmd, rest, err := root.Find(c.line)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%v: %v", c.line, err)
		}
		words := strings.TrimPrefix(cmd.CommandPath(), "stella ")
		call, err := serviceCallFor(cmd, words, cmd.Flags().Args())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(call.Args, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v:\n got %q\nwant %q", c.line, call.Args, c.want)
		}
		if call.Cwd != cwd {
			t.Errorf("%v: cwd %q, want %q", c.line, call.Cwd, cwd)
		}
	}
}

// A command that changes the store waits for another one in the service,
// and gives up after its --lock-timeout with the store-in-use error.
func TestServiceWriterWait(t *testing.T) {
	dir := t.TempDir()
	store, err := cas.Open(filepath.Join(dir, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := &service{dir: dir, store: store, writer: make(chan struct{}, 1)}

	first := &globalOptions{svc: svc, request: svc.newRequest(nil, ""), command: "stella ouk import"}
	if _, _, err := svc.open(context.Background(), first, cas.Options{}); err != nil {
		t.Fatal(err)
	}
	if !first.request.holdsWriter {
		t.Fatal("the first writer does not hold the writer lock")
	}
	second := &globalOptions{svc: svc, request: svc.newRequest(nil, "")}
	_, _, err = svc.open(context.Background(), second, cas.Options{LockWait: 20 * time.Millisecond})
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("second writer: %v, want store in use", err)
	}
	if !strings.Contains(err.Error(), "(stella ouk import)") {
		t.Errorf("second writer: %v, want the running import named", err)
	}

	if _, _, err := svc.open(context.Background(), second, cas.Options{ReadOnlyIfUnwritable: true}); err != nil {
		t.Fatalf("a reader waited for the writer: %v", err)
	}

	first.releaseWriter()
	if _, _, err := svc.open(context.Background(), second, cas.Options{LockWait: time.Second}); err != nil {
		t.Fatalf("second writer after the first released: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	third := &globalOptions{svc: svc, request: svc.newRequest(nil, "")}
	_, _, err = svc.open(ctx, third, cas.Options{LockWait: time.Minute})
	if !errors.As(err, new(*storeWaitInterruptedError)) {
		t.Fatalf("cancelled writer wait: %v", err)
	}
	if msg := interruptedMessage(nil, err); !strings.Contains(msg, "another command in the store service") {
		t.Errorf("message of a cancelled writer wait: %s", msg)
	}
}

// The service runs a client's command on its open store, with the
// client's standard input, and returns the command's output and exit
// code over the socket.
func TestServiceRunsCommandOverSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "svc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	store, err := cas.Open(filepath.Join(dir, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Serve()
	t.Cleanup(func() {
		store.Unserve()
		store.Close()
	})
	ln, err := listenService(filepath.Join(dir, serviceSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	svc := &service{dir: dir, store: store, log: serviceLogger(&globalOptions{quiet: true}, io.Discard),
		writer: make(chan struct{}, 1), uid: os.Getuid()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go svc.serveClient(ctx, conn.(*net.UnixConn))
		}
	}()

	runWithError := func(args []string, stdin string) (int, string, string, error) {
		conn, err := net.Dial("unix", filepath.Join(dir, serviceSocketName))
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code, err := runRemote(context.Background(), conn, serviceCall{Protocol: serviceProtocol, Args: args, Cwd: dir},
			time.Minute, strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String(), err
	}
	run := func(args []string, stdin string) (int, string, string) {
		code, stdout, stderr, err := runWithError(args, stdin)
		if err != nil {
			t.Fatal(err)
		}
		return code, stdout, stderr
	}
	code, stdout, stderr := run([]string{"ouk", "status", "--output=json", "--"}, "")
	if code != 0 || !strings.Contains(stdout, `"store": "`+dir+`"`) {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run([]string{"ouk", "import", "--", "-"}, "not a kit")
	if code != exitRejected || !strings.Contains(stderr, "Error:") {
		t.Fatalf("import of a bad kit on stdin: exit %d\n%s", code, stderr)
	}
	// A request that the service rejects before it starts the command
	// fails with the service's reason as the client's error.
	_, _, stderr, err = runWithError([]string{"ouk", "build", "--"}, "")
	if !errors.As(err, new(*serviceRejectedError)) || exitCode(err) != exitUsage {
		t.Fatalf("build: error %v with exit code %d, want a rejection with exit code %d", err, exitCode(err),
			exitUsage)
	}
	if !strings.Contains(err.Error(), `does not run "ouk build"`) {
		t.Errorf("build: error %q lacks the reason", err)
	}
	if stderr != "" {
		t.Errorf("build: the client copied the reason to stderr too: %q", stderr)
	}
}

// FuzzServiceRequest feeds arbitrary bytes to the service's reading of a
// client's first frame and its request, which must fail with an error and
// never panic.
func FuzzServiceRequest(f *testing.F) {
	seed := func(c serviceCall) []byte {
		payload, _ := json.Marshal(c)
		var buf bytes.Buffer
		_ = writeFrame(&buf, frameRequest, payload)
		return buf.Bytes()
	}
	f.Add(seed(serviceCall{Protocol: serviceProtocol, Args: []string{"db", "lookup", "--", "CVE-2099-0001"}, Cwd: "/"}))
	f.Add(seed(serviceCall{Protocol: serviceProtocol, Args: []string{"ouk", "import", "--key=/k.pub", "--", "-"},
		Env: map[string]string{"STELLA_JWT": "x"}}))
	f.Add(seed(serviceCall{Protocol: 2, Args: []string{"scan"}}))
	f.Add([]byte{frameRequest, 0, 0, 0, 2, '{', '}'})
	f.Add([]byte{frameRequest, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, payload, err := readFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(payload) > maxFrame {
			t.Fatalf("readFrame returned %d bytes, over the limit", len(payload))
		}
		if kind != frameRequest {
			return
		}
		call, err := parseServiceCall(payload)
		if err != nil {
			return
		}
		if !forwardedCommands[strings.Join(commandWords(call.Args), " ")] {
			t.Fatalf("parseServiceCall accepted %q, which the service does not run", call.Args)
		}
	})
}

// A command that panics in the service ends with exit 1 and an internal
// error, and the service goes on.
func TestServiceRecoversPanic(t *testing.T) {
	dir := t.TempDir()
	// A store folder with a db folder but no open store: ouk status finds
	// the store present and then reads from the nil store, which panics.
	if err := os.Mkdir(filepath.Join(dir, storeDBDir), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := &service{dir: dir, log: serviceLogger(&globalOptions{quiet: true}, io.Discard),
		writer: make(chan struct{}, 1)}
	var stdout, stderr bytes.Buffer
	code := runRequest(context.Background(), []string{"ouk", "status", "--"}, eofReader{}, &stdout, &stderr, svc,
		svc.newRequest(nil, ""))
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr.String(), "internal error in the store service") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// A client tells a command that the service never started from one that
// it cut off midway.
func TestRemoteServiceClosed(t *testing.T) {
	for _, c := range []struct {
		started bool
		want    string
	}{{false, "the command did not run"}, {true, "may have run in part"}} {
		client, server := net.Pipe()
		go func() {
			_, _, _ = readFrame(server)
			if c.started {
				_ = writeFrame(server, frameStarted, nil)
			}
			server.Close()
		}()
		_, err := runRemote(context.Background(), client, serviceCall{Protocol: serviceProtocol,
			Args: []string{"ouk", "status"}}, time.Minute, eofReader{}, io.Discard, io.Discard)
		if !errors.Is(err, errServiceClosed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("started %v: error %v, want one containing %q", c.started, err, c.want)
		}
	}
}

// A client whose service never starts the command gives up after its
// wait with the store-in-use error, and one interrupted while the service
// does not end the command gives up after the cancel wait and reports
// that the service did not confirm the stop.
func TestRemoteStuckService(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	go func() { _, _, _ = readFrame(server) }()
	start := time.Now()
	_, err := runRemote(context.Background(), client, serviceCall{Protocol: serviceProtocol,
		Args: []string{"db", "status"}}, 50*time.Millisecond, eofReader{}, io.Discard, io.Discard)
	if !errors.Is(err, errdef.ErrStoreInUse) || !strings.Contains(err.Error(), "did not start the command") {
		t.Fatalf("stuck service: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("the client waited %s", time.Since(start))
	}

	client, server = net.Pipe()
	defer server.Close()
	go func() {
		_, _, _ = readFrame(server)
		_ = writeFrame(server, frameStarted, nil)
		// Read the cancel, then send nothing more.
		_, _, _ = readFrame(server)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = runRemote(ctx, client, serviceCall{Protocol: serviceProtocol, Args: []string{"db", "status"}},
		time.Minute, eofReader{}, io.Discard, io.Discard)
	if !errors.As(err, new(*stopUnconfirmedError)) {
		t.Fatalf("interrupted client of a stuck service: %v, want a stopUnconfirmedError", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted client of a stuck service: %v does not wrap context.Canceled", err)
	}
}

// A client that the service turns away before it starts the command
// returns the service's reason as an error of the exit code's kind,
// instead of copying it to stderr, so that it reaches a JSON failure
// object.
func TestRemoteTurnedAway(t *testing.T) {
	for _, c := range []struct {
		code int
		kind error
	}{{exitStoreBusy, errdef.ErrStoreInUse}, {exitUsage, errdef.ErrInvalidArgument}} {
		client, server := net.Pipe()
		go func() {
			_, _, _ = readFrame(server)
			_ = writeFrame(server, frameStderr, []byte("Error: the service is full\n"))
			_ = writeFrame(server, frameExit, []byte(fmt.Sprint(c.code)))
			server.Close()
		}()
		var stderr bytes.Buffer
		_, err := runRemote(context.Background(), client, serviceCall{Protocol: serviceProtocol,
			Args: []string{"db", "status"}}, time.Minute, eofReader{}, io.Discard, &stderr)
		if !errors.Is(err, c.kind) {
			t.Errorf("exit %d: error %v, want one that wraps %v", c.code, err, c.kind)
		}
		if err != nil && err.Error() != "the service is full" {
			t.Errorf("exit %d: error %q, want the service's reason without the Error: prefix", c.code, err)
		}
		if exitCode(err) != c.code {
			t.Errorf("exit %d: the error gives exit code %d", c.code, exitCode(err))
		}
		if stderr.Len() != 0 {
			t.Errorf("exit %d: the client copied the reason to stderr too: %q", c.code, stderr.String())
		}
	}
}

// A path that only the client can open is rejected with advice that fits
// the flag or argument: - for an input that takes it, a file for an
// output, and -o - for the output of an export.
func TestServiceCallClientOnlyPathAdvice(t *testing.T) {
	cases := []struct {
		line    []string
		want    []string
		notWant []string
	}{
		{[]string{"scan", "--sbom", "/dev/fd/63"},
			[]string{"--sbom /dev/fd/63 names a file of this process", "give --sbom - to read the data from standard input", "write it to a file first"},
			nil},
		{[]string{"scan", "--sbom", "/dev/stdin"},
			[]string{"is the standard input of this process", "give --sbom -, which reads standard input"},
			nil},
		{[]string{"ouk", "import", "/dev/fd/63"},
			[]string{"give - as the argument to read the data from standard input"},
			nil},
		{[]string{"ouk", "inspect", "/proc/self/fd/3"},
			[]string{"write the data to a file first"},
			[]string{"standard input"}},
		{[]string{"ouk", "import", "--key", "/dev/fd/63", "kit.tar"},
			[]string{"--key /dev/fd/63", "write the data to a file first"},
			[]string{"standard input"}},
		{[]string{"ouk", "export", "-o", "/dev/fd/63"},
			[]string{"give the path of a file to write", "or -o - to write to standard output"},
			[]string{"write the data to a file first", "read"}},
		{[]string{"ouk", "export", "-o", "/dev/stdout"},
			[]string{"is the standard output of this process", "give -o -, which writes to standard output"},
			[]string{"write the data to a file first"}},
		{[]string{"ouk", "delta", "--from", "active", "--to", "new.tar", "-o", "/dev/fd/63"},
			[]string{"give the path of a file to write"},
			[]string{"write the data to a file first", "-o -", "standard"}},
	}
	for _, c := range cases {
		root := newRootCommand()
		cmd, rest, err := root.Find(c.line)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%v: %v", c.line, err)
		}
		words := strings.TrimPrefix(cmd.CommandPath(), "stella ")
		_, err = serviceCallFor(cmd, words, cmd.Flags().Args())
		if !errors.As(err, new(usageError)) {
			t.Errorf("%v: error %v, want a usage error", c.line, err)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error lacks %q: %v", c.line, want, err)
			}
		}
		for _, notWant := range c.notWant {
			if strings.Contains(err.Error(), notWant) {
				t.Errorf("%v: error has %q: %v", c.line, notWant, err)
			}
		}
	}
}
