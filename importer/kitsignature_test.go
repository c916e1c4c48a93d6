package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/delta"
)

// writeKitFile writes raw into the fixture's folder as name and returns
// its path and bundle digest.
func (f *fixture) writeKitFile(name string, raw []byte) (string, digest.Digest) {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		f.t.Fatal(err)
	}
	s, err := delta.Peek(context.Background(), path)
	if err != nil {
		f.t.Fatalf("peeking %s: %v", name, err)
	}
	return path, s.Digest
}

func TestCheckKitSignatureTrustedKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tarPath, bundle := f.writeKitFile("trusted.tar", f.kit("1.0.0", 1))
	zstPath, zstBundle := f.writeKitFile("trusted.tar.zst", f.kitAs("trusted-src.tar.zst", "1.0.1", 1))
	dir := filepath.Join(f.dir, "trusted-layout")
	writeLayoutFolder(t, f.kit("1.0.0", 1), dir)

	for _, c := range []struct {
		path   string
		bundle digest.Digest
	}{{tarPath, bundle}, {zstPath, zstBundle}, {dir, bundle}} {
		check, err := CheckKitSignature(ctx, c.path, c.bundle, f.keys)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if check.SignedBy != f.keys[0].Source {
			t.Errorf("%s: signed by %q, want %q; reasons %v", c.path, check.SignedBy, f.keys[0].Source, check.Reasons)
		}
	}
}

func TestCheckKitSignatureOtherKey(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	path, bundle := f.writeKitFile("other.tar", other.kit("1.0.0", 1))

	check, err := CheckKitSignature(context.Background(), path, bundle, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if check.SignedBy != "" {
		t.Errorf("a kit of another key is signed by %q", check.SignedBy)
	}
	if check.Signatures != 1 {
		t.Errorf("kit of another key has %d signatures, want 1: %v", check.Signatures, check.Reasons)
	}
	if check.KeyMismatches != 1 {
		t.Errorf("kit of another key has %d key mismatches, want 1: %v", check.KeyMismatches, check.Reasons)
	}
}

func TestCheckKitSignatureUnsigned(t *testing.T) {
	f := newFixture(t)
	unsigned := newFixture(t)
	unsigned.signer = nil
	path, bundle := f.writeKitFile("unsigned.tar", unsigned.kit("1.0.0", 1))

	check, err := CheckKitSignature(context.Background(), path, bundle, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if check.SignedBy != "" {
		t.Errorf("unsigned kit is signed by %q", check.SignedBy)
	}
	if check.Signatures != 0 {
		t.Errorf("unsigned kit has %d signatures, want 0", check.Signatures)
	}
}

// TestCheckKitSignatureReadsOnlyHead checks that a kit file is read only up
// to its signature: the first half of a kit with two 5 MiB image layers
// passes, although its image layers are cut.
func TestCheckKitSignatureReadsOnlyHead(t *testing.T) {
	f := newFixture(t)
	raw := f.imageKit(5 << 20)
	path, bundle := f.writeKitFile("image.tar", raw)
	if err := os.Truncate(path, int64(len(raw)/2)); err != nil {
		t.Fatal(err)
	}

	check, err := CheckKitSignature(context.Background(), path, bundle, f.keys)
	if err != nil {
		t.Fatalf("cut kit file: %v", err)
	}
	if check.SignedBy == "" {
		t.Errorf("cut kit file does not verify: %v", check.Reasons)
	}
}

// TestCheckKitSignatureStopsAtLargeBlob checks that a blob over
// MaxManifestSize right after index.json ends the read, as an import
// rejects such a blob before the signature check.
func TestCheckKitSignatureStopsAtLargeBlob(t *testing.T) {
	f := newFixture(t)
	raw := insertTarBlob(t, f.kit("1.0.0", 1), bytes.Repeat([]byte{0x5a}, MaxManifestSize+1), "index.json")
	path, bundle := f.writeKitFile("padded.tar", raw)

	_, err := CheckKitSignature(context.Background(), path, bundle, f.keys)
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("err = %v, want a bundle index that is not found before the large blob", err)
	}
}

// insertTarBlob returns the tar kit with blob added after the entry named
// after, or at the end when after is empty.
func insertTarBlob(t *testing.T, kit, blob []byte, after string) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	writeBlob := func() {
		d := digest.FromBytes(blob)
		h := &tar.Header{Name: "blobs/sha256/" + d.Encoded(), Mode: 0o644, Size: int64(len(blob)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(blob); err != nil {
			t.Fatal(err)
		}
	}
	for h, body := range tarEntries(t, kit) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
		if h.Name == after {
			writeBlob()
		}
	}
	if after == "" {
		writeBlob()
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// FuzzCheckKitSignature feeds changed kit files to the signature check that
// watch runs on files anyone may drop. It must not panic, and a file it
// finds signed must carry the signed bundle index unchanged.
func FuzzCheckKitSignature(f *testing.F) {
	fx := newFixture(f)
	signed := fx.kit("1.0.0", 1)
	path, bundle := fx.writeKitFile("seed.tar", signed)
	f.Add(signed)
	f.Add(signed[:len(signed)/2])
	f.Add([]byte{})
	keys := fx.keys
	// One file in the fixture's folder serves every input.
	file := filepath.Join(filepath.Dir(path), "input.tar")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := delta.Peek(context.Background(), file)
		if err != nil {
			return
		}
		check, err := CheckKitSignature(context.Background(), file, s.Digest, keys)
		if err != nil || check.SignedBy == "" {
			return
		}
		// Only the seed kit was signed with the fixture's key, and the
		// signature covers the digest of its bundle index.
		if s.Digest != bundle {
			t.Fatalf("a changed file with bundle %s (version %q) verified", s.Digest, s.Version)
		}
	})
}
