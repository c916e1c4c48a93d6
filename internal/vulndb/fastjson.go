package vulndb

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// decodeRecordFast decodes a layer line in the shape Build writes without
// the reflection and validation passes of encoding/json, which cost most
// of the time of a purl lookup that returns many records. It reports ok
// false, and the caller falls back to encoding/json, on anything it does
// not handle in exactly the way encoding/json would. Such input includes
// null where a string, array or object field is expected, duplicate keys,
// keys that match a field only when case is folded, strings with escapes
// or invalid UTF-8, and input that is not valid JSON. So when ok is true,
// the record equals what json.Unmarshal returns for the same bytes.
func decodeRecordFast(b []byte) (r Record, ok bool) {
	d := newFastDecoder(b, string(b), nil)
	defer d.release()
	return decodeRecordFastFrom(d)
}

// decodeRecordFastOwned is decodeRecordFast for a buffer that the caller
// hands over and never modifies again: the record's strings and raw values
// share b's memory instead of copying it.
func decodeRecordFastOwned(b []byte) (r Record, ok bool) {
	if len(b) == 0 {
		return Record{}, false
	}
	d := newFastDecoder(b, unsafe.String(&b[0], len(b)), b)
	defer d.release()
	return decodeRecordFastFrom(d)
}

// fastDecoders holds decoders for reuse. A decoder takes about 800 bytes,
// and indexing a layer decodes two values per record: without reuse the
// decoders were a quarter of the bytes a full import allocates.
var fastDecoders = sync.Pool{New: func() any { return new(fastDecoder) }}

// newFastDecoder returns a decoder over b, with s and own as fastDecoder
// describes them. The caller calls release when done with it; nothing
// decoded refers to the decoder itself.
func newFastDecoder(b []byte, s string, own []byte) *fastDecoder {
	d := fastDecoders.Get().(*fastDecoder)
	d.b, d.s, d.own = b, s, own
	d.keys = d.keyBuf[:0]
	return d
}

// release clears the decoder, so that the pool keeps no input alive, and
// returns it to the pool.
func (d *fastDecoder) release() {
	*d = fastDecoder{}
	fastDecoders.Put(d)
}

func decodeRecordFastFrom(d *fastDecoder) (r Record, ok bool) {
	d.record(&r)
	d.space()
	if d.failed || d.i != len(d.b) {
		return Record{}, false
	}
	return r, true
}

// fastDecoder is a cursor over JSON bytes. failed is set at the first
// input the fast path does not handle, and every method then does nothing.
type fastDecoder struct {
	b      []byte
	i      int
	depth  int
	failed bool
	// s is b as a string, when set: decoded strings without escapes are
	// substrings of it, which saves an allocation per string.
	s string
	// own is a copy of b, made at the first raw value; raw values are
	// slices of it, which saves an allocation per value.
	own []byte
	// keys holds the keys of the objects being decoded, innermost last.
	keys [][]byte
	// keyBuf backs keys, so that the keys of a record's nested objects
	// fit without growing the slice.
	keyBuf [32][]byte
	// configs receives the NVD configurations that configurations decodes.
	configs *configBuffers
}

// maxFastDepth bounds the nesting of values the fast path skips, well
// below the limit of encoding/json, so deep input goes to encoding/json.
const maxFastDepth = 100

func (d *fastDecoder) fail() { d.failed = true }

func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips white space and then the byte c, or fails.
func (d *fastDecoder) consume(c byte) bool {
	d.space()
	if d.failed || d.i >= len(d.b) || d.b[d.i] != c {
		d.fail()
		return false
	}
	d.i++
	return true
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *fastDecoder) peek() byte {
	d.space()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

// object calls field for every member of an object, with the decoder
// positioned at the member's value; field must consume the value. A key
// that appears twice fails, because encoding/json merges repeated members
// in ways the fast path does not copy.
func (d *fastDecoder) object(field func(key []byte)) {
	if !d.consume('{') {
		return
	}
	if d.peek() == '}' {
		d.i++
		return
	}
	base := len(d.keys)
	defer func() { d.keys = d.keys[:base] }()
	for !d.failed {
		key, ok := d.rawString()
		if !ok {
			d.fail()
			return
		}
		for _, k := range d.keys[base:] {
			if bytes.Equal(k, key) {
				d.fail()
				return
			}
		}
		d.keys = append(d.keys, key)
		if !d.consume(':') {
			return
		}
		field(key)
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return
		default:
			d.fail()
		}
	}
}

