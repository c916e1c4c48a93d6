package vulndb

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	// versions caches parsed range versions across lookups.
	versions versionCache
	// records caches decoded records by layer and ID, so that a scan that
	// looks up a popular package at several versions, which returns largely
	// the same records each time, reads and decodes them once. Records from
	// it share their slices with other lookups' results, so callers treat
	// records as read-only.
	records twoGenCache[recordCacheKey, recordCacheEntry]
	// packages caches the prepared candidates of packages by ecosystem and
	// name (see packageCandidates).
	packages twoGenCache[string, []pkgCandidate]
}

// DisableCaches makes later lookups read the package index and decode
// every record they return, as the first lookup of a package does.
// Benchmarks use it to measure lookups without the caches.
func (db *DB) DisableCaches() {
	db.records.disable()
	db.packages.disable()
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
	db := &DB{store: store,
		records:  newTwoGenCache[recordCacheKey](maxCachedRecords, func(recordCacheEntry) int { return 1 }),
		packages: newTwoGenCache[string](maxCachedCandidates, func(c []pkgCandidate) int { return len(c) }),
	}
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
		db.layers = append(db.layers, l)
		db.filters = append(db.filters, f)
	}
	return db, nil
}

// Records returns the number of records in the DB, as its config states.
func (db *DB) Records() int { return db.config.Records }

