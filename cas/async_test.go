package cas

import (
	"bytes"
	"errors"
	"testing"
)

// recordingWritable collects writes and fails the write numbered failAt.
type recordingWritable struct {
	buf      bytes.Buffer
	writes   int
	failAt   int
	finished bool
	aborted  bool
}

func (r *recordingWritable) Write(p []byte) error {
	r.writes++
	if r.writes == r.failAt {
		return errors.New("disk broke")
	}
	r.buf.Write(p)
	return nil
}

func (r *recordingWritable) Finish() error { r.finished = true; return nil }

func (r *recordingWritable) Abort() { r.aborted = true }

func TestAsyncWritableKeepsOrder(t *testing.T) {
	next := &recordingWritable{}
	a := newAsyncWritable(next)
	var want bytes.Buffer
	buf := make([]byte, 3)
	for i := range 100 {
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), 0xAA
		want.Write(buf)
		if err := a.Write(buf); err != nil {
			t.Fatal(err)
		}
		// The caller reuses its buffer once Write returns.
		buf[0], buf[1], buf[2] = 0, 0, 0
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if !next.finished || !bytes.Equal(next.buf.Bytes(), want.Bytes()) {
		t.Fatalf("finished %v, wrote %d bytes that differ from the %d written", next.finished, next.buf.Len(), want.Len())
	}
}

func TestAsyncWritableReportsWriteError(t *testing.T) {
	next := &recordingWritable{failAt: 2}
	a := newAsyncWritable(next)
	for range 10 {
		if a.Write([]byte("x")) != nil {
			break
		}
	}
	if err := a.Finish(); err == nil || err.Error() != "disk broke" {
		t.Fatalf("Finish after a failed write = %v, want the write's error", err)
	}
	if next.finished || !next.aborted {
		t.Fatalf("after a failed write the next writable was finished %v, aborted %v; want aborted only", next.finished, next.aborted)
	}
}