// array calls elem for every element of an array; elem must consume it.
// An empty array yields n 0 with empty true, so callers can make the empty
// non-nil slice encoding/json makes.
func (d *fastDecoder) array(elem func()) {
	if !d.consume('[') {
		return
	}
	if d.peek() == ']' {
		d.i++
		return
	}
	for !d.failed {
		elem()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return
		default:
			d.fail()
		}
	}
}

// rawString returns the bytes between the quotes of a string without
// escapes, control characters or invalid UTF-8, or ok false.
func (d *fastDecoder) rawString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	end := bytes.IndexByte(d.b[start:], '"')
	if end < 0 {
		return nil, false
	}
	s := d.b[start : start+end]
	plain, ascii := plainString(s)
	if !plain || (!ascii && !utf8.Valid(s)) {
		return nil, false
	}
	d.i = start + end + 1
	return s, true
}

// Masks of plainString's word-at-a-time test.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// plainString reports whether a string body contains neither a backslash
// nor a control character, so it needs no unescaping, and whether it is
// all ASCII. It tests eight bytes at a time and looks at single bytes only
// in words that may contain one of those.
func plainString(s []byte) (plain, ascii bool) {
	ascii = true
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		if x&highBits != 0 {
			ascii = false
		}
		// The usual word tests: any byte below 0x20, and any zero byte of
		// bs, that is any backslash in x. They tell whether a word has
		// such a byte, not which one, so a hit is checked byte by byte.
		bs := x ^ ('\\' * lowBits)
		if ((x-0x20*lowBits)&^x|(bs-lowBits)&^bs)&highBits != 0 {
			for _, c := range s[i : i+8] {
				if c < 0x20 || c == '\\' {
					return false, ascii
				}
			}
		}
	}
	for _, c := range s[i:] {
		if c < 0x20 || c == '\\' {
			return false, ascii
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return true, ascii
}

// string decodes a string value. A string with escapes or invalid UTF-8
// is decoded by encoding/json.
func (d *fastDecoder) string() string {
	d.space()
	start := d.i
	if s, ok := d.rawString(); ok {
		if d.s == "" {
			return string(s)
		}
		end := d.i - 1 // the closing quote
		return d.s[end-len(s) : end]
	}
	if d.failed {
		return ""
	}
	d.failed = false
	d.i = start
	raw := d.value()
	var s string
	if d.failed || json.Unmarshal(raw, &s) != nil {
		d.fail()
	}
	return s
}

func (d *fastDecoder) strings() []string {
	out := []string{}
	d.array(func() { out = append(out, d.string()) })
	return out
}

// rawValue returns a copy of the bytes of the next value, as
// json.RawMessage holds them.
func (d *fastDecoder) rawValue() json.RawMessage {
	v := d.value()
	if d.failed {
		return nil
	}
	if d.own == nil {
		d.own = bytes.Clone(d.b)
	}
	// The capacity ends with the value, so appending to one raw value
	// never writes over the next.
	return d.own[d.i-len(v) : d.i : d.i]
}

// value skips one JSON value, checking its syntax, and returns its bytes.
func (d *fastDecoder) value() []byte {
	d.space()
	start := d.i
	if d.i >= len(d.b) {
		d.fail()
		return nil
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxFastDepth {
		d.fail()
		return nil
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.object(func([]byte) { d.value() })
	case c == '[':
		d.array(func() { d.value() })
	case c == '"':
		d.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	default:
		d.literal()
	}
	if d.failed {
		return nil
	}
	return d.b[start:d.i]
}

// skipString skips a string value, checking its escapes.
func (d *fastDecoder) skipString() {
	d.i++ // opening quote
	if end := bytes.IndexByte(d.b[d.i:], '"'); end >= 0 {
		if plain, _ := plainString(d.b[d.i : d.i+end]); plain {
			d.i += end + 1
			return
		}
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return
		case c < 0x20:
			d.fail()
			return
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				d.fail()
				return
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if d.i+5 > len(d.b) {
					d.fail()
					return
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !isHex(h) {
						d.fail()
						return
					}
				}
				d.i += 5
			default:
				d.fail()
				return
			}
		default:
			d.i++
		}
	}
	d.fail()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number skips a number, checking the JSON number grammar.
func (d *fastDecoder) number() {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		d.fail()
		return
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			d.fail()
			return
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			d.fail()
		}
	}
}

