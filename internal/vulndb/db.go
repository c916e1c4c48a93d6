package vulndb

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
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
	store   kv.Store
	config  Config
	layers  []ocispec.Descriptor // oldest first, DB layers only
	filters []idFilter           // record ID filter of each layer
	pos     map[string]int       // layer digest -> index in layers
	// versions caches parsed range versions across lookups.
	versions versionCache
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
// Descriptors of other media types are ignored. Open reads each layer's
// record ID filter, about 2 bytes per record.
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
		f, err := readFilter(store, l.Digest)
		if err != nil {
			return nil, err
		}
		db.pos[l.Digest.String()] = len(db.layers)
		db.layers = append(db.layers, l)
		db.filters = append(db.filters, f)
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

// readFilter reads the record ID filter of an indexed layer.
func readFilter(store kv.Store, layer digest.Digest) (idFilter, error) {
	v, err := store.Get(filterKey(layer))
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("DB layer %s has no record ID filter; import the kit again to index it: %w",
			layer, errdef.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading record ID filter of layer %s: %w", layer, err)
	}
	f, err := parseIDFilter(v)
	if err != nil {
		return nil, fmt.Errorf("DB layer %s: %v; import the kit again to index it: %w", layer, err, errdef.ErrNotFound)
	}
	return f, nil
}

// newestLayer returns the position of the newest layer above position
// below that holds id (a record or its tombstone), with the record's
// bytes, or -1 when none does. It reads the record key only of layers
// whose filter may hold id.
func (db *DB) newestLayer(id string, below int) (int, []byte, error) {
	for i := len(db.layers) - 1; i > below; i-- {
		if !db.filters[i].mayContain(id) {
			continue
		}
		v, err := db.store.Get(recKey(db.layers[i].Digest, id))
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err != nil {
			return -1, nil, fmt.Errorf("reading record %s: %w", id, err)
		}
		return i, v, nil
	}
	return -1, nil, nil
}

// resolve returns the newest version of a record, or ok false when no
// layer has it or the newest entry is a tombstone.
func (db *DB) resolve(id string) (Record, bool, error) {
	i, v, err := db.newestLayer(id, -1)
	if err != nil || i < 0 {
		return Record{}, false, err
	}
	return db.decodeAt(i, id, v)
}

