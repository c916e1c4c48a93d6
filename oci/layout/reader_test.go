package layout

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// readAll reads every entry of a tar stream and returns the first error
// other than io.EOF.
func readAll(data []byte, lim Limits) ([]*Entry, error) {
	tr, err := NewTarReader(bytes.NewReader(data), lim)
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for {
		e, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if _, err := io.Copy(io.Discard, e.Reader); err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func TestTarReaderValid(t *testing.T) {
	plain := validLayoutTar(t)
	for name, data := range map[string][]byte{
		"plain": plain,
		"gzip":  gzipBytes(t, plain),
		"zstd":  zstdBytes(t, plain),
	} {
		t.Run(name, func(t *testing.T) {
			entries, err := readAll(data, Limits{})
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if len(entries) != 5 {
				t.Fatalf("got %d entries, want 5", len(entries))
			}
			if entries[0].Kind != LayoutFile || entries[1].Kind != IndexJSON || entries[2].Kind != Blob {
				t.Errorf("kinds = %v %v %v", entries[0].Kind, entries[1].Kind, entries[2].Kind)
			}
			if !strings.HasPrefix(entries[2].Digest.String(), "sha256:") {
				t.Errorf("blob digest = %q", entries[2].Digest)
			}
		})
	}
}

func TestTarReaderAcceptsDotPrefixAndDirs(t *testing.T) {
	_, entries := sampleLayout(t)
	withDirs := []tarEntry{
		{name: "./", typeflag: tar.TypeDir},
		{name: "./blobs/", typeflag: tar.TypeDir},
		{name: "./blobs/sha256/", typeflag: tar.TypeDir},
		// oras leaves an empty ingest folder in the layouts it writes.
		{name: "./ingest/", typeflag: tar.TypeDir},
	}
	for _, e := range entries {
		e.name = "./" + e.name
		withDirs = append(withDirs, e)
	}
	got, err := readAll(buildTar(t, withDirs...), Limits{})
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d entries, want 5", len(got))
	}
	if got[0].Name != "oci-layout" {
		t.Errorf("name = %q, want oci-layout", got[0].Name)
	}
}

func TestTarReaderUnreadBlobVerified(t *testing.T) {
	body := []byte("original")
	bad := blobEntry(body)
	bad.body = []byte("tampered")
	data := buildTar(t, file("oci-layout", layoutFileContent), bad)
	tr, err := NewTarReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Next()
	if _, err := tr.Next(); err != nil {
		t.Fatalf("blob header: %v", err)
	}
	// The caller skips the blob: Next must still verify it.
	_, err = tr.Next()
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if !strings.Contains(err.Error(), bad.name) {
		t.Errorf("error %q does not name the entry", err)
	}
}

func TestTarReaderRejects(t *testing.T) {
	layoutFile := file("oci-layout", layoutFileContent)
	good := blobEntry([]byte("hello"))
	tampered := good
	tampered.body = []byte("jello")
	cases := []struct {
		name    string
		entries []tarEntry
		lim     Limits
		want    error
	}{
		{"digest mismatch", []tarEntry{layoutFile, tampered}, Limits{}, errdef.ErrDigestMismatch},
		{"dot dot", []tarEntry{file("blobs/../../etc/passwd", []byte("x"))}, Limits{}, errdef.ErrUnsafePath},
		{"absolute", []tarEntry{file("/etc/passwd", []byte("x"))}, Limits{}, errdef.ErrUnsafePath},
		{"backslash", []tarEntry{file(`blobs\..\x`, []byte("x"))}, Limits{}, errdef.ErrUnsafePath},
		{"symlink", []tarEntry{{name: "index.json", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}}, Limits{}, errdef.ErrUnsafePath},
		{"hard link", []tarEntry{layoutFile, {name: "index.json", typeflag: tar.TypeLink, linkname: "oci-layout"}}, Limits{}, errdef.ErrUnsafePath},
		{"char device", []tarEntry{{name: "oci-layout", typeflag: tar.TypeChar}}, Limits{}, errdef.ErrUnsafePath},
		{"block device", []tarEntry{{name: "oci-layout", typeflag: tar.TypeBlock}}, Limits{}, errdef.ErrUnsafePath},
		{"fifo", []tarEntry{{name: "oci-layout", typeflag: tar.TypeFifo}}, Limits{}, errdef.ErrUnsafePath},
		{"duplicate", []tarEntry{layoutFile, good, good}, Limits{}, errdef.ErrInvalidKit},
		{"unknown name", []tarEntry{layoutFile, file("README", []byte("x"))}, Limits{}, errdef.ErrInvalidKit},
		{"short hex", []tarEntry{file("blobs/sha256/abc", []byte("x"))}, Limits{}, errdef.ErrInvalidKit},
		{"upper hex", []tarEntry{file("blobs/sha256/"+strings.ToUpper(good.name[13:]), []byte("hello"))}, Limits{}, errdef.ErrInvalidKit},
		{"unknown algorithm", []tarEntry{file("blobs/md5/"+strings.Repeat("a", 32), []byte("x"))}, Limits{}, errdef.ErrInvalidKit},
		{"blob as dir", []tarEntry{{name: good.name + "/", typeflag: tar.TypeDir}}, Limits{}, errdef.ErrInvalidKit},
		{"file in ingest", []tarEntry{file("ingest/partial", []byte("x"))}, Limits{}, errdef.ErrInvalidKit},
		{"entry count", []tarEntry{layoutFile, good}, Limits{MaxEntries: 1}, errdef.ErrSizeExceedsLimit},
		{"blob size", []tarEntry{layoutFile, good}, Limits{MaxBlobSize: 4}, errdef.ErrSizeExceedsLimit},
		{"index size", []tarEntry{file("index.json", []byte(`{"schemaVersion":2}`))}, Limits{MaxIndexSize: 8}, errdef.ErrSizeExceedsLimit},
		{"total size", []tarEntry{layoutFile, good}, Limits{MaxTotalSize: 32}, errdef.ErrSizeExceedsLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(buildTar(t, tc.entries...), tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTarReaderLimitErrorAdvice(t *testing.T) {
	layoutFile := file("oci-layout", layoutFileContent)
	good := blobEntry([]byte("hello"))
	cases := map[string]struct {
		entries []tarEntry
		lim     Limits
	}{
		"entry count": {[]tarEntry{layoutFile, good}, Limits{MaxEntries: 1}},
		"blob size":   {[]tarEntry{layoutFile, good}, Limits{MaxBlobSize: 4}},
		"index size":  {[]tarEntry{file("index.json", []byte(`{"schemaVersion":2}`))}, Limits{MaxIndexSize: 8}},
		"total size":  {[]tarEntry{layoutFile, good}, Limits{MaxTotalSize: 32}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := readAll(buildTar(t, tc.entries...), tc.lim)
			if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("err = %v, want %v", err, errdef.ErrSizeExceedsLimit)
			}
			if strings.Contains(err.Error(), "raise") {
				t.Errorf("error %q advises raising a limit that no setting raises", err)
			}
			if !strings.Contains(err.Error(), "rebuild it with stella ouk build") {
				t.Errorf("error %q does not say how to get a valid kit", err)
			}
		})
	}
}

func TestTarReaderErrorNamesEntry(t *testing.T) {
	_, err := readAll(buildTar(t, tarEntry{name: "index.json", typeflag: tar.TypeSymlink, linkname: "/etc/shadow"}), Limits{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"index.json"`, "symbolic link", "/etc/shadow", "rebuild"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestTarReaderTruncated(t *testing.T) {
	plain := validLayoutTar(t)
	// The layer is the last and largest blob: cut in its middle.
	cutMid := plain[:len(plain)-1024-600]
	// Cut at an entry boundary, before the end-of-archive marker.
	cutEnd := plain[:len(plain)-1024]
	cases := map[string][]byte{
		"plain mid blob":    cutMid,
		"plain at boundary": cutEnd,
		"gzip mid stream":   gzipBytes(t, plain)[:len(gzipBytes(t, plain))/2],
		"zstd mid stream":   zstdBytes(t, plain)[:len(zstdBytes(t, plain))/2],
		"gzip of cut tar":   gzipBytes(t, cutMid),
		"zstd of cut tar":   zstdBytes(t, cutMid),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := readAll(data, Limits{})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestTarReaderUnknownCompression(t *testing.T) {
	cases := map[string][]byte{
		"bzip2":  append([]byte("BZh91AY&SY"), bytes.Repeat([]byte{1}, 600)...),
		"random": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 200),
		"empty":  nil,
		"short":  []byte("ab"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewTarReader(bytes.NewReader(data), Limits{})
			if !errors.Is(err, errdef.ErrUnknownCompression) {
				t.Fatalf("err = %v, want ErrUnknownCompression", err)
			}
		})
	}
	_, err := NewTarReader(bytes.NewReader(cases["bzip2"]), Limits{})
	if !strings.Contains(err.Error(), "425a6839") {
		t.Errorf("error %q does not show the first bytes in hex", err)
	}
}

// A stream of JSON text or of a web page is named as such.
func TestTarReaderNamesTextStream(t *testing.T) {
	cases := map[string]string{
		`{"bomFormat":"CycloneDX"}`:      "looks like JSON text",
		"\n[{\"id\":\"GHSA-1\"}]":        "looks like JSON text",
		"<!DOCTYPE html><html></html>":   "looks like an HTML or XML page",
		"<?xml version=\"1.0\"?><a></a>": "looks like an HTML or XML page",
	}
	for data, want := range cases {
		_, err := NewTarReader(strings.NewReader(data), Limits{})
		if !errors.Is(err, errdef.ErrUnknownCompression) {
			t.Errorf("%q: err = %v, want ErrUnknownCompression", data, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q lacks %q", data, err, want)
		}
	}
}

func TestTarReaderNamesSignatureFile(t *testing.T) {
	cases := map[string]struct {
		data string
		want string
	}{
		"base64 signature": {"MEUCIQDq1mYy0b3bU0c1hX3a9fR4fZ2v7cQk2v2s0m3lq1l2PAIgB7d3Yx9bq1w==\n",
			"a detached signature in base64"},
		"cosign bundle": {`{"base64Signature":"MEUCIQ==","cert":"","rekorBundle":null}`,
			"a cosign or Sigstore signature bundle"},
		"sigstore bundle": {`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}`,
			"a cosign or Sigstore signature bundle"},
		"PEM public key": {"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
			`a PEM file of type "PUBLIC KEY"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewTarReader(strings.NewReader(c.data), Limits{})
			if !errors.Is(err, errdef.ErrUnknownCompression) {
				t.Fatalf("err = %v, want ErrUnknownCompression", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say that the data looks like %s", err, c.want)
			}
			if !strings.Contains(err.Error(), "give the kit file itself") {
				t.Errorf("error %q does not ask for the kit file", err)
			}
		})
	}
	// Other JSON is not taken for a signature.
	_, err := NewTarReader(strings.NewReader(`{"schemaVersion":2}`), Limits{})
	if err == nil || strings.Contains(err.Error(), "signature") {
		t.Errorf("JSON that is not a signature: err = %v, want no signature named", err)
	}
}

func TestTarReaderStickyError(t *testing.T) {
	data := buildTar(t, file("README", []byte("x")), file("oci-layout", layoutFileContent))
	tr, err := NewTarReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, first := tr.Next()
	_, second := tr.Next()
	if first == nil || second != first {
		t.Fatalf("first = %v, second = %v; want the same error", first, second)
	}
}

func TestCompressionFromName(t *testing.T) {
	cases := map[string]Compression{
		"kit.tar": None, "kit.tar.gz": Gzip, "KIT.TGZ": Gzip, "kit.tar.zst": Zstd, "kit.tzst": Zstd,
	}
	for name, want := range cases {
		got, err := CompressionFromName(name)
		if err != nil || got != want {
			t.Errorf("CompressionFromName(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	_, err := CompressionFromName("kit.zip")
	if !errors.Is(err, errdef.ErrUnknownCompression) {
		t.Errorf("kit.zip: err = %v, want ErrUnknownCompression", err)
	}
}

func TestTarReaderSkipBlobDiscardsUnhashed(t *testing.T) {
	stored := blobEntry([]byte("already in the store"))
	stored.body = []byte("bytes that are never used")
	next := blobEntry([]byte("next blob"))
	data := buildTar(t, file("oci-layout", layoutFileContent), stored, next)
	tr, err := NewTarReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Next()
	if _, err := tr.Next(); err != nil {
		t.Fatalf("blob header: %v", err)
	}
	tr.SkipBlob()
	e, err := tr.Next()
	if err != nil {
		t.Fatalf("next entry after a skipped blob: %v", err)
	}
	if e.Name != next.name {
		t.Errorf("entry after skip = %q, want %q", e.Name, next.name)
	}
}

func TestTarReaderHashedByCallerSkipsCheck(t *testing.T) {
	bad := blobEntry([]byte("original"))
	bad.body = []byte("tampered")
	data := buildTar(t, file("oci-layout", layoutFileContent), bad)
	for _, callerHashes := range []bool{false, true} {
		tr, err := NewTarReader(bytes.NewReader(data), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		tr.Next()
		e, err := tr.Next()
		if err != nil {
			t.Fatalf("blob header: %v", err)
		}
		if callerHashes {
			tr.HashedByCaller()
		}
		got, err := io.ReadAll(e.Reader)
		if callerHashes && (err != nil || string(got) != "tampered") {
			t.Fatalf("read with HashedByCaller = %q, %v; want the bytes unchecked", got, err)
		}
		if !callerHashes && !errors.Is(err, errdef.ErrDigestMismatch) {
			t.Fatalf("read without HashedByCaller: %v, want ErrDigestMismatch", err)
		}
	}
}

func TestSignatureFileHintFirst(t *testing.T) {
	sig := "MEUCIQClx7mA2rjHyJ0n8bS0ZyMyL1Zt1mR8XW0Yb6l1r3hQ3QIgNf3Qy0H9cY5fN9r8x3mKQXG3o2aC7N0n1qk0x8WvPzA="
	_, err := NewTarReader(strings.NewReader(sig), Limits{})
	if err == nil {
		t.Fatal("a detached signature was read as a kit")
	}
	if !strings.HasPrefix(err.Error(), "the data looks like a detached signature in base64, not a kit") {
		t.Errorf("error does not start with the signature hint: %v", err)
	}
	if !errors.Is(err, errdef.ErrUnknownCompression) {
		t.Errorf("error does not wrap ErrUnknownCompression: %v", err)
	}
}
