package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// stalledPipe returns the read end of a pipe after writing head into it
// from a goroutine. The write end stays open, so a read past head blocks
// until the test ends.
func stalledPipe(t *testing.T, head []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		r.Close()
	})
	go func() { _, _ = w.Write(head) }()
	return r
}

// within fails the test when done is not closed before a generous limit,
// which only a read that ignores cancellation reaches.
func within(t *testing.T, done <-chan struct{}, call string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return after the context was cancelled", call)
	}
}

func TestContextReaderPassesBytes(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), contextReaderBuffer/8+3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := iotest.TestReader(newContextReader(ctx, bytes.NewReader(data)), data); err != nil {
		t.Error(err)
	}
	got, err := io.ReadAll(newContextReader(ctx, iotest.OneByteReader(bytes.NewReader(data[:1000]))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[:1000]) {
		t.Errorf("read %d bytes through one-byte reads, want the 1000 written", len(got))
	}
}

func TestContextReaderReturnsSourceError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	broken := errors.New("device gone")
	src := io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(broken))
	got, err := io.ReadAll(newContextReader(ctx, src))
	if !errors.Is(err, broken) {
		t.Errorf("error = %v, want the source's error", err)
	}
	if string(got) != "abc" {
		t.Errorf("read %q before the error, want abc", got)
	}
}

func TestContextReaderCancelsStalledRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cr := newContextReader(ctx, stalledPipe(t, []byte("abc")))

	buf := make([]byte, 10)
	n, err := io.ReadAtLeast(cr, buf, 3)
	if err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("first read = %q, %v; want abc", buf[:n], err)
	}

	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(done)
		_, readErr = cr.Read(buf)
	}()
	cancel()
	within(t, done, "a read from a stalled pipe")
	if !errors.Is(readErr, context.Canceled) {
		t.Errorf("stalled read error = %v, want context.Canceled", readErr)
	}
	if _, err := cr.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancellation error = %v, want context.Canceled", err)
	}
}

func TestImportStreamCancelStalledInput(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"kit.tar", "kit.tar.gz", "kit.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			kit := f.kitAs(name, "1.0.0", 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := stalledPipe(t, kit[:len(kit)/2])

			done := make(chan struct{})
			var importErr error
			go func() {
				defer close(done)
				_, importErr = ImportStream(ctx, src, f.opts())
			}()
			// Give the import time to read the half it got, so that it
			// is most likely blocked in a read when the cancel comes.
			time.Sleep(200 * time.Millisecond)
			cancel()
			within(t, done, "ImportStream from a stalled pipe")

			if !errors.Is(importErr, context.Canceled) {
				t.Errorf("import error = %v, want context.Canceled", importErr)
			}
			if errors.Is(importErr, errdef.ErrInvalidKit) {
				t.Errorf("import error = %v, reports a cancelled import as a damaged kit", importErr)
			}
			if _, err := f.store.Active(context.Background()); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("a cancelled import left an active kit (error %v)", err)
			}
		})
	}
}