// decodeAt decodes the record id read from the layer at position i. A
// tombstone yields ok false.
func (db *DB) decodeAt(i int, id string, v []byte) (Record, bool, error) {
	r, err := decodeLine(v)
	if err != nil {
		return Record{}, false, fmt.Errorf("record %s in layer %s: %w", id, db.layers[i].Digest, err)
	}
	if r.Tombstone() {
		return Record{}, false, nil
	}
	return r, true, nil
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
//
// The package index stores each record's affected entries for the package,
// so only the records that match are read and decoded in full.
func (db *DB) LookupPURL(purl string) ([]Record, error) {
	q, err := purlQuery(purl)
	if err != nil {
		return nil, err
	}
	name := normalizeName(q.ecosystem, q.name)
	cands, err := db.pkgCandidates(pkgPrefix(q.ecosystem, name))
	if err != nil {
		return nil, err
	}
	var matcher *versionMatcher
	var versionErr error
	if q.version != "" {
		// A version no range can be compared with matches only exact
		// entries of versions lists. When records name the package but
		// none matches, an empty result would hide them, so it is an
		// error instead.
		if _, err := orderFor(q.ecosystem).parse(q.version); err != nil {
			versionErr = fmt.Errorf("purl %q: version %q is not a valid %s version (%v); correct the version in the purl or SBOM: %w",
				purl, q.version, q.ecosystem, err, errdef.ErrInvalidRecord)
		}
		matcher = newVersionMatcher(q.ecosystem, q.version)
		matcher.cache = &db.versions
	}
	var hits []pkgCandidate
	for _, c := range cands {
		hit, err := db.pkgMatches(c, q, matcher)
		if err != nil {
			return nil, err
		}
		if !hit {
			continue
		}
		// A newer layer that holds the ID without naming this package, or
		// holds its tombstone, replaces this version of the record.
		newer, _, err := db.newestLayer(c.id, c.layer)
		if err != nil {
			return nil, err
		}
		if newer < 0 {
			hits = append(hits, c)
		}
	}
	out, err := db.readRecords(hits)
	if err != nil {
		return nil, err
	}
	if versionErr != nil && len(out) == 0 && len(cands) > 0 {
		return nil, versionErr
	}
	return out, nil
}

// parallelDecodeMin is the number of records from which readRecords
// decodes on several goroutines; below it, starting them costs more than
// it saves.
const parallelDecodeMin = 32

// readRecords reads and decodes the records the candidates name, in the
// candidates' order, leaving out tombstones. It reads the keys in
// ascending order with one iterator, and decodes a long list on as many
// goroutines as there are processors, because the slowest lookups are the
// ones that return hundreds of records.
func (db *DB) readRecords(cands []pkgCandidate) ([]Record, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	keys := make([][]byte, len(cands))
	for i, c := range cands {
		keys[i] = recKey(db.layers[c.layer].Digest, c.id)
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return bytes.Compare(keys[order[a]], keys[order[b]]) < 0 })
	sorted := make([][]byte, len(keys))
	for i, o := range order {
		sorted[i] = keys[o]
	}
	values := make([][]byte, len(cands))
	err := kv.GetSorted(db.store, sorted, func(i int, v []byte) error {
		values[order[i]] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}

	recs := make([]Record, len(cands))
	ok := make([]bool, len(cands))
	errs := make([]error, len(cands))
	decode := func(i int) { recs[i], ok[i], errs[i] = db.decodeAt(cands[i].layer, cands[i].id, values[i]) }
	workers := runtime.GOMAXPROCS(0)
	if len(cands) < parallelDecodeMin || workers < 2 {
		for i := range cands {
			decode(i)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(cands); i += workers {
					decode(i)
				}
			}()
		}
		wg.Wait()
	}
	var out []Record
	for i := range cands {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if ok[i] {
			out = append(out, recs[i])
		}
	}
	return out, nil
}

// pkgCandidate is a record named by a package index key: the newest layer
// of this DB whose version of the record names the package, and the key's
// value.
type pkgCandidate struct {
	id    string
	layer int
	value []byte
}

// pkgCandidates scans a package index prefix and returns, per record ID,
// the entry of the newest layer of this DB, sorted by ID.
func (db *DB) pkgCandidates(prefix []byte) ([]pkgCandidate, error) {
	best := map[string]int{}
	var out []pkgCandidate
	err := db.store.Scan(prefix, func(k, v []byte) error {
		rest := strings.TrimSuffix(string(k[len(prefix):]), "\x00")
		layer, id, ok := strings.Cut(rest, "\x00")
		if !ok {
			return nil
		}
		pos, in := db.pos[layer]
		if !in {
			return nil
		}
		if i, seen := best[id]; seen {
			if out[i].layer < pos {
				out[i].layer, out[i].value = pos, bytes.Clone(v)
			}
			return nil
		}
		best[id] = len(out)
		out = append(out, pkgCandidate{id: id, layer: pos, value: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning package index: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// pkgMatches reports whether a candidate's affected entries cover the
// query. matcher is nil when the query names no version.
func (db *DB) pkgMatches(c pkgCandidate, q pkgQuery, matcher *versionMatcher) (bool, error) {
	entries, err := decodePkgValue(c.value)
	if err != nil {
		return false, fmt.Errorf("package index entry of record %s in layer %s: %v; import the kit again to rebuild the index: %w",
			c.id, db.layers[c.layer].Digest, err, errdef.ErrInvalidRecord)
	}
	for i := range entries {
		e := &entries[i]
		if !releaseMatches(e.Ecosystem, q.release) {
			continue
		}
		if matcher == nil {
			return true, nil
		}
		if matcher.matches(e.Versions, e.Ranges) {
			return true, nil
		}
	}
	return false, nil
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
