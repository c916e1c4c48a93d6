package vulndb

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"unsafe"

	"stella-ops.org/ouk/internal/errdef"
)

// storedRecordTag is the first byte of a record value in the binary form
// that IndexLayer stores. A JSON value starts with '{' instead, so values
// written by earlier versions still decode.
const storedRecordTag = 0x01

// storedTombstoneFlag marks a tombstone in the flags byte of the binary
// form, so a lookup skips a removed record without decoding it.
const storedTombstoneFlag = 0x01

// encodeStoredRecord appends the binary form of a record to b. The form
// starts with storedRecordTag and a flags byte (storedTombstoneFlag), then
// lists the fields in a fixed order. A string is its length and bytes. A
// slice, map or raw JSON value is its length plus one, or zero for nil, so
// a decoded record equals the encoded one, nil and empty values included.
// Map keys are written in sorted order, so the bytes are deterministic.
func encodeStoredRecord(b []byte, r *Record) []byte {
	return appendStoredRecord(b, r, r.Tombstone())
}

// appendStoredRecord is encodeStoredRecord with the record's tombstone
// flag already read.
func appendStoredRecord(b []byte, r *Record, tombstone bool) []byte {
	var flags byte
	if tombstone {
		flags |= storedTombstoneFlag
	}
	b = append(b, storedRecordTag, flags)
	for _, s := range []string{r.SchemaVersion, r.ID, r.Modified, r.Published, r.Withdrawn} {
		b = appendString(b, s)
	}
	b = appendStrings(b, r.Aliases)
	b = appendStrings(b, r.Upstream)
	b = appendStrings(b, r.Related)
	b = appendString(b, r.Summary)
	b = appendString(b, r.Details)
	b = appendSeverities(b, r.Severity)

	b = appendCount(b, r.Affected == nil, len(r.Affected))
	for i := range r.Affected {
		a := &r.Affected[i]
		b = appendString(b, a.Package.Ecosystem)
		b = appendString(b, a.Package.Name)
		b = appendString(b, a.Package.PURL)
		b = appendSeverities(b, a.Severity)
		b = appendCount(b, a.Ranges == nil, len(a.Ranges))
		for j := range a.Ranges {
			rg := &a.Ranges[j]
			b = appendString(b, rg.Type)
			b = appendString(b, rg.Repo)
			b = appendCount(b, rg.Events == nil, len(rg.Events))
			for _, e := range rg.Events {
				b = appendString(b, e.Introduced)
				b = appendString(b, e.Fixed)
				b = appendString(b, e.LastAffected)
				b = appendString(b, e.Limit)
			}
			b = appendRaw(b, rg.DatabaseSpecific)
		}
		b = appendStrings(b, a.Versions)
		b = appendRaw(b, a.EcosystemSpecific)
		b = appendRaw(b, a.DatabaseSpecific)
	}

	b = appendCount(b, r.References == nil, len(r.References))
	for _, ref := range r.References {
		b = appendString(b, ref.Type)
		b = appendString(b, ref.URL)
	}
	b = appendCount(b, r.Credits == nil, len(r.Credits))
	for _, c := range r.Credits {
		b = appendRaw(b, c)
	}

	b = appendCount(b, r.DatabaseSpecific == nil, len(r.DatabaseSpecific))
	keys := make([]string, 0, len(r.DatabaseSpecific))
	for k := range r.DatabaseSpecific {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendRaw(b, r.DatabaseSpecific[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendCount writes a length plus one, or zero for a nil value.
func appendCount(b []byte, isNil bool, n int) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendStrings(b []byte, list []string) []byte {
	b = appendCount(b, list == nil, len(list))
	for _, s := range list {
		b = appendString(b, s)
	}
	return b
}

func appendSeverities(b []byte, list []Severity) []byte {
	b = appendCount(b, list == nil, len(list))
	for _, s := range list {
		b = appendString(b, s.Type)
		b = appendString(b, s.Score)
	}
	return b
}

func appendRaw(b []byte, raw json.RawMessage) []byte {
	b = appendCount(b, raw == nil, len(raw))
	return append(b, raw...)
}

// decodeStoredRecord decodes a value that encodeStoredRecord wrote, or
// reports ok false. The caller hands b over and never modifies it again:
// the record's strings and raw values share b's memory.
func decodeStoredRecord(b []byte) (r Record, ok bool) {
	if len(b) == 0 || b[0] != storedRecordTag {
		return Record{}, false
	}
	if len(b) < 2 || b[1]&^storedTombstoneFlag != 0 {
		return Record{}, false
	}
	d := &storedDecoder{b: b, i: 2}
	r.SchemaVersion = d.string()
	r.ID = d.string()
	r.Modified = d.string()
	r.Published = d.string()
	r.Withdrawn = d.string()
	r.Aliases = d.strings()
	r.Upstream = d.strings()
	r.Related = d.strings()
	r.Summary = d.string()
	r.Details = d.string()
	r.Severity = d.severities()

	if n, isNil := d.count(); !isNil {
		r.Affected = make([]Affected, n)
		for i := range r.Affected {
			d.affected(&r.Affected[i])
		}
	}
	if n, isNil := d.count(); !isNil {
		r.References = make([]Reference, n)
		for i := range r.References {
			r.References[i] = Reference{Type: d.string(), URL: d.string()}
		}
	}
	if n, isNil := d.count(); !isNil {
		r.Credits = make([]json.RawMessage, n)
		for i := range r.Credits {
			r.Credits[i] = d.raw()
		}
	}
	if n, isNil := d.count(); !isNil {
		r.DatabaseSpecific = make(map[string]json.RawMessage, n)
		for range n {
			k := d.string()
			r.DatabaseSpecific[k] = d.raw()
		}
	}

	if d.failed || d.i != len(b) {
		return Record{}, false
	}
	return r, true
}

// storedTombstone reports whether a record value is a tombstone, read from
// the flags of the binary form without decoding the record. known is false
// for a value in the JSON form.
func storedTombstone(v []byte) (tombstone, known bool) {
	if len(v) < 2 || v[0] != storedRecordTag {
		return false, false
	}
	return v[1]&storedTombstoneFlag != 0, true
}

// decodeRecordValue decodes a record value of the lookup index, in the
// binary form or in the JSON form that earlier versions stored. The caller
// hands v over, or uses the record only while v is unchanged, because the
// record shares v's memory.
func decodeRecordValue(v []byte) (Record, error) {
	if len(v) == 0 || v[0] != storedRecordTag {
		return decodeLineOwned(v)
	}
	r, ok := decodeStoredRecord(v)
	if !ok || !validID(r.ID) {
		return Record{}, fmt.Errorf("the stored record is malformed; import the kit again to rebuild the index: %w", errdef.ErrInvalidRecord)
	}
	return r, nil
}

// storedDecoder is a cursor over a stored record. failed is set at the
// first malformed input, and every method then returns zero values.
type storedDecoder struct {
	b      []byte
	i      int
	failed bool
}

func (d *storedDecoder) uvarint() uint64 {
	if d.failed {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.failed = true
		return 0
	}
	d.i += n
	return v
}

// count reads a length written by appendCount. Every element takes at
// least one byte, so a length above the bytes left fails, and a damaged
// value cannot make the decoder allocate much.
func (d *storedDecoder) count() (n int, isNil bool) {
	v := d.uvarint()
	if d.failed || v == 0 {
		return 0, true
	}
	if v-1 > uint64(len(d.b)-d.i) {
		d.failed = true
		return 0, true
	}
	return int(v - 1), false
}

// bytes returns the next n bytes, or fails when fewer are left.
func (d *storedDecoder) bytes(n uint64) []byte {
	if d.failed || n > uint64(len(d.b)-d.i) {
		d.failed = true
		return nil
	}
	s := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *storedDecoder) string() string {
	s := d.bytes(d.uvarint())
	if len(s) == 0 {
		return ""
	}
	return unsafe.String(&s[0], len(s))
}

func (d *storedDecoder) strings() []string {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *storedDecoder) severities() []Severity {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	out := make([]Severity, n)
	for i := range out {
		out[i] = Severity{Type: d.string(), Score: d.string()}
	}
	return out
}

func (d *storedDecoder) raw() json.RawMessage {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	return json.RawMessage(d.bytes(uint64(n)))
}

func (d *storedDecoder) affected(a *Affected) {
	a.Package = Package{Ecosystem: d.string(), Name: d.string(), PURL: d.string()}
	a.Severity = d.severities()
	if n, isNil := d.count(); !isNil {
		a.Ranges = make([]Range, n)
		for i := range a.Ranges {
			rg := &a.Ranges[i]
			rg.Type = d.string()
			rg.Repo = d.string()
			if m, isNil := d.count(); !isNil {
				rg.Events = make([]Event, m)
				for j := range rg.Events {
					rg.Events[j] = Event{Introduced: d.string(), Fixed: d.string(), LastAffected: d.string(), Limit: d.string()}
				}
			}
			rg.DatabaseSpecific = d.raw()
		}
	}
	a.Versions = d.strings()
	a.EcosystemSpecific = d.raw()
	a.DatabaseSpecific = d.raw()
}