// literal skips true, false or null.
func (d *fastDecoder) literal() {
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
			d.i += len(lit)
			return
		}
	}
	d.fail()
}

// unknown skips the value of a key that names no field. A key that names
// a field only when case is folded fails, because encoding/json would
// decode it into that field.
func (d *fastDecoder) unknown(key []byte, fields ...string) {
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			d.fail()
			return
		}
	}
	d.value()
}

var recordFields = []string{"schema_version", "id", "modified", "published", "withdrawn", "aliases",
	"upstream", "related", "summary", "details", "severity", "affected", "references", "credits",
	"database_specific"}

func (d *fastDecoder) record(r *Record) {
	d.object(func(key []byte) {
		switch string(key) {
		case "schema_version":
			r.SchemaVersion = d.string()
		case "id":
			r.ID = d.string()
		case "modified":
			r.Modified = d.string()
		case "published":
			r.Published = d.string()
		case "withdrawn":
			r.Withdrawn = d.string()
		case "aliases":
			r.Aliases = d.strings()
		case "upstream":
			r.Upstream = d.strings()
		case "related":
			r.Related = d.strings()
		case "summary":
			r.Summary = d.string()
		case "details":
			r.Details = d.string()
		case "severity":
			r.Severity = d.severities()
		case "affected":
			r.Affected = []Affected{}
			d.array(func() {
				var a Affected
				d.affected(&a)
				r.Affected = append(r.Affected, a)
			})
		case "references":
			r.References = []Reference{}
			d.array(func() {
				var ref Reference
				d.object(func(key []byte) {
					switch string(key) {
					case "type":
						ref.Type = d.string()
					case "url":
						ref.URL = d.string()
					default:
						d.unknown(key, "type", "url")
					}
				})
				r.References = append(r.References, ref)
			})
		case "credits":
			r.Credits = []json.RawMessage{}
			d.array(func() { r.Credits = append(r.Credits, d.rawValue()) })
		case "database_specific":
			r.DatabaseSpecific = map[string]json.RawMessage{}
			d.object(func(key []byte) { r.DatabaseSpecific[string(key)] = d.rawValue() })
		default:
			d.unknown(key, recordFields...)
		}
	})
}

func (d *fastDecoder) severities() []Severity {
	out := []Severity{}
	d.array(func() {
		var s Severity
		d.object(func(key []byte) {
			switch string(key) {
			case "type":
				s.Type = d.string()
			case "score":
				s.Score = d.string()
			default:
				d.unknown(key, "type", "score")
			}
		})
		out = append(out, s)
	})
	return out
}

var affectedFields = []string{"package", "severity", "ranges", "versions", "ecosystem_specific",
	"database_specific"}

