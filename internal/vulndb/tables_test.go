package vulndb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// openCAS opens a Pebble store in a temporary folder.
func openCAS(t *testing.T) *cas.Store {
	t.Helper()
	s, err := cas.Open(t.TempDir(), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stageTables writes the pre-built tables of a layer and stages them in s.
func stageTables(t *testing.T, s *cas.Store, l ocispec.Descriptor, data []byte) []string {
	t.Helper()
	var paths []string
	err := LayerTables(context.Background(), l, bytes.NewReader(data), func(fill func(add func(k, v []byte) error) error) error {
		var buf bytes.Buffer
		if err := cas.WriteTable(&buf, "vulndb", fill); err != nil {
			return err
		}
		d := ocispec.Descriptor{Digest: digest.FromBytes(buf.Bytes()), Size: int64(buf.Len())}
		p, err := s.StageTable(context.Background(), d, bytes.NewReader(buf.Bytes()))
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// dump returns every key and value of a namespace as text.
func dump(t *testing.T, st kv.Store) string {
	t.Helper()
	var b strings.Builder
	err := st.Scan(nil, func(k, v []byte) error {
		fmt.Fprintf(&b, "%q=%x\n", k, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLayerTablesMatchIndexLayer(t *testing.T) {
	recs := genRecords(1500, 11)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "tables test")
	if err != nil {
		t.Fatal(err)
	}
	indexed := pebbleKV(t)
	if err := IndexLayer(context.Background(), indexed, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}

	s := openCAS(t)
	st := s.KV("vulndb")
	paths := stageTables(t, s, l.Descriptor, l.Data)
	if len(paths) < 3 {
		t.Fatalf("LayerTables wrote %d tables, want the records, some secondary keys and the filter", len(paths))
	}
	if err := IngestLayerTables(st, l.Descriptor.Digest, paths); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsIndexed(st, l.Descriptor.Digest); err != nil || !ok {
		t.Fatalf("IsIndexed after IngestLayerTables = %v, %v; want true", ok, err)
	}
	if got, want := dump(t, st), dump(t, indexed); got != want {
		t.Fatalf("the ingested tables contain other keys than IndexLayer writes (%d and %d bytes of dump)", len(got), len(want))
	}
}

func TestIngestLayerTablesRejectsStrayKeys(t *testing.T) {
	recs := genRecords(50, 3)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "tables test")
	if err != nil {
		t.Fatal(err)
	}
	other := digest.FromString("another layer")
	for name, k := range map[string][]byte{
		"another layer's records":  recKey(other, "GHSA-0000-0000-0000"),
		"a layer marker":           layerKey(l.Descriptor.Digest),
		"another layer's filter":   filterKey(other),
		"another layer's aliases":  key(prefixAlias, other.String(), "CVE-2024-0001", "GHSA-0000-0000-0000"),
		"another layer's packages": key(prefixPkg, other.String(), "npm", "left-pad", "GHSA-0000-0000-0000"),
		"another layer's CPEs":     key(prefixCPE, other.String(), "zlib:zlib", "CVE-2024-0001"),
	} {
		t.Run(name, func(t *testing.T) {
			s := openCAS(t)
			st := s.KV("vulndb")
			paths := stageTables(t, s, l.Descriptor, l.Data)
			var buf bytes.Buffer
			err := cas.WriteTable(&buf, "vulndb", func(add func(k, v []byte) error) error { return add(k, []byte("x")) })
			if err != nil {
				t.Fatal(err)
			}
			d := ocispec.Descriptor{Digest: digest.FromBytes(buf.Bytes()), Size: int64(buf.Len())}
			p, err := s.StageTable(context.Background(), d, bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			err = IngestLayerTables(st, l.Descriptor.Digest, append(paths, p))
			if !errors.Is(err, errdef.ErrInvalidKit) {
				t.Fatalf("IngestLayerTables with a table of %s: %v, want an invalid kit error", name, err)
			}
			if got := dump(t, st); got != "" {
				t.Fatalf("a rejected ingest left keys:\n%.300s", got)
			}
		})
	}
}
