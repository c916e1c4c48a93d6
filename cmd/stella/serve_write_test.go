package main

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// unixPair returns the two ends of a connected Unix socket pair.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// A cancelled command whose client reads still sends its last lines
// after cancelledWriteWait has passed since the cancel.
func TestCancelledWritesReachReadingClient(t *testing.T) {
	server, client := unixPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &frameConn{}
	stop := boundCancelledWrites(ctx, server, out)
	defer stop()
	cancel()
	time.Sleep(cancelledWriteWait + 500*time.Millisecond)

	if err := out.send(frameStderr, []byte("Interrupted\n")); err != nil {
		t.Fatalf("a write after the cancel failed: %v", err)
	}
	kind, payload, err := readFrame(client)
	if err != nil {
		t.Fatal(err)
	}
	if kind != frameStderr || string(payload) != "Interrupted\n" {
		t.Errorf("the client read frame %q with %q", kind, payload)
	}
}

// A cancelled command whose client reads nothing fails its write after
// cancelledWriteWait, and every later write at once.
func TestCancelledWritesToStalledClientFail(t *testing.T) {
	server, _ := unixPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &frameConn{}
	stop := boundCancelledWrites(ctx, server, out)
	defer stop()
	cancel()

	start := time.Now()
	chunk := make([]byte, 64<<10)
	var err error
	for err == nil && time.Since(start) < time.Minute {
		err = out.send(frameStdout, chunk)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writes to a stalled client ended with %v, want a timeout", err)
	}
	if waited := time.Since(start); waited > cancelledWriteWait+2*time.Second {
		t.Errorf("the blocked write took %s to fail", waited.Round(time.Millisecond))
	}
	start = time.Now()
	if err := out.send(frameExit, []byte("130")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a write after the timeout ended with %v, want the timeout", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("a write after the timeout took %s to fail", waited.Round(time.Millisecond))
	}
}
