package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

// A take over the limit waits for bytes given back, and fails with the
// store-in-use exit code when none come in time.
func TestByteBudgetLimit(t *testing.T) {
	b := newByteBudget(10, 20*time.Millisecond)
	if err := b.take(context.Background(), 6); err != nil {
		t.Fatalf("take of 6 of 10 bytes: %v", err)
	}
	err := b.take(context.Background(), 6)
	if !errors.Is(err, errdef.ErrStoreInUse) || exitCode(err) != exitStoreBusy {
		t.Fatalf("take of 6 more bytes: %v (exit %d), want store in use", err, exitCode(err))
	}
	b.wait = 5 * time.Second
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.give(6)
	}()
	if err := b.take(context.Background(), 6); err != nil {
		t.Fatalf("take of 6 bytes while 6 are given back: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.take(ctx, 6); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v, want context.Canceled", err)
	}
	if err := b.take(context.Background(), 11); !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("take of more than the limit: %v, want store in use at once", err)
	}
}

// The standard input of another user's command counts against the budget
// until the caller gives it back, so a second such command that would
// pass the limit fails with the store-in-use error.
func TestPullReaderBudget(t *testing.T) {
	const wait = 50 * time.Millisecond
	budget := newByteBudget(8, wait)
	out := &frameConn{w: io.Discard}
	read := func(data string) (*pullReader, error) {
		chunks := make(chan []byte, 2)
		chunks <- []byte(data)
		close(chunks)
		r := &pullReader{conn: out, chunks: chunks, ctx: context.Background(), budget: budget}
		_, err := io.ReadAll(r)
		return r, err
	}

	first, err := read("12345")
	if err != nil {
		t.Fatalf("reading 5 of 8 bytes: %v", err)
	}
	if first.reserved != 5 {
		t.Errorf("the reader reserved %d bytes, want 5", first.reserved)
	}

	start := time.Now()
	_, err = read("6789")
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("reading 4 more bytes: %v, want store in use", err)
	}
	if waited := time.Since(start); waited < wait {
		t.Errorf("the second reader failed after %s, without waiting for the budget", waited)
	}

	budget.give(first.reserved)
	if _, err := read("6789"); err != nil {
		t.Fatalf("reading 4 bytes after the first reader gave its bytes back: %v", err)
	}
}

// A frame header that announces the largest frame, followed by no data,
// does not make readFrame allocate the whole frame.
func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	var head [5]byte
	head[0] = frameStdin
	binary.BigEndian.PutUint32(head[1:], maxFrame)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := readFrame(bytes.NewReader(head[:]))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a frame without its payload: %v, want io.ErrUnexpectedEOF", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated >= maxFrame/2 {
		t.Errorf("readFrame allocated %d bytes for a frame that sent none", allocated)
	}

	payload := bytes.Repeat([]byte("x"), maxFrame)
	var frame bytes.Buffer
	if err := writeFrame(&frame, frameStdout, payload); err != nil {
		t.Fatal(err)
	}
	kind, got, err := readFrame(&frame)
	if err != nil || kind != frameStdout || !bytes.Equal(got, payload) {
		t.Errorf("reading a full frame: kind %q, %d bytes, error %v", kind, len(got), err)
	}
}

// A scan of another user in the service takes its SBOM from the shared
// budget, exits with 4 when the budget has no room, and gives the bytes
// back when it ends.
func TestServiceForeignScanBudget(t *testing.T) {
	dir := t.TempDir()
	store, err := cas.Open(filepath.Join(dir, storeDBDir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	socket, serveOne := listenTestService(t, dir)
	var log syncBuffer
	budget := newByteBudget(1<<20, 50*time.Millisecond)
	// The service's user differs from the test's, so the test's
	// requests are those of another user.
	svc := &service{dir: dir, store: store, log: serviceLogger(&globalOptions{}, &log),
		writer: make(chan struct{}, 1), uid: os.Getuid() + 1, foreignInput: budget}
	sbomData := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`
	scan := func() (int, string) {
		var code int
		var stdout, stderr bytes.Buffer
		serveOne(svc, func() {
			conn, err := net.Dial("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			call := serviceCall{Protocol: serviceProtocol, Args: []string{"scan", "--sbom=-"}}
			code, err = runRemote(context.Background(), conn, call, 5*time.Second, strings.NewReader(sbomData),
				&stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
		})
		return code, stderr.String()
	}

	if err := budget.take(context.Background(), budget.limit-10); err != nil {
		t.Fatal(err)
	}
	code, stderr := scan()
	if code != exitStoreBusy {
		t.Errorf("scan over the budget: exit %d, want %d\n%s", code, exitStoreBusy, stderr)
	}
	if !strings.Contains(stderr, "try again") {
		t.Errorf("scan over the budget does not say to try again:\n%s", stderr)
	}
	budget.give(budget.limit - 10)

	code, stderr = scan()
	if code == exitStoreBusy {
		t.Errorf("scan within the budget: exit %d\n%s", code, stderr)
	}
	if budget.used != 0 {
		t.Errorf("the budget has %d bytes taken after the scans ended, want 0", budget.used)
	}
}
