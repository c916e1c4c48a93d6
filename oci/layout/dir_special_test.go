package layout

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// writeDirLayout writes a layout folder with one blob and returns the
// folder and the blob's descriptor.
func writeDirLayout(t *testing.T) (string, ocispec.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	blob := []byte("blob content")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{desc}}
	index.SchemaVersion = 2
	files := map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json": mustJSON(t, index),
		filepath.Join("blobs", "sha256", desc.Digest.Encoded()): blob,
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, desc
}

// replaceWithPipe replaces the file at path with a named pipe.
func replaceWithPipe(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// returnsWithin runs call and fails the test when it has not returned
// before a generous limit, which only an open that waits for a writer of
// the named pipe at pipe reaches. It then opens pipe for writing, so that
// call returns and the test ends.
func returnsWithin(t *testing.T, pipe string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		if w, err := os.OpenFile(pipe, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("reading the layout folder waited for a writer of the named pipe %s", pipe)
		return nil
	}
}

func TestOpenDirRejectsNamedPipe(t *testing.T) {
	for _, name := range []string{"oci-layout", "index.json"} {
		t.Run(name, func(t *testing.T) {
			dir, _ := writeDirLayout(t)
			pipe := filepath.Join(dir, name)
			replaceWithPipe(t, pipe)
			err := returnsWithin(t, pipe, func() error {
				_, _, err := OpenDir(dir)
				return err
			})
			if !errors.Is(err, errdef.ErrUnsafePath) {
				t.Errorf("OpenDir err = %v, want ErrUnsafePath", err)
			}
		})
	}
}

func TestDirStorageRejectsNamedPipeBlob(t *testing.T) {
	dir, desc := writeDirLayout(t)
	_, src, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(dir, "blobs", "sha256", desc.Digest.Encoded())
	replaceWithPipe(t, pipe)
	err = returnsWithin(t, pipe, func() error {
		rc, err := src.Fetch(context.Background(), desc)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	})
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Errorf("Fetch err = %v, want ErrUnsafePath", err)
	}
}
