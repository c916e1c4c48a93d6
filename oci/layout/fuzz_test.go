package layout

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func FuzzTarReader(f *testing.F) {
	valid := validLayoutTar(f)
	f.Add(valid)
	f.Add(gzipBytes(f, valid))
	f.Add(zstdBytes(f, valid))
	f.Add(valid[:len(valid)/2])
	f.Add(buildTar(f, tarEntry{name: "../evil", typeflag: tar.TypeReg, body: []byte("x")}))
	f.Add(buildTar(f, tarEntry{name: "index.json", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}))
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxEntries: 100, MaxBlobSize: 1 << 20, MaxTotalSize: 4 << 20, MaxIndexSize: 64 << 10}
		tr, err := NewTarReader(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		defer tr.Close()
		for {
			e, err := tr.Next()
			if err != nil {
				return
			}
			if e.Kind == Blob && e.Digest.Validate() != nil {
				t.Fatalf("blob entry %q has invalid digest %q", e.Name, e.Digest)
			}
			n, err := io.Copy(io.Discard, e.Reader)
			if err == nil && n != e.Size {
				t.Fatalf("entry %q read %d bytes, header says %d", e.Name, n, e.Size)
			}
		}
	})
}
