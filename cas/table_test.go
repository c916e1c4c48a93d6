package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
