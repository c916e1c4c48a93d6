package vulndb

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// checkFastDecode fails when the fast decoder accepts b but its record
// differs from the one encoding/json decodes, or encoding/json rejects b.
func checkFastDecode(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := decodeRecordFast(b)
	if !ok {
		return false
	}
	var want Record
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("fast decoder accepted input that encoding/json rejects (%v): %q", err, b)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("fast decoder record differs from encoding/json for %q:\n got %#v\nwant %#v", b, fast, want)
	}
	return true
}

// buildLine is a layer line in the shape Build writes.
const buildLine = `{"schema_version":"1.6.0","id":"GHSA-35jh-r3h4-6jhm","modified":"2024-01-02T00:00:00Z",` +
	`"published":"2021-02-15T00:00:00Z","aliases":["CVE-2021-23337"],"related":[],` +
	`"summary":"Command injection in lodash","details":"Line one\nLine two — \"quoted\"",` +
	`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],` +
	`"affected":[{"package":{"ecosystem":"npm","name":"lodash","purl":"pkg:npm/lodash"},` +
	`"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}],"database_specific":{"x":1}}],` +
	`"versions":["4.17.20"],"ecosystem_specific":{"affected_functions":["template"]},"database_specific":{"source":"x"}}],` +
	`"references":[{"type":"WEB","url":"https://example.invalid/a"}],"credits":[{"name":"A"}],` +
	`"database_specific":{"stellaops":{"sources":[{"feed":"ghsa","id":"GHSA-35jh-r3h4-6jhm","modified":"2024-01-02T00:00:00Z"}],` +
	`"cwe_ids":["CWE-94"],"nvd_configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[]}]}]},"n":-1.5e3}}`

func TestDecodeRecordFastBuildLine(t *testing.T) {
	if !checkFastDecode(t, []byte(buildLine)) {
		t.Fatal("fast decoder rejected a line in the shape Build writes")
	}
}

func TestDecodeRecordFastFallback(t *testing.T) {
	cases := map[string]string{
		"null field":          `{"id":"A-1","summary":null}`,
		"duplicate key":       `{"id":"A-1","id":"A-2"}`,
		"case-folded key":     `{"ID":"A-1"}`,
		"trailing data":       `{"id":"A-1"} x`,
		"bad number":          `{"id":"A-1","x":01}`,
		"bad escape":          `{"id":"A-1","x":"\q"}`,
		"wrong type":          `{"id":1}`,
		"truncated":           `{"id":"A-1"`,
		"duplicate map key":   `{"id":"A-1","database_specific":{"a":1,"a":2}}`,
		"escaped key":         `{"\u0069d":"A-1"}`,
		"control character":   "{\"id\":\"A\t1\"}",
		"not an object":       `["A-1"]`,
		"too deep":            `{"id":"A-1","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		"bare minus":          `{"id":"A-1","x":-}`,
		"unterminated string": `{"id":"A-1`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if checkFastDecode(t, []byte(in)) {
				t.Errorf("fast decoder accepted %q; it must leave it to encoding/json", in)
			}
		})
	}
}

func TestDecodeRecordFastMatchesJSON(t *testing.T) {
	cases := []string{
		`{}`,
		` { "id" : "A-1" , "aliases" : [ ] , "affected" : [ ] } `,
		`{"id":"A-1","summary":"caf\u00e9 \ud83d\ude00","details":"tab\there"}`,
		`{"id":"A-1","summary":"café"}`,
		`{"id":"A-1","database_specific":{"a":null},"credits":[null],"x":null}`,
		`{"id":"A-1","affected":[{"ecosystem_specific":null,"database_specific":null}]}`,
		"{\"id\":\"A-1\",\"summary\":\"bad \xff utf8\"}",
		`{"id":"A-1","unknown":{"a":[1,2.5,-0.1e-2,true,false,"s\"q"]},"credits":[1,"x",{}]}`,
		`{"id":"A-1","affected":[{"package":{"ecosystem":"PyPI","name":"x","extra":1},"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"a","fixed":"b","last_affected":"c","limit":"d"}]}]}]}`,
	}
	for _, in := range cases {
		checkFastDecode(t, []byte(in))
	}
}

func TestDecodeRecordFastTestdata(t *testing.T) {
	for _, sub := range []string{"osv", "ghsa"} {
		dir := testdataDir(t, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			checkFastDecode(t, b)
		}
	}
}

