package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// checkStoredRoundTrip encodes a record in the stored form and checks that
// decoding gives the same record back.
func checkStoredRoundTrip(t *testing.T, r Record) {
	t.Helper()
	b := encodeStoredRecord(nil, &r)
	got, ok := decodeStoredRecord(b)
	if !ok {
		t.Fatalf("decoding the stored form of %s failed", r.ID)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("stored form of %s decodes to\n%#v\nwant\n%#v", r.ID, got, r)
	}
}

func TestStoredRecordRoundTrip(t *testing.T) {
	for _, r := range genRecords(200, 11) {
		checkStoredRoundTrip(t, r)
	}
	empty := Record{
		ID:               "A-1",
		Aliases:          []string{},
		Severity:         []Severity{},
		Affected:         []Affected{{Ranges: []Range{{Events: []Event{}}}, Versions: []string{}, EcosystemSpecific: json.RawMessage{}}},
		References:       []Reference{},
		Credits:          []json.RawMessage{json.RawMessage(`null`)},
		DatabaseSpecific: map[string]json.RawMessage{},
	}
	checkStoredRoundTrip(t, empty)
	checkStoredRoundTrip(t, Record{ID: "A-2", Summary: "caf\xc3\xa9 \"quoted\" \\ back"})
}

func TestStoredRecordDeterministic(t *testing.T) {
	r := Record{ID: "A-1", DatabaseSpecific: map[string]json.RawMessage{
		"b": json.RawMessage(`1`), "a": json.RawMessage(`2`), "c": json.RawMessage(`3`),
	}}
	first := encodeStoredRecord(nil, &r)
	for range 20 {
		if b := encodeStoredRecord(nil, &r); !bytes.Equal(b, first) {
			t.Fatalf("two encodings of one record differ:\n%x\n%x", first, b)
		}
	}
}

func TestStoredRecordRejectsDamage(t *testing.T) {
	r := genRecords(1, 5)[0]
	b := encodeStoredRecord(nil, &r)
	for n := range len(b) {
		if _, ok := decodeStoredRecord(b[:n]); ok {
			t.Fatalf("a stored record cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if _, ok := decodeStoredRecord(append(bytes.Clone(b), 0)); ok {
		t.Error("a stored record with a trailing byte decoded")
	}
	if _, err := decodeRecordValue([]byte{storedRecordTag, 0xff}); !errors.Is(err, errdef.ErrInvalidRecord) {
		t.Errorf("decodeRecordValue of a damaged value: %v; want ErrInvalidRecord", err)
	}
}

func TestStoredTombstoneFlag(t *testing.T) {
	live := Record{ID: "A-1"}
	removed := Record{ID: "A-2", DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(`{"tombstone":true}`)}}
	if tomb, known := storedTombstone(encodeStoredRecord(nil, &live)); !known || tomb {
		t.Errorf("storedTombstone of a live record = %v, %v; want false, true", tomb, known)
	}
	if tomb, known := storedTombstone(encodeStoredRecord(nil, &removed)); !known || !tomb {
		t.Errorf("storedTombstone of a tombstone = %v, %v; want true, true", tomb, known)
	}
	if _, known := storedTombstone([]byte(`{"id":"A-3"}`)); known {
		t.Error("storedTombstone claims to know the state of a JSON value")
	}
	checkStoredRoundTrip(t, removed)
}

func TestRecordValueReadsJSON(t *testing.T) {
	line := []byte(`{"id":"GHSA-aaaa-bbbb-cccc","modified":"2026-01-01T00:00:00Z","summary":"old form"}`)
	r, err := decodeRecordValue(line)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "GHSA-aaaa-bbbb-cccc" || r.Summary != "old form" {
		t.Errorf("decodeRecordValue of a JSON value = %+v", r)
	}
}

// TestIndexStoresBinaryRecords checks that IndexLayer stores records in the
// binary form and that lookups read them back unchanged.
func TestIndexStoresBinaryRecords(t *testing.T) {
	recs := genRecords(50, 9)
	l, err := newLayer(recs, LayerBase, "mixed", "codec test")
	if err != nil {
		t.Fatal(err)
	}
	st := kv.NewMemory()
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}

	v, err := st.Get(recKey(l.Descriptor.Digest, recs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != storedRecordTag {
		t.Fatalf("record value starts with %q; want the binary form", v[0])
	}

	db, err := Open(st, nil, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Lookup(recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("Lookup(%s) = %+v; want %+v", recs[0].ID, got, want)
	}
}

func FuzzStoredRecordRoundTrip(f *testing.F) {
	addSeeds(f, "osv")
	addSeeds(f, "ghsa")
	f.Add([]byte(buildLine))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if json.Unmarshal(b, &r) != nil {
			return
		}
		checkStoredRoundTrip(t, r)
	})
}

func FuzzDecodeStoredRecord(f *testing.F) {
	for _, r := range genRecords(20, 3) {
		f.Add(encodeStoredRecord(nil, &r))
	}
	f.Add([]byte{storedRecordTag})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := decodeStoredRecord(b)
		if !ok {
			return
		}
		// Whatever decodes must survive another round trip unchanged.
		checkStoredRoundTrip(t, r)
	})
}