func (d *fastDecoder) affected(a *Affected) {
	d.object(func(key []byte) {
		switch string(key) {
		case "package":
			d.object(func(key []byte) {
				switch string(key) {
				case "ecosystem":
					a.Package.Ecosystem = d.string()
				case "name":
					a.Package.Name = d.string()
				case "purl":
					a.Package.PURL = d.string()
				default:
					d.unknown(key, "ecosystem", "name", "purl")
				}
			})
		case "severity":
			a.Severity = d.severities()
		case "ranges":
			a.Ranges = []Range{}
			d.array(func() {
				var rg Range
				d.rangeValue(&rg)
				a.Ranges = append(a.Ranges, rg)
			})
		case "versions":
			a.Versions = d.strings()
		case "ecosystem_specific":
			a.EcosystemSpecific = d.rawValue()
		case "database_specific":
			a.DatabaseSpecific = d.rawValue()
		default:
			d.unknown(key, affectedFields...)
		}
	})
}

func (d *fastDecoder) rangeValue(rg *Range) {
	d.object(func(key []byte) {
		switch string(key) {
		case "type":
			rg.Type = d.string()
		case "repo":
			rg.Repo = d.string()
		case "events":
			rg.Events = []Event{}
			d.array(func() {
				var ev Event
				d.object(func(key []byte) {
					switch string(key) {
					case "introduced":
						ev.Introduced = d.string()
					case "fixed":
						ev.Fixed = d.string()
					case "last_affected":
						ev.LastAffected = d.string()
					case "limit":
						ev.Limit = d.string()
					default:
						d.unknown(key, "introduced", "fixed", "last_affected", "limit")
					}
				})
				rg.Events = append(rg.Events, ev)
			})
		case "database_specific":
			rg.DatabaseSpecific = d.rawValue()
		default:
			d.unknown(key, "type", "repo", "events", "database_specific")
		}
	})
}

// tombstoneFast reads the tombstone flag from the raw value of
// database_specific.stellaops without decoding its sources, or reports ok
// false when the value needs encoding/json.
func tombstoneFast(raw []byte) (tombstone, ok bool) {
	tombstone, _, ok = stellaopsFast(raw, false, nil)
	return tombstone, ok
}

// boolean decodes true or false; anything else, null included, fails.
func (d *fastDecoder) boolean() bool {
	switch v := d.value(); string(v) {
	case "true":
		return true
	case "false":
		return false
	}
	d.fail()
	return false
}

// ignore skips the value of a key that the caller does not decode: one
// of fields, which it skips, or an unknown key, which unknown handles.
func (d *fastDecoder) ignore(key []byte, fields ...string) {
	for _, f := range fields {
		if string(key) == f {
			d.value()
			return
		}
	}
	d.unknown(key, fields...)
}

var extraFields = []string{"tombstone", "sources", "cwe_ids", "nvd_configurations"}

// stellaopsFast reads the raw value of database_specific.stellaops in one
// pass: the tombstone flag and, with configs set, the NVD configurations
// with their operators, negate flags and CPE match criteria. It skips the
// other members without decoding them, and reports ok false when the value
// needs encoding/json. The criteria share raw's memory, so raw must not
// change while they are in use. Indexing calls it for every record.
//
// The configurations are appended to buf's arrays, or to new ones when buf
// is nil. They share those arrays, so they are valid until the caller
// resets buf.
func stellaopsFast(raw []byte, configs bool, buf *configBuffers) (tombstone bool, out []nvdConfig, ok bool) {
	if len(raw) == 0 {
		return false, nil, false
	}
	d := newFastDecoder(raw, unsafe.String(&raw[0], len(raw)), raw)
	d.configs = buf
	defer d.release()
	d.object(func(key []byte) {
		switch {
		case string(key) == "tombstone":
			switch v := d.value(); string(v) {
			case "true":
				tombstone = true
			case "false":
				tombstone = false
			default:
				d.fail()
			}
		case string(key) != "nvd_configurations" || !configs:
			d.ignore(key, extraFields...)
		case d.peek() == 'n':
			// null leaves the configurations empty, as encoding/json does.
			d.literal()
		default:
			out = d.configurations()
		}
	})
	d.space()
	if d.failed || d.i != len(d.b) {
		return false, nil, false
	}
	return tombstone, out, true
}

