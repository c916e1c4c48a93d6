package layout

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWriteTarFileMatchesWriteTar(t *testing.T) {
	index, store := sampleStore(t)
	out := filepath.Join(t.TempDir(), "kit.tar")
	size, err := WriteTarFile(context.Background(), out, index, store, TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteTar(context.Background(), &want, index, store, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("file differs from the WriteTar stream")
	}
	if size != int64(len(got)) {
		t.Errorf("size = %d, file has %d bytes", size, len(got))
	}
}

func TestWriteTarFileFailureLeavesNothing(t *testing.T) {
	index, _ := sampleStore(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "kit.tar")
	// The store lacks the index's first manifest, so writing fails.
	store := memoryWithout(t, index.Manifests[0].Digest)
	if _, err := WriteTarFile(context.Background(), out, index, store, TarOptions{}); err == nil {
		t.Fatal("WriteTarFile succeeded without a blob the index names")
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 0 {
		t.Errorf("a failed write left %d files in the folder", len(names))
	}
}

func TestWriteTarFileRemovesStaleTemps(t *testing.T) {
	index, store := sampleStore(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "kit.tar")
	old := time.Now().Add(-time.Hour)
	plant := func(name string, modTime time.Time) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial kit"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, modTime, modTime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	killed := plant(".kit.tar.2428472134", old)
	running := plant(".kit.tar.1234567", old)
	kept := []string{
		running,
		plant(".kit.tar.3141592", time.Now()), // fresh: a build that may hold no lock
		plant(".kit.tar.gz.2718281", old),     // a temporary file of kit.tar.gz
		plant(".kit.tar.12ab", old),           // not a name os.CreateTemp makes
		plant(".other.tar.1618033", old),
	}
	// A running build holds the flock of its temporary file.
	f, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Skipf("the file system of %s does not support flock: %v", dir, err)
	}

	if _, err := WriteTarFile(context.Background(), out, index, store, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("temporary file of a killed build %s is still there", filepath.Base(killed))
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// writeSamplePending writes the sample kit as a pending tar file for the
// path kit.tar in a new folder and returns it with that path.
func writeSamplePending(t *testing.T) (*PendingTarFile, string) {
	t.Helper()
	index, store := sampleStore(t)
	out := filepath.Join(t.TempDir(), "kit.tar")
	pending, err := WritePendingTarFile(context.Background(), out, index, store, TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pending, out
}

func TestPendingTarFileAppearsOnCommit(t *testing.T) {
	pending, out := writeSamplePending(t)
	defer pending.Discard()
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the output exists before Commit: %v", err)
	}
	if err := pending.Commit(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatalf("the output is missing after Commit: %v", err)
	}
	if info.Size() != pending.Size() {
		t.Errorf("Size() = %d, the file has %d bytes", pending.Size(), info.Size())
	}
	pending.Discard()
	if _, err := os.Stat(out); err != nil {
		t.Errorf("Discard after Commit removed the output: %v", err)
	}
}

func TestPendingTarFileDiscardLeavesNothing(t *testing.T) {
	pending, out := writeSamplePending(t)
	dir := filepath.Dir(out)
	pending.Discard()
	names, _ := os.ReadDir(dir)
	if len(names) != 0 {
		t.Errorf("Discard left %d files in the folder", len(names))
	}
	if err := pending.Commit(); err == nil {
		t.Errorf("Commit after Discard succeeded")
	}
}

func TestPendingTarFileCommitNewKeepsExisting(t *testing.T) {
	pending, out := writeSamplePending(t)
	defer pending.Discard()
	// The file appears after the caller checked for one, as from another
	// process.
	if err := os.WriteFile(out, []byte("earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := pending.CommitNew()
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CommitNew over an existing file returned %v, want an error wrapping fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "earlier" {
		t.Errorf("CommitNew replaced the existing file with %d bytes", len(got))
	}
	pending.Discard()
	names, _ := os.ReadDir(filepath.Dir(out))
	if len(names) != 1 {
		t.Errorf("after Discard the folder has %d entries, want only the existing file", len(names))
	}

	fresh, freshOut := writeSamplePending(t)
	defer fresh.Discard()
	if err := fresh.CommitNew(); err != nil {
		t.Fatalf("CommitNew to a free name: %v", err)
	}
	if info, err := os.Stat(freshOut); err != nil || info.Size() != fresh.Size() {
		t.Errorf("after CommitNew the output is %v (%v), want %d bytes", info, err, fresh.Size())
	}
	names, _ = os.ReadDir(filepath.Dir(freshOut))
	if len(names) != 1 {
		t.Errorf("after CommitNew the folder has %d entries, want only the output", len(names))
	}
}
