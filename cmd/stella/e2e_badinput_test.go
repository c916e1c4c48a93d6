package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"time"

	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"stella-ops.org/ouk/oci/layout"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBadKitsRejected imports one tampered kit per case over an active kit
// and checks the exit code, that the error names the problem, and that the
// active kit and its history are unchanged.
func TestBadKitsRejected(t *testing.T) {
	e := newEnv(t)
	good := e.buildKit("good.tar", "--version", "1.0.0", "--sequence", "10")
	e.must("ouk", "import", "--key", e.pub, good)
	active := e.activeDigest()
	next := e.buildKit("next.tar", "--version", "2.0.0", "--sequence", "20")
	otherKey, _ := e.keygen("other")

	cases := []struct {
		name   string
		make   func(t *testing.T) string // returns the bad kit's path
		expect string                    // substring of stderr
	}{
		{"blob bytes do not match name", func(t *testing.T) string {
			// The bundle index is the one blob the active kit cannot
			// already hold; a blob the store has is never read again.
			k := &kitParts{entries: readTar(t, next)}
			bundle, _ := k.bundle(t)
			i := k.find("blobs/sha256/" + bundle.Digest.Encoded())
			k.entries[i].data = append([]byte{}, k.entries[i].data...)
			k.entries[i].data[0] ^= 0xff
			return e.write(t, "bad-digest.tar", k)
		}, "digest"},
		{"dot-dot entry", func(t *testing.T) string {
			return e.withExtra(t, next, "dotdot.tar", tar.Header{Name: "blobs/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x"))
		}, ".."},
		{"absolute path", func(t *testing.T) string {
			return e.withExtra(t, next, "abs.tar", tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x"))
		}, "/etc/evil"},
		{"symlink", func(t *testing.T) string {
			return e.withExtra(t, next, "symlink.tar", tar.Header{Name: "blobs/sha256/" + strings.Repeat("a", 64), Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil)
		}, "link"},
		{"hard link", func(t *testing.T) string {
			return e.withExtra(t, next, "hardlink.tar", tar.Header{Name: "blobs/sha256/" + strings.Repeat("b", 64), Typeflag: tar.TypeLink, Linkname: "index.json"}, nil)
		}, "link"},
		{"device file", func(t *testing.T) string {
			return e.withExtra(t, next, "device.tar", tar.Header{Name: "blobs/sha256/" + strings.Repeat("c", 64), Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, nil)
		}, "device"},
		{"duplicate entry", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			k.entries = append(k.entries, k.entries[len(k.entries)-1])
			return e.write(t, "dup.tar", k)
		}, "twice"},
		{"manifest over the size limit", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			big := bytes.Repeat([]byte(" "), 5<<20)
			big = append([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), big...)
			k.entries = append(k.entries, blobEntry(big))
			idx := k.index(t)
			idx.Manifests = append([]ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex,
				Digest: digest.FromBytes(big), Size: int64(len(big))}}, idx.Manifests...)
			k.setIndex(t, idx)
			return e.write(t, "bigmanifest.tar", k)
		}, "limit"},
		{"descriptor size disagrees with data", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			idx := k.index(t)
			for i := range idx.Manifests {
				if idx.Manifests[i].MediaType == ocispec.MediaTypeImageIndex {
					idx.Manifests[i].Size += 7
				}
			}
			k.setIndex(t, idx)
			return e.write(t, "size.tar", k)
		}, "bytes"},
		{"missing blob", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			_, b := k.bundle(t)
			for _, c := range b.Manifests {
				if c.Annotations["org.stellaops.ouk.role"] == "sbom" {
					var m ocispec.Manifest
					json.Unmarshal(k.blob(t, c.Digest.String()), &m)
					k.remove("blobs/sha256/" + m.Layers[0].Digest.Encoded())
				}
			}
			return e.write(t, "missing.tar", k)
		}, "missing"},
		{"unknown compression", func(t *testing.T) string {
			p := filepath.Join(e.dir, "bzip2.tar.bz2")
			os.WriteFile(p, append([]byte("BZh91AY&SY"), bytes.Repeat([]byte{0x42}, 600)...), 0o644)
			return p
		}, "compression"},
		{"truncated stream", func(t *testing.T) string {
			raw, _ := os.ReadFile(next)
			p := filepath.Join(e.dir, "truncated.tar")
			os.WriteFile(p, raw[:len(raw)*2/3], 0o644)
			return p
		}, "unexpected EOF"},
		{"signed by another key", func(t *testing.T) string {
			return e.buildKit("otherkey.tar", "--version", "2.0.0", "--sequence", "20", "--key", otherKey)
		}, "signature"},
		{"signature removed", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			idx := k.index(t)
			var keep []ocispec.Descriptor
			for _, d := range idx.Manifests {
				// The referrers tag index lists the signature too.
				if layout.IsReferrersTagEntry(d) {
					k.remove("blobs/sha256/" + d.Digest.Encoded())
					continue
				}
				if d.MediaType == ocispec.MediaTypeImageIndex {
					keep = append(keep, d)
				}
			}
			idx.Manifests = keep
			k.setIndex(t, idx)
			return e.write(t, "nosig.tar", k)
		}, "no signature"},
		{"manifest changed after signing", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			desc, b := k.bundle(t)
			b.Annotations["org.stellaops.ouk.version"] = "2.0.0-evil"
			raw, _ := json.Marshal(b)
			k.entries = append(k.entries, blobEntry(raw))
			idx := k.index(t)
			for i := range idx.Manifests {
				if idx.Manifests[i].Digest == desc.Digest {
					idx.Manifests[i].Digest = digest.FromBytes(raw)
					idx.Manifests[i].Size = int64(len(raw))
				}
			}
			k.setIndex(t, idx)
			return e.write(t, "changed.tar", k)
		}, "signature"},
		{"unreferenced small blob", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			k.entries = append(k.entries, blobEntry([]byte(`{"padding":"nothing references this"}`)))
			return e.write(t, "stray.tar", k)
		}, "nothing in index.json references"},
		{"large blob outside the signed graph", func(t *testing.T) string {
			k := &kitParts{entries: readTar(t, next)}
			big := make([]byte, 5<<20)
			rand.NewChaCha8([32]byte{9}).Read(big)
			k.entries = append(k.entries, blobEntry(big))
			return e.write(t, "padded.tar", k)
		}, "not part of the signed bundle index"},
		{"lower sequence", func(t *testing.T) string {
			return e.buildKit("older.tar", "--version", "0.9.0", "--sequence", "5")
		}, "--allow-downgrade"},
		{"expired", func(t *testing.T) string {
			t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
			return e.buildKit("expired.tar", "--version", "3.0.0", "--sequence", "30", "--expires", "1h")
		}, "expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := c.make(t)
			histBefore := e.must("ouk", "history", "-o", "json")
			r := e.run("ouk", "import", "--key", e.pub, bad)
			if r.code != exitRejected {
				t.Fatalf("import exited %d, want %d; stdout: %s; stderr: %s", r.code, exitRejected, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, c.expect) {
				t.Errorf("error does not mention %q: %s", c.expect, r.stderr)
			}
			if got := e.activeDigest(); got != active {
				t.Errorf("active kit changed from %s to %s", active, got)
			}
			if got := e.must("ouk", "history", "-o", "json"); got != histBefore {
				t.Errorf("history changed:\n%s", got)
			}
		})
	}
}

