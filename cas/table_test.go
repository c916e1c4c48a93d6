package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

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
