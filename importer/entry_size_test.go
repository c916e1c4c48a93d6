package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// inflateLargestBlob returns the tar kit with the content of its largest
// blob replaced by size zero bytes under the same name.
func inflateLargestBlob(t *testing.T, kit []byte, size int64) (name string, declared int64, out []byte) {
	t.Helper()
	for h := range tarEntries(t, kit) {
		if strings.HasPrefix(h.Name, "blobs/") && h.Size > declared {
			name, declared = h.Name, h.Size
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for h, body := range tarEntries(t, kit) {
		if h.Name == name {
			h.Size = size
			body = io.LimitReader(zeros{}, size)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return name, declared, buf.Bytes()
}

// tarEntries returns an iterator over the entries of the tar archive raw,
// each a header with a reader of its content. It fails the test on a read
// error.
func tarEntries(t *testing.T, raw []byte) iter.Seq2[*tar.Header, io.Reader] {
	return func(yield func(*tar.Header, io.Reader) bool) {
		t.Helper()
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !yield(h, tr) {
				return
			}
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestStreamRejectsBlobOfWrongSize(t *testing.T) {
	f := newFixture(t)
	const inflated = 16 << 20
	name, declared, kit := inflateLargestBlob(t, f.kit("1.0.0", 1), inflated)

	var readOfBlob int64
	blob := "sha256:" + strings.TrimPrefix(name, "blobs/sha256/")
	var before int64
	opts := f.opts()
	opts.Progress = func(p Progress) {
		if p.Blob == blob {
			readOfBlob = p.BytesRead - before
		} else {
			before = p.BytesRead
		}
	}
	_, err := ImportStream(context.Background(), bytes.NewReader(kit), opts)
	if !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Fatalf("err = %v, want ErrSizeMismatch", err)
	}
	if readOfBlob > declared {
		t.Errorf("read %d bytes of %s, more than the %d bytes its signed descriptor declares", readOfBlob, name, declared)
	}
	if n := f.blobCount(); n != 0 {
		t.Errorf("store holds %d blobs after the rejected import", n)
	}
}