func TestImportFailureJSON(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	raw, err := os.ReadFile(kit)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the file inside its largest blob.
	_, head := largestBlob(t, raw)
	at := bytes.Index(raw, head) + len(head)/2
	cut := filepath.Join(e.dir, "cut.tar")
	if err := os.WriteFile(cut, raw[:at], 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("ouk", "import", "--key", e.pub, "-o", "json", cut)
	if r.code != exitRejected {
		t.Fatalf("import of a truncated kit: exit %d, want %d: %s", r.code, exitRejected, r.stderr)
	}
	var got importFailure
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout of a failed import with -o json is not JSON: %v\n%s", err, r.stdout)
	}
	if got.Status != "failed" {
		t.Errorf("failure JSON status = %q, want failed", got.Status)
	}
	if got.ExitCode != exitRejected {
		t.Errorf("failure JSON exit code = %d, want %d", got.ExitCode, exitRejected)
	}
	if got.Source != cut {
		t.Errorf("failure JSON source = %q, want %q", got.Source, cut)
	}
	if !strings.Contains(got.Error, "truncated") {
		t.Errorf("failure JSON error %q does not say the kit is truncated", got.Error)
	}
	if !strings.Contains(r.stderr, got.Error) {
		t.Errorf("failure JSON error %q differs from stderr:\n%s", got.Error, r.stderr)
	}

	r = e.run("ouk", "import", "-o", "json", "oci://user:secret@registry.example.test/ouk:1")
	if strings.Contains(r.stdout, "secret") {
		t.Errorf("failure JSON shows the password of the source:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, `"failed"`) {
		t.Errorf("no failure JSON for a source with credentials:\n%s", r.stdout)
	}
}

func TestDowngradeOverrideRecorded(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("new.tar", "--version", "2.0.0", "--sequence", "20"))
	older := e.buildKit("old.tar", "--version", "1.0.0", "--sequence", "10")
	e.must("ouk", "import", "--key", e.pub, "--allow-downgrade", older)
	if got := e.status().Active.Version; got != "1.0.0" {
		t.Fatalf("active version = %q", got)
	}
	if hist := e.must("ouk", "history"); !strings.Contains(hist, "downgrade") {
		t.Errorf("history does not record the downgrade:\n%s", hist)
	}
}

