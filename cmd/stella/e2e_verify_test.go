package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// largestBlob returns the name and the first bytes of the largest blob in
// an uncompressed kit tar.
func largestBlob(t *testing.T, raw []byte) (name string, head []byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(raw))
	var size int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "blobs/") || h.Size <= size || h.Size < 64 {
			continue
		}
		b := make([]byte, 64)
		if _, err := io.ReadFull(tr, b); err != nil {
			t.Fatal(err)
		}
		name, head, size = h.Name, b, h.Size
	}
	if name == "" {
		t.Fatal("the kit has no blob of 64 bytes or more")
	}
	return name, head
}

// extractKit unpacks an uncompressed kit tar into an OCI layout folder.
func extractKit(t *testing.T, raw []byte, dir string) {
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
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkDamageReported checks that verify calls a damaged kit damaged and
// does not blame its signature.
func checkDamageReported(t *testing.T, r result) {
	t.Helper()
	if r.code != exitRejected {
		t.Errorf("verify of a damaged kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stdout, "Contents: FAILED") {
		t.Errorf("verify output does not report the contents as failed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "is damaged") {
		t.Errorf("verify error does not call the kit damaged:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "signature verification failed") {
		t.Errorf("verify blames the signature for a damaged kit:\n%s", r.stderr)
	}
}

func TestVerifyReportsDamagedKit(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	name, head := largestBlob(t, raw)

	damaged := bytes.Clone(raw)
	at := bytes.Index(damaged, head)
	damaged[at+32] ^= 0xff
	file := filepath.Join(e.dir, "damaged.tar")
	if err := os.WriteFile(file, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	checkDamageReported(t, e.run("ouk", "verify", "--key", e.pub, file))

	// A layout folder is read blob by blob, so it is checked the same way.
	dir := filepath.Join(e.dir, "layout")
	extractKit(t, raw, dir)
	if out := e.must("ouk", "verify", "--key", e.pub, dir); !strings.Contains(out, "Contents: passed (") || strings.Contains(out, "(key )") {
		t.Errorf("verify of an intact layout folder:\n%s", out)
	}
	blob := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[32] ^= 0xff
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	checkDamageReported(t, e.run("ouk", "verify", "--key", e.pub, dir))
}

func TestVerifyTruncatedKitAdvisesOnce(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar.zst")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(e.dir, "cut.tar.zst")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "verify", "--key", e.pub, cut)
	if r.code != exitRejected {
		t.Fatalf("verify of a truncated kit: exit %d, want %d\n%s", r.code, exitRejected, r.stderr)
	}
	if n := strings.Count(r.stderr, "again"); n != 1 {
		t.Errorf("the error gives its advice %d times, want once:\n%s", n, r.stderr)
	}
}

func TestVerifyLayoutBlobMessages(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := largestBlob(t, raw)
	digest := "sha256:" + filepath.Base(name)
	cases := []struct {
		name   string
		damage func(path string) error
		// want ends the error, after the blob's digest.
		want string
	}{
		{"missing", os.Remove, "is missing from the folder; copy it again, or get a new copy from the connected side: invalid kit"},
		{"corrupt", func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b[32] ^= 0xff
			return os.WriteFile(path, b, 0o644)
		}, "does not match its digest; copy it again, or get a new copy from the connected side: digest mismatch"},
		{"shorter", func(path string) error { return os.Truncate(path, 100) },
			"bytes that its descriptor declares; copy it again, or get a new copy from the connected side: size mismatch"},
		{"larger", func(path string) error {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteString("x")
			return errors.Join(err, f.Close())
		}, "bytes that its descriptor declares; copy it again, or get a new copy from the connected side: size mismatch"},
	}
	for _, tc := range cases {
		dir := filepath.Join(e.dir, tc.name)
		extractKit(t, raw, dir)
		if err := tc.damage(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
		r := e.run("ouk", "verify", "--key", e.pub, dir)
		checkDamageReported(t, r)
		if !strings.HasSuffix(strings.TrimSpace(r.stderr), tc.want) {
			t.Errorf("%s blob: error does not end with %q:\n%s", tc.name, tc.want, r.stderr)
		}
		if n := strings.Count(r.stderr, digest); n != 1 {
			t.Errorf("%s blob: error names the digest %d times, want once:\n%s", tc.name, n, r.stderr)
		}
		if n := strings.Count(r.stderr, "again"); n != 1 {
			t.Errorf("%s blob: error gives its advice %d times, want once:\n%s", tc.name, n, r.stderr)
		}
	}
}
