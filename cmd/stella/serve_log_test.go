package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// A repeated client warning is logged once, and its repeats within the
// interval as one summary line with their count and the clients' IDs.
func TestClientWarningsSummary(t *testing.T) {
	var out syncBuffer
	log := serviceLogger(&globalOptions{}, &out)
	w := &clientWarnings{interval: 100 * time.Millisecond}
	w.warn(log, "a client sent no request", 1000, 11, "error", "first")
	for pid := 12; pid < 16; pid++ {
		w.warn(log, "a client sent no request", 1000, pid, "error", "later")
	}
	w.warn(log, "a client sent no request", 0, 16, "error", "last")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log before the interval ended: %d lines, want 1:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "uid=1000 pid=11 error=first") {
		t.Errorf("first line lacks the client's IDs and error: %s", lines[0])
	}

	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log after the interval: %d lines, want 2:\n%s", len(lines), out.String())
	}
	for _, want := range []string{`msg="a client sent no request (repeated)"`, "repeats=5", "uids=1000:4,0:1",
		"lastUID=0", "lastPID=16", "error=last"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("summary line lacks %s: %s", want, lines[1])
		}
	}

	w.flush()
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("flush with nothing counted logged %d lines in all, want 2:\n%s", n, out.String())
	}
}

// A warning counted when the service stops is logged in a summary line
// then, not lost.
func TestClientWarningsFlush(t *testing.T) {
	var out syncBuffer
	log := serviceLogger(&globalOptions{}, &out)
	var w clientWarnings
	w.warn(log, "too many clients at once; closing a new connection", 1000, 1)
	w.warn(log, "too many clients at once; closing a new connection", 1000, 2)
	w.flush()
	if !strings.Contains(out.String(), "repeats=1 ") || !strings.Contains(out.String(), "lastPID=2") {
		t.Errorf("flush did not log the counted warning:\n%s", out.String())
	}
}

// Many clients that send no request give one warning line, with the first
// client's user and process IDs, and one summary line with their count.
func TestServiceIdleClientsLogOnce(t *testing.T) {
	dir := t.TempDir()
	socket, serveOne := listenTestService(t, dir)
	var log syncBuffer
	svc := &service{dir: dir, log: serviceLogger(&globalOptions{}, &log), writer: make(chan struct{}, 1),
		uid: os.Getuid()}
	const clients = 20
	for range clients {
		serveOne(svc, func() {
			conn, err := net.Dial("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			// A frame of standard input is no request.
			if err := writeFrame(conn, frameStdin, []byte("x")); err != nil {
				t.Fatal(err)
			}
			_ = conn.(*net.UnixConn).CloseWrite()
			_, _ = io.Copy(io.Discard, conn)
			conn.Close()
		})
	}

	if n := strings.Count(log.String(), "a client sent no request"); n != 1 {
		t.Fatalf("%d clients that sent no request: %d warnings, want 1:\n%s", clients, n, log.String())
	}
	if want := fmt.Sprintf("uid=%d pid=%d", os.Getuid(), os.Getpid()); !strings.Contains(log.String(), want) {
		t.Errorf("warning lacks the client's %s:\n%s", want, log.String())
	}
	svc.warnings.flush()
	if want := fmt.Sprintf("repeats=%d ", clients-1); !strings.Contains(log.String(), want) {
		t.Errorf("summary at the stop lacks %s:\n%s", want, log.String())
	}
}