func TestExpiredOverrideWarns(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1000000000")
	kit := e.buildKit("expired.tar", "--version", "1.0.0", "--expires", "1h")
	r := e.run("ouk", "import", "--key", e.pub, "--allow-expired", kit)
	if r.code != 0 {
		t.Fatalf("import with --allow-expired: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr+r.stdout, "expired") {
		t.Errorf("no warning about the expiry: %s%s", r.stdout, r.stderr)
	}
}

func (e *env) write(t *testing.T, name string, k *kitParts) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	writeTar(t, p, k.entries)
	return p
}

// withExtra copies a kit and appends one crafted entry.
func (e *env) withExtra(t *testing.T, kit, name string, h tar.Header, data []byte) string {
	t.Helper()
	k := &kitParts{entries: readTar(t, kit)}
	k.entries = append(k.entries, tarEntry{hdr: h, data: data})
	return e.write(t, name, k)
}

func TestLargeBlobBeforeSignatureRejected(t *testing.T) {
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0",
		"--image", "registry.example.test/stella-ops/scanner:0.1.0="+bigImage(t, e.dir))
	k := &kitParts{entries: readTar(t, kit)}
	// Move the largest blob right after index.json, before the signature.
	largest := 0
	for i, en := range k.entries {
		if len(en.data) > len(k.entries[largest].data) {
			largest = i
		}
	}
	big := k.entries[largest]
	k.entries = append(k.entries[:largest], k.entries[largest+1:]...)
	at := k.find("index.json") + 1
	k.entries = append(k.entries[:at], append([]tarEntry{big}, k.entries[at:]...)...)
	reordered := e.write(t, "reordered.tar", k)

	r := e.run("ouk", "import", "--key", e.pub, reordered)
	if r.code != exitRejected {
		t.Fatalf("reordered kit: exit %d, want %d: %s", r.code, exitRejected, r.stderr)
	}
	if !strings.Contains(r.stderr, "before the kit's signature could be checked") {
		t.Errorf("error does not explain the order: %s", r.stderr)
	}
	if e.activeDigest() != "" {
		t.Errorf("a kit is active after the rejected import")
	}
	// The same content as a layout folder imports, since a folder has no order.
	dir := filepath.Join(e.dir, "layout")
	extractTar(t, reordered, dir)
	e.must("ouk", "import", "--key", e.pub, dir)
}

// bigImage writes a two-platform image whose layers are over the 4 MiB
// manifest limit, and returns its layout folder.
func bigImage(t *testing.T, dir string) string {
	t.Helper()
	bins := map[string]string{}
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		p := filepath.Join(dir, fmt.Sprintf("big-%d", i))
		data := make([]byte, 6<<20)
		rand.NewChaCha8([32]byte{byte(i), 3}).Read(data)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		bins[platform] = p
	}
	out := filepath.Join(dir, "big-image")
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := layout.BuildDemoImage(context.Background(), bins, "registry.example.test/stella-ops/scanner:0.1.0", created, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWrongArgumentsExitUsage(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"ouk", "import", "a", "b"}, {"ouk", "import"}, {"ouk", "status", "extra"},
		{"--lock-timeout", "-5s", "ouk", "status"}} {
		if r := e.run(args...); r.code != exitUsage {
			t.Errorf("stella %s: exit %d, want %d", strings.Join(args, " "), r.code, exitUsage)
		}
	}
}

func TestStatusCreatesNoStore(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "absent")
	r := e.run("--store", dir, "ouk", "status", "-o", "json")
	if r.code != exitError || !strings.Contains(r.stdout, `"storeAbsent": true`) {
		t.Fatalf("status of an absent store: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("status created the store folder %s", dir)
	}
	for _, args := range [][]string{{"db", "status"}, {"ouk", "history"}, {"ouk", "gc"}, {"quota", "status"}} {
		r := e.run(append([]string{"--store", dir}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "no store at") {
			t.Errorf("stella %s on an absent store: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("stella %s created the store folder %s", strings.Join(args, " "), dir)
		}
	}
}

func TestStorePathIsAFile(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(e.dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("--store", file, "ouk", "status")
	if r.code != exitError || !strings.Contains(r.stderr, "store path "+file+" is a file, not a folder") {
		t.Errorf("status of a store path that is a file: exit %d: %s", r.code, r.stderr)
	}
}

func TestSourceWithPasswordNotEchoed(t *testing.T) {
	e := newEnv(t)
	for _, src := range []string{"oci://alice:S3cr3t-Pa55@127.0.0.1:1/stella/kit:1", "https://alice:S3cr3t-Pa55@127.0.0.1:1/kit.tar"} {
		r := e.run("ouk", "import", src)
		if r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d", src, r.code, exitUsage)
		}
		if strings.Contains(r.stdout+r.stderr, "S3cr3t") {
			t.Errorf("the password appears in the output: %s", r.stderr)
		}
	}
}
