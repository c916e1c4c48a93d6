package vulndb

import (
	"encoding/binary"
	"errors"
)

// pkgAffected is the part of one affected entry that a package index value
// stores, enough to match a queried version without reading and decoding
// the whole record.
type pkgAffected struct {
	// Ecosystem is the entry's full ecosystem, with any ":release" suffix.
	Ecosystem string
	Ranges    []pkgRange
	Versions  []string
	// versionsOrder names the version order of parsedVersions, which holds
	// each of Versions parsed in that order, nil where it is not valid
	// there. Both are empty until a lookup prepares the entry, and stay
	// empty in an ecosystem whose order is not known.
	versionsOrder  string
	parsedVersions []any
}

// pkgRange is a SEMVER or ECOSYSTEM range of an affected entry. GIT ranges
// are left out because they name commits, which version lookups skip.
type pkgRange struct {
	Type   string
	Events []Event
	// order names the version order of parsed, which holds each event's
	// version parsed in that order, nil where the version is not valid
	// there or is the introduced "0". Both are empty until a lookup
	// prepares the range.
	order  string
	parsed []any
}

// Range types and event kinds in the encoded package value.
const (
	pkgRangeSemver    = 1
	pkgRangeEcosystem = 2

	pkgEventIntroduced   = 0
	pkgEventLastAffected = 1
	pkgEventFixed        = 2
	pkgEventLimit        = 3
)

func newPkgAffected(a *Affected) pkgAffected {
	p := pkgAffected{Ecosystem: a.Package.Ecosystem, Versions: a.Versions}
	for _, rg := range a.Ranges {
		if rg.Type == "SEMVER" || rg.Type == "ECOSYSTEM" {
			p.Ranges = append(p.Ranges, pkgRange{Type: rg.Type, Events: rg.Events})
		}
	}
	return p
}

// encodePkgValue encodes affected entries in the binary form of a package
// index value. Every count and string length is a uvarint:
//
//	value   = count entry*
//	entry   = string(ecosystem) count string(version)* count range*
//	range   = type(1 byte: 1 SEMVER, 2 ECOSYSTEM) count event*
//	event   = kind(1 byte: 0 introduced, 1 last_affected, 2 fixed, 3 limit) string(version)
//
// A binary form skips the reflection and validation passes of
// encoding/json, which matters because a popular package has hundreds of
// candidate records per lookup.
func encodePkgValue(entries []pkgAffected) []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		str(e.Ecosystem)
		b = binary.AppendUvarint(b, uint64(len(e.Versions)))
		for _, v := range e.Versions {
			str(v)
		}
		b = binary.AppendUvarint(b, uint64(len(e.Ranges)))
		for _, rg := range e.Ranges {
			t := byte(pkgRangeSemver)
			if rg.Type == "ECOSYSTEM" {
				t = pkgRangeEcosystem
			}
			b = append(b, t)
			var evs []Event
			for _, ev := range rg.Events {
				if ev != (Event{}) {
					evs = append(evs, ev)
				}
			}
			b = binary.AppendUvarint(b, uint64(len(evs)))
			for _, ev := range evs {
				switch {
				case ev.Introduced != "":
					b = append(b, pkgEventIntroduced)
					str(ev.Introduced)
				case ev.LastAffected != "":
					b = append(b, pkgEventLastAffected)
					str(ev.LastAffected)
				case ev.Fixed != "":
					b = append(b, pkgEventFixed)
					str(ev.Fixed)
				default:
					b = append(b, pkgEventLimit)
					str(ev.Limit)
				}
			}
		}
	}
	return b
}

var errPkgValue = errors.New("malformed package index value")

// pkgDecoder reads the encoding of encodePkgValue.
type pkgDecoder struct {
	b   []byte
	err error
}

func (d *pkgDecoder) uvarint() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// No count or length can exceed the bytes that remain.
	if n <= 0 || v > uint64(len(d.b)) {
		d.err = errPkgValue
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *pkgDecoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errPkgValue
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *pkgDecoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > len(d.b) {
		d.err = errPkgValue
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodePkgValue decodes a package index value.
func decodePkgValue(b []byte) ([]pkgAffected, error) {
	d := &pkgDecoder{b: b}
	entries := make([]pkgAffected, d.uvarint())
	for i := range entries {
		e := &entries[i]
		e.Ecosystem = d.string()
		if n := d.uvarint(); n > 0 {
			e.Versions = make([]string, n)
			for j := range e.Versions {
				e.Versions[j] = d.string()
			}
		}
		if n := d.uvarint(); n > 0 {
			e.Ranges = make([]pkgRange, n)
			for j := range e.Ranges {
				rg := &e.Ranges[j]
				switch d.byte() {
				case pkgRangeSemver:
					rg.Type = "SEMVER"
				case pkgRangeEcosystem:
					rg.Type = "ECOSYSTEM"
				default:
					d.err = errPkgValue
				}
				rg.Events = make([]Event, d.uvarint())
				for k := range rg.Events {
					kind, v := d.byte(), d.string()
					if v == "" {
						// encodePkgValue leaves out events without a version.
						d.err = errPkgValue
					}
					switch kind {
					case pkgEventIntroduced:
						rg.Events[k].Introduced = v
					case pkgEventLastAffected:
						rg.Events[k].LastAffected = v
					case pkgEventFixed:
						rg.Events[k].Fixed = v
					case pkgEventLimit:
						rg.Events[k].Limit = v
					default:
						d.err = errPkgValue
					}
				}
			}
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errPkgValue
	}
	return entries, d.err
}
