package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// table writes an sstable of n keys "k/0000".. under namespace ns.
func table(t *testing.T, ns string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := WriteTable(&buf, ns, func(add func(k, v []byte) error) error {
		for i := range n {
			if err := add(fmt.Appendf(nil, "k/%04d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStageAndIngestTable(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	data := table(t, "idx", 100)
	path, err := s.StageTable(context.Background(), descOf(data, ""), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	st := s.KV("idx")
	if err := st.(kv.TableIngester).IngestTables([]string{path}, [][]byte{[]byte("k/")}); err != nil {
		t.Fatal(err)
	}
	s.DiscardTable(path)
	v, err := st.Get([]byte("k/0042"))
	if err != nil || string(v) != "v42" {
		t.Fatalf("Get after ingest = %q, %v; want v42", v, err)
	}
	if _, err := s.KV("other").Get([]byte("k/0042")); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("another namespace sees the ingested key: %v", err)
	}
	names, _ := os.ReadDir(filepath.Join(dir, ingestDir))
	if len(names) != 0 {
		t.Errorf("ingest folder keeps %d files", len(names))
	}
}

func TestStageTableChecksDigest(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	data := table(t, "idx", 10)
	bad := bytes.Clone(data)
	bad[0] ^= 1
	if _, err := s.StageTable(context.Background(), descOf(data, ""), bytes.NewReader(bad)); !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("StageTable of changed bytes: %v, want a digest mismatch", err)
	}
	if _, err := s.StageTable(context.Background(), descOf(data, ""), bytes.NewReader(data[:5])); !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Fatalf("StageTable of cut bytes: %v, want a size mismatch", err)
	}
	names, _ := os.ReadDir(filepath.Join(dir, ingestDir))
	if len(names) != 0 {
		t.Errorf("failed stagings left %d files", len(names))
	}
}

func TestIngestTablesRejectsOtherPrefix(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	for name, data := range map[string][]byte{
		"another namespace": table(t, "other", 3),
		"another prefix":    table(t, "idx", 3),
	} {
		path, err := s.StageTable(context.Background(), descOf(data, ""), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		err = s.KV("idx").(kv.TableIngester).IngestTables([]string{path}, [][]byte{[]byte("j/")})
		s.DiscardTable(path)
		if !errors.Is(err, errdef.ErrInvalidKit) {
			t.Fatalf("%s: IngestTables = %v, want an invalid kit error", name, err)
		}
		if _, err := s.KV("other").Get([]byte("k/0001")); !errors.Is(err, errdef.ErrNotFound) {
			t.Fatalf("%s: a rejected table's key is visible: %v", name, err)
		}
	}
}

// spanTable writes a table of namespace ns whose point keys all lie under
// "k/". The table also contains a span from the empty key to the end of the
// key space, which is a range key when rangeKey is set and a range deletion
// otherwise.
func spanTable(t *testing.T, ns string, rangeKey bool) []byte {
	t.Helper()
	o := &pebble.Options{}
	tuneOptions(o)
	o.EnsureDefaults()
	wo := o.MakeWriterOptions(len(o.Levels)-1, o.FormatMajorVersion.MaxTableFormat())
	var buf bytes.Buffer
	tw := sstable.NewWriter(writerWritable{&buf}, wo)
	prefix := namespacePrefix(ns)
	for i := range 3 {
		if err := tw.Set(fmt.Appendf(bytes.Clone(prefix), "k/%04d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	end := []byte{0xff, 0xff, 0xff, 0xff}
	var err error
	if rangeKey {
		err = tw.RangeKeySet([]byte{0}, end, nil, []byte("x"))
	} else {
		err = tw.DeleteRange([]byte{0}, end)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIngestTablesRejectsSpans(t *testing.T) {
	for name, rangeKey := range map[string]bool{"range deletion": false, "range key": true} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, dir, Options{})
			b := s.KV("other").NewBatch()
			if err := b.Set([]byte("keep"), []byte("1")); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(true); err != nil {
				t.Fatal(err)
			}
			b.Close()
			data := spanTable(t, "idx", rangeKey)
			path, err := s.StageTable(context.Background(), descOf(data, ""), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer s.DiscardTable(path)
			err = s.KV("idx").(kv.TableIngester).IngestTables([]string{path}, [][]byte{[]byte("k/")})
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Errorf("IngestTables of a table with a %s = %v, want an invalid kit error", name, err)
			}
			if v, err := s.KV("other").Get([]byte("keep")); err != nil || string(v) != "1" {
				t.Errorf("key of another namespace after the ingest = %q, %v; want 1", v, err)
			}
			if _, err := s.KV("idx").Get([]byte("k/0001")); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("a rejected table's key is visible: %v", err)
			}
		})
	}
}

// stageKeys stages a table of namespace ns with the given keys, in order,
// and returns its path.
func stageKeys(t *testing.T, s *Store, ns string, keys ...string) string {
	t.Helper()
	var buf bytes.Buffer
	err := WriteTable(&buf, ns, func(add func(k, v []byte) error) error {
		for _, k := range keys {
			if err := add([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	path, err := s.StageTable(context.Background(), descOf(buf.Bytes(), ""), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.DiscardTable(path) })
	return path
}

// TestIngestTablesRejectsOverlap checks that tables whose key ranges
// overlap are rejected as an invalid kit, not as a failure of the store,
// and that tables which only border each other are ingested in any order.
func TestIngestTablesRejectsOverlap(t *testing.T) {
	cases := []struct {
		name string
		a, b []string
	}{
		{"interleaved", []string{"k/a", "k/c"}, []string{"k/b", "k/d"}},
		{"nested", []string{"k/a", "k/d"}, []string{"k/b", "k/c"}},
		{"shared end key", []string{"k/a", "k/b"}, []string{"k/b", "k/c"}},
		{"same key", []string{"k/a"}, []string{"k/a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), Options{})
			paths := []string{stageKeys(t, s, "idx", tc.a...), stageKeys(t, s, "idx", tc.b...)}
			err := s.KV("idx").(kv.TableIngester).IngestTables(paths, [][]byte{[]byte("k/")})
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Errorf("IngestTables = %v, want an invalid kit error", err)
			}
			if IsStoreError(err) {
				t.Errorf("IngestTables = %v, a store error for tables of the kit", err)
			}
			if s.Broken() != nil {
				t.Errorf("store broken after the rejected tables: %v", s.Broken())
			}
			if _, err := s.KV("idx").Get([]byte("k/a")); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("a rejected table's key is visible: %v", err)
			}
		})
	}

	s := openTest(t, t.TempDir(), Options{})
	late := stageKeys(t, s, "idx", "k/c", "k/d")
	early := stageKeys(t, s, "idx", "k/a", "k/b")
	if err := s.KV("idx").(kv.TableIngester).IngestTables([]string{late, early}, [][]byte{[]byte("k/")}); err != nil {
		t.Fatalf("IngestTables of bordering tables: %v", err)
	}
	for _, k := range []string{"k/a", "k/d"} {
		if _, err := s.KV("idx").Get([]byte(k)); err != nil {
			t.Errorf("Get %s after the ingest: %v", k, err)
		}
	}
}

// TestWriteTableBlocks checks that a pre-built table uses zstd blocks of
// about 16 KiB, which keep kits small, and still reads back in full.
func TestWriteTableBlocks(t *testing.T) {
	const n = 3000
	var buf bytes.Buffer
	err := WriteTable(&buf, "idx", func(add func(k, v []byte) error) error {
		for i := range n {
			v := fmt.Appendf(nil, `{"id":"GHSA-%04d","affected":[{"package":{"ecosystem":"npm","name":"pkg-%d"}}]}`, i, i%97)
			if err := add(fmt.Appendf(nil, "k/%05d", i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.sst")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Default.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		t.Fatal(err)
	}
	o := &pebble.Options{}
	o.EnsureDefaults()
	r, err := sstable.NewReader(context.Background(), readable, o.MakeReaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	props, err := r.ReadPropertiesBlock(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(props.CompressionName), "zstd") {
		t.Errorf("table compression = %q, want zstd", props.CompressionName)
	}
	raw := props.RawKeySize + props.RawValueSize
	if perBlock := raw / props.NumDataBlocks; perBlock < 12<<10 {
		t.Errorf("%d data blocks for %d raw bytes, %d bytes each; want blocks of about %d", props.NumDataBlocks, raw, perBlock, tableBlockSize)
	}

	s := openTest(t, t.TempDir(), Options{})
	staged, err := s.StageTable(context.Background(), descOf(buf.Bytes(), ""), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KV("idx").(kv.TableIngester).IngestTables([]string{staged}, [][]byte{[]byte("k/")}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1234, n - 1} {
		v, err := s.KV("idx").Get(fmt.Appendf(nil, "k/%05d", i))
		if err != nil || !bytes.Contains(v, fmt.Appendf(nil, "GHSA-%04d", i)) {
			t.Errorf("Get k/%05d = %q, %v", i, v, err)
		}
	}
}

// TestWriteTableBytesStable pins the bytes of a small pre-built table, so
// that kits built from the same records keep the same digest across builds
// of stella. A change of Pebble or of its zstd encoder that moves them
// fails here rather than in a site's comparison of two builds.
func TestWriteTableBytesStable(t *testing.T) {
	if !pureGoZstd {
		t.Skip("built with the C zstd library: build with -tags pebblegozstd, as make does, to compare table bytes")
	}
	var buf bytes.Buffer
	err := WriteTable(&buf, "idx", func(add func(k, v []byte) error) error {
		for i := range 500 {
			if err := add(fmt.Appendf(nil, "k/%04d", i), fmt.Appendf(nil, "value of record %d, repeated %d", i, i%7)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256:4b3f9de892ca6599991763d4920d53339d8b7896d6f1455fea9501000ad9b913"
	if got := digest.FromBytes(buf.Bytes()).String(); got != want {
		t.Errorf("table digest = %s, want %s", got, want)
	}
}

// TestCompactRangeStopsOnCancel checks that a compaction whose context
// ended returns that error, not a failure of the store, and leaves the
// store able to write.
func TestCompactRangeStopsOnCancel(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	st := s.KV("idx")
	b := st.NewBatch()
	for i := range 100 {
		if err := b.Set(fmt.Appendf(nil, "k/%04d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := st.(kv.Compacter).CompactRange(ctx, []byte("k/"), []byte("k0"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CompactRange with an ended context = %v, want context.Canceled", err)
	}
	if IsStoreError(err) {
		t.Errorf("CompactRange with an ended context = %v, a store error", err)
	}
	if s.Broken() != nil {
		t.Errorf("store broken after a stopped compaction: %v", s.Broken())
	}
	if err := st.(kv.Compacter).CompactRange(context.Background(), []byte("k/"), []byte("k0")); err != nil {
		t.Errorf("CompactRange after a stopped one: %v", err)
	}
}