// Status returns the DB's build time, sources, counts and layer stack.
func (db *DB) Status() Status {
	// The lists and the map are never nil, so that JSON writes an empty
	// DB's as [] and {}, not null.
	s := Status{Schema: db.config.Schema, Created: db.config.Created, Records: db.config.Records,
		Ecosystems: db.config.Ecosystems, Sources: db.config.Sources, Layers: []LayerInfo{}}
	if s.Ecosystems == nil {
		s.Ecosystems = map[string]int{}
	}
	if s.Sources == nil {
		s.Sources = []SourceInfo{}
	}
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
	h1, h2 := filterHash(id)
	for i := len(db.layers) - 1; i > below; i-- {
		if !db.filters[i].mayContainHash(h1, h2) {
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
// tombstone yields ok false. The record keeps slices of v, which callers
// pass over from a store read and never modify.
func (db *DB) decodeAt(i int, id string, v []byte) (Record, bool, error) {
	if tombstone, known := storedTombstone(v); known && tombstone {
		return Record{}, false, nil
	}
	r, err := decodeRecordValue(v)
	if err != nil {
		return Record{}, false, fmt.Errorf("record %s in layer %s: %w", id, db.layers[i].Digest, err)
	}
	if r.Tombstone() {
		return Record{}, false, nil
	}
	return r, true, nil
}

// candidates returns the record IDs under one name of a secondary index
// (prefixAlias or prefixCPE) in the layers of this DB, sorted. Each layer
// keeps its keys apart under its digest, so the name is looked up once
// per layer.
func (db *DB) candidates(kind, name string) ([]string, error) {
	prefixes := make([][]byte, len(db.layers))
	for i, l := range db.layers {
		prefixes[i] = key(kind, l.Digest.String(), name)
	}
	seen := map[string]bool{}
	err := kv.ScanPrefixes(db.store, prefixes, func(i int, k, _ []byte) error {
		id, ok := bytes.CutSuffix(k[len(prefixes[i]):], []byte{0})
		if ok && len(id) > 0 {
			seen[string(id)] = true
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
// returns an error wrapping errdef.ErrNotFound, and an empty id one
// wrapping errdef.ErrInvalidArgument.
func (db *DB) Lookup(id string) ([]Record, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, invalidQuery("the ID to look up is empty; give a record ID or alias such as CVE-2023-4863 or GHSA-35jh-r3h4-6jhm")
	}
	want := aliasIndex(id)
	ids, err := db.candidates(prefixAlias, want)
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
// record that names the package.
//
// A record whose range for the package cannot be compared with the version
// is marked possibly affected (see Record.PossiblyAffected). That happens
// when the range has a version that its order cannot parse, and when the
// queried version is not valid in the package's ecosystem. Such a version
// still matches the records that list it exactly. A version that is valid
// in its ecosystem but not in SemVer, such as PyPI "1.0.post1", is
// compared with SEMVER ranges in the ecosystem's order.
//
// A malformed purl is an error wrapping errdef.ErrInvalidArgument. So is a
// version that is not valid in the package's ecosystem when the lookup can
// do nothing with it. Then no record lists it, no record is possibly
// affected, and no range of the package could be compared with it. A
// purl of a type with no OSV ecosystem, or a deb, apk or rpm purl without a
// known distribution namespace, is an error wrapping errdef.ErrNotFound.
//
// An rpm purl's "epoch" qualifier is the epoch of its version. A deb or apk
// purl's "upstream" qualifier names the source package, which is looked up
// too, because those distributions key their records by source package.
// The result is then the union of both lookups, each record once.
//
// A "distro" qualifier restricts the match to the entries of one release.
// One that gives no release, such as "debian-sid", matches the entries of
// every release. A record that only entries scoped to a release match is
// then marked possibly affected, since the system may run none of them.
//
// The package index stores each record's affected entries for the package,
// so only the records that match are read and decoded in full.
func (db *DB) LookupPURL(purl string) ([]Record, error) {
	q, err := purlQuery(purl)
	if err != nil {
		return nil, err
	}
	out, versionErr, err := db.lookupPackage(purl, q)
	if err != nil {
		return nil, err
	}
	if q.source != nil {
		src, srcVersionErr, err := db.lookupPackage(purl, *q.source)
		if err != nil {
			return nil, err
		}
		out = unionByID(out, src)
		if versionErr == nil {
			versionErr = srcVersionErr
		}
	}
	// A version that is not valid in its ecosystem and matched no record,
	// not even as possibly affected, is an error. It is one also when no
	// record names the package, so that an SBOM entry that can never match
	// is reported instead of counted as scanned without findings.
	if versionErr != nil && len(out) == 0 {
		return nil, versionErr
	}
	return out, nil
}

// unevaluatedSemVerReason returns the reason why the version of q, which
// SemVer rejects, could not be compared with a SEMVER range that has the
// version rangeVersion. The ecosystem's order rejects rangeVersion, or it accepts
// it, but rangeVersion does not look like a version (semverFallbackOrder),
// as Maven's order accepts "1.x".
func unevaluatedSemVerReason(q pkgQuery, rangeVersion string) string {
	rangeDefect := fmt.Sprintf("is not a valid %s version", q.ecosystem)
	if _, err := orderFor(q.ecosystem).parse(rangeVersion); err == nil {
		rangeDefect = "does not look like a version"
	}
	return fmt.Sprintf("version %q of %s is not valid SemVer and SEMVER range version %q %s, so the range could not be compared with it",
		q.version, q.name, rangeVersion, rangeDefect)
}

// lookupPackage returns the records that affect the package version of q,
// sorted by ID. When the version is not valid in the ecosystem, versionErr
// describes it, and records whose ranges cannot be compared with it are
// returned marked possibly affected.
func (db *DB) lookupPackage(purl string, q pkgQuery) (recs []Record, versionErr, err error) {
	cands, err := db.packageCandidates(q.ecosystem, normalizeName(q.ecosystem, q.name))
	if err != nil {
		return nil, nil, err
	}
	var matcher *versionMatcher
	if q.version != "" {
		// When no record matches a version that is not valid in the
		// ecosystem, an empty result would hide that the version can never
		// match, so the caller returns versionErr instead.
		matcher = newVersionMatcher(q.ecosystem, q.version)
		matcher.cache = &db.versions
		if !matcher.query("ECOSYSTEM").valid {
			// Parse again only to word the error.
			_, err := orderFor(q.ecosystem).parse(q.version)
			versionErr = invalidQuery("purl %q: version %q of package %s is not a valid %s version (%v); correct the version in the purl or SBOM",
				purl, q.version, q.name, q.ecosystem, err)
		}
	}
	var hits []pkgCandidate
	var possibly map[string]string // record ID to the reason it is possibly affected
	// compared is set once a range of the package was compared with the
	// version, which then is usable although its ecosystem rejects it.
	compared := false
	for _, c := range cands {
		m := c.matches(q.release, matcher)
		compared = compared || m.compared
		var reason string
		switch {
		case m.affected && q.unknownRelease != "" && !c.affectsWithoutRelease(matcher):
			reason = unknownReleaseReason(q)
		case m.affected:
		case m.unevaluated != "":
			reason = fmt.Sprintf("version %q of %s could not be compared with range version %s, which is not valid in that order",
				q.version, q.name, m.unevaluated)
		case m.unevaluatedSemVer != "":
			reason = unevaluatedSemVerReason(q, m.unevaluatedSemVer)
		case m.incomparable && versionErr != nil:
			reason = fmt.Sprintf("version %q of %s is not a valid %s version, so the record's ranges could not be compared with it",
				q.version, q.name, q.ecosystem)
		case m.incomparable:
			// A version that is valid in its ecosystem is compared with
			// every range, except with SEMVER ranges when SemVer rejects
			// it and it does not look like a version (see
			// semverFallbackOrder), such as Maven "latest".
			reason = fmt.Sprintf("version %q of %s is not valid SemVer and does not look like a version, so the record's SEMVER ranges could not be compared with it",
				q.version, q.name)
		default:
			continue
		}
		hits = append(hits, c)
		if reason != "" {
			if possibly == nil {
				possibly = map[string]string{}
			}
			possibly[c.id] = reason
		}
	}
	if compared {
		versionErr = nil
	}
	recs, err = db.readRecords(hits)
	if err != nil {
		return nil, nil, err
	}
	for i := range recs {
		if reason, ok := possibly[recs[i].ID]; ok {
			recs[i] = markPossiblyAffected(recs[i], reason)
		}
	}
	return recs, versionErr, nil
}

// unknownReleaseReason returns why a record that affects q only through
// entries scoped to a release is possibly affected, when the purl's distro
// qualifier gives no release.
func unknownReleaseReason(q pkgQuery) string {
	reason := fmt.Sprintf("the purl's distro qualifier %q gives no %s release number, so the record's entries for every %s release were compared",
		q.unknownRelease, q.ecosystem, q.ecosystem)
	if ex := exampleRelease(q.ecosystem); ex != "" {
		reason += fmt.Sprintf(". A qualifier with the release, such as distro=%s, compares only that release's entries", ex)
	}
	return reason
}

// unionByID merges two lists of records sorted by ID into one sorted list
// that has each ID once.
func unionByID(a, b []Record) []Record {
	all := make([]Record, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	// A record that one lookup confirmed and the other only found
	// possibly affected is confirmed, so its unmarked copy is kept.
	possibly := make([]bool, len(all))
	order := make([]int, len(all))
	for i := range all {
		possibly[i] = all[i].PossiblyAffected() != ""
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		if c := strings.Compare(all[i].ID, all[j].ID); c != 0 {
			return c
		}
		return cmpBool(possibly[i], possibly[j])
	})
	out := make([]Record, 0, len(all))
	for _, i := range order {
		if n := len(out); n > 0 && out[n-1].ID == all[i].ID {
			continue
		}
		out = append(out, all[i])
	}
	return out
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// parallelReadMin is the number of records from which readRecords reads
// and decodes on several goroutines; below it, starting them costs more
// than it saves.
const parallelReadMin = 8

// readRecords reads and decodes the records the candidates name, in the
// candidates' order, leaving out tombstones. A long list is read and
// decoded on as many goroutines as there are processors, because the
// slowest lookups are the ones that return hundreds of records.
func (db *DB) readRecords(cands []pkgCandidate) ([]Record, error) {
	recs := make([]Record, len(cands))
	ok := make([]bool, len(cands))
	errs := make([]error, len(cands))
	read := func(i int) {
		c := cands[i]
		k := recordCacheKey{layer: db.layers[c.layer].Digest, id: c.id}
		if e, hit := db.records.get(k); hit {
			recs[i], ok[i] = e.rec, e.ok
			return
		}
		v, err := db.store.Get(recKey(k.layer, c.id))
		if err != nil {
			errs[i] = fmt.Errorf("reading record %s of layer %s: %w", c.id, k.layer, err)
			return
		}
		recs[i], ok[i], errs[i] = db.decodeAt(c.layer, c.id, v)
		if errs[i] == nil {
			db.records.put(k, recordCacheEntry{rec: recs[i], ok: ok[i]})
		}
	}
	parallelFor(len(cands), parallelReadMin, read)
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

// maxCachedRecords bounds each of the two generations of the record
// cache. A decoded record takes a few KiB, so a full cache holds some tens
// of MiB.
const maxCachedRecords = 4096

// recordCacheKey names a record of a layer. A record of a layer never
// changes, so the key needs no version.
type recordCacheKey struct {
	layer digest.Digest
	id    string
}

type recordCacheEntry struct {
	rec Record
	ok  bool // false for a tombstone
}

// twoGenCache is a bounded cache shared by the lookups of a DB. It keeps two
// generations: a hit in the older one moves the entry to the newer, and
// when the newer one reaches max (counted by cost) the older is dropped, so
// the entries used most recently stay. Cached values are never modified.
type twoGenCache[K comparable, V any] struct {
	max  int
	cost func(V) int

	mu       sync.Mutex
	off      bool
	cur, old map[K]V
	n        int // cost of the entries in cur
}

func newTwoGenCache[K comparable, V any](max int, cost func(V) int) twoGenCache[K, V] {
	return twoGenCache[K, V]{max: max, cost: cost}
}

func (c *twoGenCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		c.putLocked(k, v)
	}
	return v, ok
}

func (c *twoGenCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, v)
}

func (c *twoGenCache[K, V]) putLocked(k K, v V) {
	if c.off {
		return
	}
	cost := c.cost(v)
	if c.cur == nil || c.n+cost > c.max {
		c.old, c.cur, c.n = c.cur, map[K]V{}, 0
	}
	c.cur[k] = v
	c.n += cost
}

// disable empties the cache and keeps it empty.
func (c *twoGenCache[K, V]) disable() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off, c.cur, c.old, c.n = true, nil, nil, 0
}

// pkgCandidate is a record that names a package in the newest layer of
// this DB that holds the record, with its affected entries for the
// package. The range versions of the entries are parsed in the order of
// the package's ecosystem.
type pkgCandidate struct {
	id      string
	layer   int
	entries []pkgAffected
}

// matches tests whether the candidate's affected entries for the
// distribution release cover the queried version. A nil matcher, for a
// query without a version, matches every entry.
func (c *pkgCandidate) matches(release string, matcher *versionMatcher) matchResult {
	var out matchResult
	for i := range c.entries {
		e := &c.entries[i]
		if !releaseMatches(e.Ecosystem, release) {
			continue
		}
		if matcher == nil {
			return matchResult{affected: true}
		}
		if out = out.combine(matcher.matches(e)); out.affected {
			return out
		}
	}
	return out
}

// affectsWithoutRelease reports whether an entry of the candidate whose
// ecosystem has no release suffix, such as "Debian", covers the queried
// version. A nil matcher matches every such entry.
func (c *pkgCandidate) affectsWithoutRelease(matcher *versionMatcher) bool {
	for i := range c.entries {
		e := &c.entries[i]
		if strings.Contains(e.Ecosystem, ":") {
			continue
		}
		if matcher == nil || matcher.matches(e).affected {
			return true
		}
	}
	return false
}

// packageCandidates returns the records of this DB that name a package,
// sorted by ID: for each ID the entry of its newest layer, and only when
// no newer layer replaces the record without naming the package or with
// a tombstone. The list depends only on the DB's layers, so it is kept in
// a cache, and a scan that meets a popular package at several versions
// reads and prepares it once.
func (db *DB) packageCandidates(ecosystem, name string) ([]pkgCandidate, error) {
	lower := strings.ToLower(ecosystem)
	cacheKey := lower + "\x00" + name
	if c, ok := db.packages.get(cacheKey); ok {
		return c, nil
	}
	keys, err := db.pkgKeys(lower, name)
	if err != nil {
		return nil, err
	}
	eco, known := ecosystemOrder(ecosystem)
	cands := make([]pkgCandidate, len(keys))
	live := make([]bool, len(keys))
	errs := make([]error, len(keys))
	parallelFor(len(keys), parallelPrepareMin, func(i int) {
		cands[i], live[i], errs[i] = db.prepareCandidate(keys[i], eco, known)
	})
	out := make([]pkgCandidate, 0, len(keys))
	for i := range keys {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if live[i] {
			out = append(out, cands[i])
		}
	}
	db.packages.put(cacheKey, out)
	return out, nil
}

// parallelPrepareMin is the number of package index keys from which
// packageCandidates prepares them on several goroutines.
const parallelPrepareMin = 64

// prepareCandidate decodes a package index key's value and parses its range
// versions, and its listed versions when the ecosystem's order eco is
// known, or reports live false when a newer layer replaces the record.
func (db *DB) prepareCandidate(k pkgIndexKey, eco versionOrder, known bool) (pkgCandidate, bool, error) {
	newer, _, err := db.newestLayer(k.id, k.layer)
	if err != nil || newer >= 0 {
		return pkgCandidate{}, false, err
	}
	entries, err := decodePkgValue(k.value)
	if err != nil {
		return pkgCandidate{}, false, fmt.Errorf("package index entry of record %s in layer %s: %v; import the kit again to rebuild the index: %w",
			k.id, db.layers[k.layer].Digest, err, errdef.ErrInvalidRecord)
	}
	for i := range entries {
		if known {
			e := &entries[i]
			e.versionsOrder, e.parsedVersions = eco.name, parseVersions(eco, e.Versions, &db.versions)
		}
		for j := range entries[i].Ranges {
			rg := &entries[i].Ranges[j]
			order := eco
			if rg.Type == "SEMVER" {
				order = semverOrder
			}
			rg.order, rg.parsed = order.name, parseEvents(order, rg.Events, &db.versions)
		}
	}
	return pkgCandidate{id: k.id, layer: k.layer, entries: entries}, true, nil
}

// parallelFor calls fn for every index below n, on as many goroutines as
// there are processors when n is at least from, and in order otherwise.
func parallelFor(n, from int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < from || workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// pkgIndexKey is a package index key of this DB: the record ID, the position
// of its layer and the key's value.
type pkgIndexKey struct {
	id    string
	layer int
	value []byte
}

// pkgKeys returns the package index keys of a package (its ecosystem in
// lower case) in this DB: per record ID the key of the newest layer that
// names the package, sorted by ID.
func (db *DB) pkgKeys(ecosystem, name string) ([]pkgIndexKey, error) {
	// The layers are scanned newest first, so the first key of an ID is
	// the one that counts.
	n := len(db.layers)
	prefixes := make([][]byte, n)
	for i := range prefixes {
		prefixes[i] = key(prefixPkg, db.layers[n-1-i].Digest.String(), ecosystem, name)
	}
	seen := map[string]bool{}
	var out []pkgIndexKey
	err := kv.ScanPrefixes(db.store, prefixes, func(i int, k, v []byte) error {
		id, ok := bytes.CutSuffix(k[len(prefixes[i]):], []byte{0})
		if !ok || len(id) == 0 || seen[string(id)] {
			return nil
		}
		seen[string(id)] = true
		out = append(out, pkgIndexKey{id: string(id), layer: n - 1 - i, value: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning package index: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// maxCachedCandidates bounds each of the two generations of the package
// cache, counted in candidates. A candidate takes a few hundred bytes, plus
// about 350 bytes for each listed version it parses, so a full cache holds
// some tens of MiB, more where records list hundreds of versions.
const maxCachedCandidates = 1 << 16

// LookupCPE returns the NVD-derived records whose vulnerable CPE match
// criteria cover a CPE 2.3 name (or a CPE 2.2 URI), honouring version
// ranges, sorted by ID, or none. A malformed CPE is an error wrapping
// errdef.ErrInvalidArgument.
//
// A record is returned marked possibly affected (Record.PossiblyAffected)
// when no match confirms it. That is the case for:
//   - a query with a concrete version that matches only criteria with
//     version "-" (NA, a product that NVD lists without versions);
//   - a query with version "*" (ANY) that matches only criteria with a
//     fixed version or a version range;
//   - a version that the CPE version order cannot compare with a range
//     bound;
//   - a match only through configurations that combine the product by AND
//     with a platform that the query does not show, such as an operating
//     system.
//
// A match through any other criterion confirms the record.
func (db *DB) LookupCPE(cpe string) ([]Record, error) {
	return db.LookupCPEOn(cpe, nil)
}

// LookupCPEOn is LookupCPE for a CPE of a system whose other CPEs are in
// present, such as the operating system that an SBOM lists next to an
// application. A configuration that combines the product with a platform
// by AND confirms the record when the queried CPE or a CPE of present
// matches the platform's criteria. A nil present is an empty set.
func (db *DB) LookupCPEOn(cpe string, present *CPESet) ([]Record, error) {
	if err := ValidateCPE(cpe); err != nil {
		return nil, err
	}
	q, err := parseCPEQuery(cpe)
	if err != nil {
		return nil, invalidQuery("CPE %q is malformed: %v", cpe, err)
	}
	ids, err := db.candidates(prefixCPE, q.key())
	if err != nil {
		return nil, err
	}
	check := &platformCheck{query: q, present: present}
	var possibly map[string]string // record ID to the reason it is possibly affected
	recs, err := db.collect(ids, func(r *Record) bool {
		confirmed, alternatives := check.matchConfigs(recordConfigs(r))
		if confirmed {
			return true
		}
		if len(alternatives) == 0 {
			return false
		}
		if possibly == nil {
			possibly = map[string]string{}
		}
		possibly[r.ID] = possibleReason(q, alternatives)
		return true
	})
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if reason, ok := possibly[recs[i].ID]; ok {
			recs[i] = markPossiblyAffected(recs[i], reason)
		}
	}
	return recs, nil
}
