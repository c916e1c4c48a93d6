package vulndb

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
	"stella-ops.org/ouk/oci"
)

// DB runs lookups over a stack of indexed layers. The newest layer that
// contains an ID decides, because its record replaces older ones and its
// tombstone hides them. A DB is safe for concurrent use. It reads only the
// keys of its own layers, which never change, so indexing other layers does
// not disturb it.
type DB struct {
	store  kv.Store
	config Config
	layers []ocispec.Descriptor // oldest first, DB layers only
	pos    map[string]int       // layer digest -> index in layers
}

// Status describes a DB for operators.
type Status struct {
	Schema     string         `json:"schema"`
	Created    time.Time      `json:"created"`
	Records    int            `json:"records"`
	Ecosystems map[string]int `json:"ecosystems"`
	Sources    []SourceInfo   `json:"sources"`
	// Layers is the stack, oldest first.
	Layers []LayerInfo `json:"layers"`
}

// Open returns the DB made of layers, oldest first, whose config blob is
// config. Every DB layer must be indexed already (see IndexLayer);
// otherwise Open fails with an error wrapping errdef.ErrNotFound.
// Descriptors of other media types are ignored.
func Open(store kv.Store, config []byte, layers []ocispec.Descriptor) (*DB, error) {
	db := &DB{store: store, pos: map[string]int{}}
	if len(config) > 0 {
		c, err := ParseConfig(config)
		if err != nil {
			return nil, err
		}
		db.config = c
	}
	for _, l := range layers {
		if l.MediaType != "" && l.MediaType != oci.MediaTypeDBLayer {
			continue
		}
		ok, err := IsIndexed(store, l.Digest)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("DB layer %s is not indexed; import the kit again to index it: %w",
				l.Digest, errdef.ErrNotFound)
		}
		db.pos[l.Digest.String()] = len(db.layers)
		db.layers = append(db.layers, l)
	}
	return db, nil
}

// Records returns the number of records in the DB, as its config states.
func (db *DB) Records() int { return db.config.Records }

// Status returns the DB's build time, sources, counts and layer stack.
func (db *DB) Status() Status {
	s := Status{Schema: db.config.Schema, Created: db.config.Created, Records: db.config.Records,
		Ecosystems: db.config.Ecosystems, Sources: db.config.Sources}
	for _, l := range db.layers {
		s.Layers = append(s.Layers, layerInfo(l.Digest.String(), l.Size, l.Annotations))
	}
	return s
}

// resolve returns the newest version of a record, or ok false when no
// layer has it or the newest entry is a tombstone.
func (db *DB) resolve(id string) (Record, bool, error) {
	for i := len(db.layers) - 1; i >= 0; i-- {
		v, err := db.store.Get(recKey(db.layers[i].Digest, id))
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err != nil {
			return Record{}, false, fmt.Errorf("reading record %s: %w", id, err)
		}
		r, err := decodeLine(v)
		if err != nil {
			return Record{}, false, fmt.Errorf("record %s in layer %s: %w", id, db.layers[i].Digest, err)
		}
		if r.Tombstone() {
			return Record{}, false, nil
		}
		return r, true, nil
	}
	return Record{}, false, nil
}

// candidates scans an index prefix and returns the record IDs found in
// layers of this DB, sorted.
func (db *DB) candidates(prefix []byte) ([]string, error) {
	seen := map[string]bool{}
	err := db.store.Scan(prefix, func(k, _ []byte) error {
		rest := strings.TrimSuffix(string(k[len(prefix):]), "\x00")
		layer, id, ok := strings.Cut(rest, "\x00")
		if !ok {
			return nil
		}
		if _, in := db.pos[layer]; in {
			seen[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning lookup index: %w", err)
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// collect resolves candidate IDs and keeps the records keep accepts.
func (db *DB) collect(ids []string, keep func(*Record) bool) ([]Record, error) {
	var out []Record
	for _, id := range ids {
		r, ok, err := db.resolve(id)
		if err != nil {
			return nil, err
		}
		if ok && keep(&r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Lookup returns the record whose ID or alias is id, ignoring case. A
// record is returned once even when several of its names match. A miss
// returns an error wrapping errdef.ErrNotFound.
func (db *DB) Lookup(id string) ([]Record, error) {
	id = strings.TrimSpace(id)
	want := aliasIndex(id)
	ids, err := db.candidates(key(prefixAlias, want))
	if err != nil {
		return nil, err
	}
	recs, err := db.collect(ids, func(r *Record) bool {
		// The newest version of a record may have dropped the alias.
		if aliasIndex(r.ID) == want {
			return true
		}
		for _, a := range r.Aliases {
			if aliasIndex(a) == want {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no record has ID or alias %q: %w", id, errdef.ErrNotFound)
	}
	return recs, nil
}

// LookupPURL returns the records that affect the package version a package
// URL names, sorted by ID, or none. A purl without a version matches every
// record that names the package. A purl of a type with no OSV ecosystem is
// an error wrapping errdef.ErrNotFound.
func (db *DB) LookupPURL(purl string) ([]Record, error) {
	q, err := purlQuery(purl)
	if err != nil {
		return nil, err
	}
	name := normalizeName(q.ecosystem, q.name)
	ids, err := db.candidates(key(prefixPkg, strings.ToLower(q.ecosystem), name))
	if err != nil {
		return nil, err
	}
	return db.collect(ids, func(r *Record) bool { return affects(r, q, name) })
}

// affects reports whether any affected entry of r covers the query.
func affects(r *Record, q pkgQuery, name string) bool {
	for i := range r.Affected {
		a := &r.Affected[i]
		eco := baseEcosystem(a.Package.Ecosystem)
		if !strings.EqualFold(eco, q.ecosystem) || normalizeName(eco, a.Package.Name) != name {
			continue
		}
		if !releaseMatches(a.Package.Ecosystem, q.release) {
			continue
		}
		if q.version == "" || versionAffected(a, eco, q.version) {
			return true
		}
	}
	return false
}

// LookupCPE returns the NVD-derived records whose vulnerable CPE match
// criteria cover a CPE 2.3 name (or a CPE 2.2 URI), honouring version
// ranges, sorted by ID, or none.
//
// NOTE: configurations that combine nodes with AND (a product running on a
// platform) match on their vulnerable criteria alone, so such records can
// be reported for a product on any platform.
func (db *DB) LookupCPE(cpe string) ([]Record, error) {
	q, err := parseCPEQuery(cpe)
	if err != nil {
		return nil, fmt.Errorf("CPE %q: %v; write it as cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*: %w",
			cpe, err, errdef.ErrInvalidRecord)
	}
	ids, err := db.candidates(key(prefixCPE, q.key()))
	if err != nil {
		return nil, err
	}
	return db.collect(ids, func(r *Record) bool {
		for _, m := range recordCPEs(r) {
			if m.matches(q) {
				return true
			}
		}
		return false
	})
}

// parseCPEQuery accepts a CPE 2.3 formatted string or a CPE 2.2 URI such
// as "cpe:/a:webmproject:libwebp:1.3.1".
func parseCPEQuery(s string) (cpeName, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "cpe:/"); ok {
		parts := strings.Split(rest, ":")
		for len(parts) < 11 {
			parts = append(parts, "*")
		}
		s = "cpe:2.3:" + strings.Join(parts[:11], ":")
	}
	return parseCPE(s)
}