// configBuffers contains the arrays that the fast reader decodes NVD
// configurations into: every configuration, node and CPE match criterion
// of a record, in order. Indexing reuses one set from record to record, so
// that the configurations cost no allocation per record once the arrays
// have grown.
type configBuffers struct {
	configs []nvdConfig
	nodes   []nvdNode
	matches []nvdCPEMatch
}

// reset empties the buffers for the next record. Configurations decoded
// into them before are invalid afterwards.
func (b *configBuffers) reset() {
	b.configs, b.nodes, b.matches = b.configs[:0], b.nodes[:0], b.matches[:0]
}

// tail returns s[start:] with its capacity cut to its length, so that an
// append to it cannot overwrite what follows, and an empty non-nil slice
// when it is empty, as encoding/json makes for an empty array. The
// elements of one array are contiguous in s because the arrays nested in
// them go to other buffers. When an append grows s, the slices returned
// before keep the old array, whose elements no later append changes.
func tail[T any](s []T, start int) []T {
	if len(s) == start {
		return []T{}
	}
	return s[start:len(s):len(s)]
}

// configurations decodes an NVD configurations array into d.configs,
// which it makes when it is nil.
func (d *fastDecoder) configurations() []nvdConfig {
	if d.configs == nil {
		d.configs = &configBuffers{}
	}
	buf := d.configs
	start := len(buf.configs)
	d.array(func() {
		var c nvdConfig
		d.object(func(key []byte) {
			if string(key) != "nodes" {
				d.operatorOrNegate(key, "nodes", &c.Operator, &c.Negate)
				return
			}
			c.Nodes = d.nodes()
		})
		buf.configs = append(buf.configs, c)
	})
	return tail(buf.configs, start)
}

// nodes decodes the nodes array of an NVD configuration into d.configs.
func (d *fastDecoder) nodes() []nvdNode {
	buf := d.configs
	start := len(buf.nodes)
	d.array(func() {
		var n nvdNode
		d.object(func(key []byte) {
			if string(key) != "cpeMatch" {
				d.operatorOrNegate(key, "cpeMatch", &n.Operator, &n.Negate)
				return
			}
			matchStart := len(buf.matches)
			d.array(func() {
				var m nvdCPEMatch
				d.cpeMatch(&m)
				buf.matches = append(buf.matches, m)
			})
			n.CPEMatch = tail(buf.matches, matchStart)
		})
		buf.nodes = append(buf.nodes, n)
	})
	return tail(buf.nodes, start)
}

// operatorOrNegate decodes the operator or negate member of an NVD
// configuration or node into operator or negate. Other types than
// encoding/json accepts there (a string or a boolean, or null, which
// leaves the value as it is) fail, and other keys go to unknown.
func (d *fastDecoder) operatorOrNegate(key []byte, list string, operator *string, negate *bool) {
	switch string(key) {
	case "operator":
		switch d.peek() {
		case 'n':
			d.literal()
		case '"':
			*operator = d.string()
		default:
			d.fail()
		}
	case "negate":
		switch v := d.value(); string(v) {
		case "true":
			*negate = true
		case "false":
			*negate = false
		case "null":
		default:
			d.fail()
		}
	default:
		d.unknown(key, "operator", "negate", list)
	}
}

var cpeMatchFields = []string{"vulnerable", "criteria", "versionStartIncluding", "versionStartExcluding",
	"versionEndIncluding", "versionEndExcluding"}

func (d *fastDecoder) cpeMatch(m *nvdCPEMatch) {
	d.object(func(key []byte) {
		switch string(key) {
		case "vulnerable":
			m.Vulnerable = d.boolean()
		case "criteria":
			m.Criteria = d.string()
		case "versionStartIncluding":
			m.VersionStartIncluding = d.string()
		case "versionStartExcluding":
			m.VersionStartExcluding = d.string()
		case "versionEndIncluding":
			m.VersionEndIncluding = d.string()
		case "versionEndExcluding":
			m.VersionEndExcluding = d.string()
		default:
			d.unknown(key, cpeMatchFields...)
		}
	})
}