func FuzzDecodeRecordFast(f *testing.F) {
	addSeeds(f, "osv")
	f.Add([]byte(buildLine))
	f.Add([]byte(`{"id":"A-1","database_specific":{"a":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastDecode(t, b)
	})
}

func TestTombstoneFast(t *testing.T) {
	cases := []string{
		`{"tombstone":true}`,
		`{"tombstone":false,"sources":[{"feed":"osv"}]}`,
		`{"sources":[{"feed":"osv"}],"cwe_ids":["CWE-1"]}`,
		`{}`,
		`{"Tombstone":true}`,
		`{"tombstone":null}`,
		`{"tombstone":"yes"}`,
		`{"tombstone":true,"sources":5}`,
		`[1]`,
		`{"tombstone":tru}`,
	}
	for _, in := range cases {
		r := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(in)}}
		var e Extra
		_ = json.Unmarshal([]byte(in), &e)
		if got := r.Tombstone(); got != e.Tombstone {
			t.Errorf("Tombstone() of %s = %v; encoding/json decodes %v", in, got, e.Tombstone)
		}
	}
	if _, ok := tombstoneFast([]byte(`{"tombstone":true,"sources":[]}`)); !ok {
		t.Error("tombstoneFast rejected a value in the shape Build writes")
	}
}

// TestDecodeOwnedSharesBuffer checks that an owned decode keeps raw values
// as slices of the given buffer and gives the same record as a copying one.
func TestDecodeOwnedSharesBuffer(t *testing.T) {
	line := []byte(`{"id":"GHSA-aaaa-bbbb-cccc","modified":"2026-01-01T00:00:00Z","database_specific":{"stellaops":{"tombstone":false}}}`)
	copied, err := decodeLine(bytes.Clone(line))
	if err != nil {
		t.Fatal(err)
	}
	owned, err := decodeLineOwned(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copied, owned) {
		t.Fatalf("owned decode = %+v, copying decode = %+v", owned, copied)
	}
	raw := owned.DatabaseSpecific[dbKey]
	if len(raw) == 0 || &raw[0] != &line[bytes.Index(line, []byte(`{"tombstone"`))] {
		t.Error("the owned decode copied a raw value instead of slicing the buffer")
	}
	if unsafe.StringData(owned.ID) != &line[bytes.Index(line, []byte("GHSA-"))] {
		t.Error("the owned decode copied a string instead of sharing the buffer")
	}
}

// plainStringBytewise is plainString one byte at a time, as the reference
// of the word-at-a-time version.
func plainStringBytewise(s []byte) (plain, ascii bool) {
	plain, ascii = true, true
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			plain = false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return plain, ascii
}

// checkPlainString compares plainString with the bytewise reference. The
// ascii result only counts for plain strings, because plainString stops at
// the first special byte.
func checkPlainString(t *testing.T, s []byte) {
	t.Helper()
	plain, ascii := plainString(s)
	wantPlain, wantASCII := plainStringBytewise(s)
	if plain != wantPlain || (plain && ascii != wantASCII) {
		t.Errorf("plainString(%q) = %v, %v; want %v, %v", s, plain, ascii, wantPlain, wantASCII)
	}
}

// TestPlainString puts each kind of byte at every position of strings
// shorter and longer than a word, so every lane of the word test is hit.
func TestPlainString(t *testing.T) {
	for _, c := range []byte{'\\', 0x00, 0x1f, 0x20, '"', 'a', 0x7f, 0x80, 0xc3, 0xff} {
		for n := 1; n <= 19; n++ {
			for i := range n {
				s := bytes.Repeat([]byte("x"), n)
				s[i] = c
				checkPlainString(t, s)
			}
		}
	}
	checkPlainString(t, nil)
	checkPlainString(t, []byte("caf\xc3\xa9 and more text \\n"))
}

func FuzzPlainString(f *testing.F) {
	addSeeds(f, "osv")
	f.Add([]byte("tab\there"))
	f.Fuzz(func(t *testing.T, s []byte) {
		checkPlainString(t, s)
	})
}

// TestFastDecodersReused checks that decoding reuses its decoders: reading
// the stellaops value of a record without CPE criteria, as indexing does
// for every record, allocates nothing, and a decode of a whole record
// allocates no more than its fields need.
func TestFastDecodersReused(t *testing.T) {
	raw := []byte(`{"tombstone":false,"sources":[{"feed":"osv","id":"A-1"}],"cwe_ids":["CWE-79"]}`)
	allocs := testing.AllocsPerRun(200, func() {
		if _, _, ok := stellaopsFast(raw, true, nil); !ok {
			t.Fatal("stellaopsFast rejected a value in the shape Build writes")
		}
	})
	if allocs != 0 {
		t.Errorf("reading a stellaops value allocated %v times per call, want 0", allocs)
	}

	line := []byte(`{"id":"A-1","modified":"2026-01-01T00:00:00Z"}`)
	allocs = testing.AllocsPerRun(200, func() {
		if _, ok := decodeRecordFastOwned(line); !ok {
			t.Fatal("the fast decoder rejected a plain record")
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a record of two strings in place allocated %v times per call, want 0", allocs)
	}
}
