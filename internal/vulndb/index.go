package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

// indexBatchKeys is the number of keys written per batch while indexing.
const indexBatchKeys = 10000

// indexFormat is the value of a layer's marker key. It names the layout
// of the layer's other keys, so a layer indexed by an earlier layout does
// not count as indexed and the importer indexes it again.
const indexFormat = "4"

// Key prefixes of the lookup index. The package comment draws the layout.
const (
	prefixLayer  = "layer"
	prefixRec    = "rec"
	prefixFilter = "filter"
	prefixAlias  = "alias"
	prefixPkg    = "pkg"
	prefixCPE    = "cpe"
	// prefixDropped marks a layer whose keys DropLayer deleted and whose
	// key ranges CompactDroppedLayers has not compacted yet.
	prefixDropped = "dropped"
)

// key joins segments with NUL, which no ID, name or digest contains.
func key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

func layerKey(d digest.Digest) []byte { return key(prefixLayer, d.String()) }

func recKey(d digest.Digest, id string) []byte { return key(prefixRec, d.String(), id) }

func filterKey(d digest.Digest) []byte { return key(prefixFilter, d.String()) }

func droppedKey(d digest.Digest) []byte { return key(prefixDropped, d.String()) }

// keyRangeEnd returns the exclusive upper bound of the keys that start
// with k, a key built by key, which ends in a NUL byte.
func keyRangeEnd(k []byte) []byte {
	end := bytes.Clone(k)
	end[len(end)-1]++
	return end
}

// layerPrefixes returns the prefixes of every key of a layer's lookup
// index but its marker: the layer's own part of each key prefix.
func layerPrefixes(layer digest.Digest) [][]byte {
	ls := layer.String()
	return [][]byte{key(prefixRec, ls), key(prefixAlias, ls), key(prefixPkg, ls), key(prefixCPE, ls), filterKey(layer)}
}

// aliasIndex folds case, so a lookup of "ghsa-35JH-..." finds the record.
func aliasIndex(id string) string { return strings.ToUpper(id) }

// IsIndexed reports whether IndexLayer finished indexing the layer in the
// current index layout. A layer indexed by an earlier layout is reported
// as not indexed, so that it is indexed again.
func IsIndexed(store kv.Store, layer digest.Digest) (bool, error) {
	v, err := store.Get(layerKey(layer))
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading index marker of layer %s: %w", layer, err)
	}
	return string(v) == indexFormat, nil
}

// IndexLayer reads a DB layer from r, checks it against the descriptor's
// digest and size, and writes its lookup keys. The layer's marker is
// written last, in a synced batch, so IsIndexed is true only for complete
// layers. Indexing a layer again rewrites the same keys.
//
// When the store is a kv.Ingester, the record keys go into one sorted
// table that is ingested once the layer's digest checks out, instead of
// through the write-ahead log, a memtable flush and compactions. That
// needs the layer's lines in ascending ID order, as Build writes them. The
// alias, CPE and package keys are then sorted in memory and ingested as
// one table per key prefix. With other stores, all keys go through
// batches.
func IndexLayer(ctx context.Context, store kv.Store, layer ocispec.Descriptor, r io.Reader) error {
	if err := layer.Digest.Validate(); err != nil {
		return fmt.Errorf("layer digest %q: %v: %w", layer.Digest, err, errdef.ErrInvalidKit)
	}
	w := &batchWriter{store: store}
	defer w.close()

	lr := &layerReader{ctx: ctx, layer: layer, r: r}
	var err error
	if ing, ok := store.(kv.Ingester); ok {
		err = lr.ingest(ing)
	} else {
		err = lr.read(
			func(id string, value []byte) error { return w.set(recKey(layer.Digest, id), bytes.Clone(value)) },
			func(e indexEntry) error {
				return w.set(append(entryKeyPrefix(e.kind, layer.Digest.String()), e.key...), e.value)
			},
			false)
	}
	if err != nil {
		return err
	}

	if err := w.set(filterKey(layer.Digest), newIDFilter(lr.ids)); err != nil {
		return err
	}
	if err := w.flush(false); err != nil {
		return err
	}
	if err := w.set(layerKey(layer.Digest), []byte(indexFormat)); err != nil {
		return err
	}
	return w.flush(true)
}

// LayerTables reads a DB layer from r, checks it against the descriptor's
// digest and size, and passes its lookup keys to table, one call per
// table: the records, then the alias, CPE and package keys, one table per
// key prefix, then the layer's ID filter. Each call's pairs come in
// strictly ascending key order. IngestLayerTables takes the tables in
// place of IndexLayer. The layer's lines must be in ascending ID order,
// as Build writes them.
func LayerTables(ctx context.Context, layer ocispec.Descriptor, r io.Reader, table func(fill func(add func(key, value []byte) error) error) error) error {
	if err := layer.Digest.Validate(); err != nil {
		return fmt.Errorf("layer digest %q: %v: %w", layer.Digest, err, errdef.ErrInvalidKit)
	}
	lr := &layerReader{ctx: ctx, layer: layer, r: r}
	if err := lr.ingest(tableIngester(table)); err != nil {
		return err
	}
	return table(func(add func(key, value []byte) error) error {
		return add(filterKey(layer.Digest), newIDFilter(lr.ids))
	})
}

// tableIngester passes each sorted run of keys to a table writer.
type tableIngester func(fill func(add func(key, value []byte) error) error) error

func (t tableIngester) IngestSorted(fill func(add func(key, value []byte) error) error) error {
	return t(fill)
}

// IngestLayerTables ingests the tables that LayerTables wrote for a layer,
// staged at paths, as the layer's lookup index, and then writes the
// layer's marker. A table whose keys lie outside the layer's key ranges is
// rejected before any key is stored.
func IngestLayerTables(store kv.Store, layer digest.Digest, paths []string) error {
	ti, ok := store.(kv.TableIngester)
	if !ok {
		return fmt.Errorf("ingesting index tables of layer %s: the store does not implement kv.TableIngester", layer)
	}
	if err := ti.IngestTables(paths, layerPrefixes(layer)); err != nil {
		return fmt.Errorf("ingesting index tables of layer %s: %w", layer, err)
	}
	b := store.NewBatch()
	defer b.Close()
	if err := b.Set(layerKey(layer), []byte(indexFormat)); err != nil {
		return fmt.Errorf("writing index marker of layer %s: %w", layer, err)
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("writing index marker of layer %s: %w", layer, err)
	}
	return nil
}

// IndexFormat names the layout of the lookup index keys. Pre-built index
// tables carry it, so an import uses only tables of its own layout.
func IndexFormat() string { return indexFormat }

// layerReader reads the records of one DB layer for the lookup index.
type layerReader struct {
	ctx   context.Context
	layer ocispec.Descriptor
	r     io.Reader
	// ids lists the record IDs read, in the layer's order.
	ids []string
	// value, recKey and configs are reused from one record to the next.
	value, recKey []byte
	configs       configBuffers
	entries       entryBuilder
}

// ingest reads the layer into ing: the records as one sorted table, then
// the alias, CPE and package keys sorted in memory, one table per prefix.
func (lr *layerReader) ingest(ing kv.Ingester) error {
	var entries []indexEntry
	prefix := key(prefixRec, lr.layer.Digest.String())
	err := ing.IngestSorted(func(add func(k, v []byte) error) error {
		return lr.read(
			func(id string, value []byte) error {
				lr.recKey = append(append(append(lr.recKey[:0], prefix...), id...), 0)
				return add(lr.recKey, value)
			},
			func(e indexEntry) error { entries = append(entries, e); return nil },
			true)
	})
	if err != nil {
		return err
	}
	return ingestEntries(lr.ctx, ing, lr.layer.Digest, entries)
}

// read indexes the layer, passing each record in its stored form to
// setRecord and each other key to setEntry. With sorted set, a line out of
// ascending ID order is an error.
func (lr *layerReader) read(setRecord func(id string, value []byte) error, setEntry func(indexEntry) error, sorted bool) error {
	layer := lr.layer
	verifier := layer.Digest.Verifier()
	counter := &countingReader{r: io.LimitReader(lr.r, layer.Size+1)}
	err := readLayer(io.TeeReader(counter, verifier), func(line []byte) error {
		if err := lr.ctx.Err(); err != nil {
			return err
		}
		// The record shares the line's memory, which the next line
		// overwrites: everything kept past this call is copied, the ID
		// here and the keys and values by the store.
		rec, err := decodeLineOwned(line)
		if err != nil {
			return err
		}
		if n := len(lr.ids); sorted && n > 0 && rec.ID <= lr.ids[n-1] {
			return fmt.Errorf("record %s follows %s: the lines of a DB layer must be in ascending ID order, as stella ouk build writes them; rebuild the kit: %w",
				rec.ID, lr.ids[n-1], errdef.ErrInvalidKit)
		}
		lr.ids = append(lr.ids, strings.Clone(rec.ID))
		tombstone, configs := recordExtras(&rec, &lr.configs)
		lr.value = appendStoredRecord(lr.value[:0], &rec, tombstone)
		if err := setRecord(rec.ID, lr.value); err != nil {
			return err
		}
		for _, e := range lr.entries.record(&rec, configs) {
			if err := setEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing layer %s: %w", layer.Digest, err)
	}
	if _, err := io.Copy(io.Discard, io.TeeReader(counter, verifier)); err != nil {
		return fmt.Errorf("reading layer %s: %w", layer.Digest, err)
	}
	if counter.n != layer.Size {
		return fmt.Errorf("layer %s size mismatch: read %d bytes, descriptor declares %d: %w",
			layer.Digest, counter.n, layer.Size, errdef.ErrSizeMismatch)
	}
	if !verifier.Verified() {
		return fmt.Errorf("layer bytes do not match digest %s: %w", layer.Digest, errdef.ErrDigestMismatch)
	}
	return nil
}

// ingestEntries sorts the alias, CPE and package keys of layer d and
// ingests them as one table per key prefix. Each table then spans only
// keys of its prefix, so it does not overlap the layer and filter keys
// that batches write meanwhile.
func ingestEntries(ctx context.Context, ing kv.Ingester, d digest.Digest, entries []indexEntry) error {
	// Entries of one kind share their key's prefix, so their order is
	// that of the rest of their keys.
	slices.SortFunc(entries, func(a, b indexEntry) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return bytes.Compare(a.key, b.key)
	})
	ds := d.String()
	var k []byte
	for len(entries) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		kind := entries[0].kind
		n := 1
		for n < len(entries) && entries[n].kind == kind {
			n++
		}
		group := entries[:n]
		entries = entries[n:]
		prefix := entryKeyPrefix(kind, ds)
		err := ing.IngestSorted(func(add func(k, v []byte) error) error {
			for i, e := range group {
				// Skip a repeated key, which the table's strictly
				// ascending order would reject.
				if i > 0 && bytes.Equal(group[i-1].key, e.key) {
					continue
				}
				k = append(append(k[:0], prefix...), e.key...)
				if err := add(k, e.value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing the %s keys of the lookup index: %w", entryPrefixes[kind], err)
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// entryKind names the key prefix of a secondary index key.
type entryKind uint8

const (
	kindAlias entryKind = iota
	kindCPE
	kindPkg
	numKinds
)

// entryPrefixes are the key prefixes of the entry kinds, in ascending
// order.
var entryPrefixes = [numKinds]string{prefixAlias, prefixCPE, prefixPkg}

// entryKeyPrefix returns the start that the keys of one kind in layer ds
// share; an entry's key is the rest.
func entryKeyPrefix(kind entryKind, ds string) []byte { return key(entryPrefixes[kind], ds) }

// indexEntry is one secondary index key of a record and its value. key
// leaves out the prefix that entryKeyPrefix gives, which every key of the
// layer of its kind shares: a layer's 100,000 keys would repeat it.
type indexEntry struct {
	kind       entryKind
	key, value []byte
}

// entryBuilder derives the secondary keys of a layer's records. It reuses
// its memory from one record to the next and takes the keys' bytes from
// large shared chunks, since a full import derives well over a million.
type entryBuilder struct {
	set   entrySet
	chunk []byte
	pkgs  [][]pkgAffected
}

// key returns parts joined as the function key joins them, in the
// builder's current chunk.
func (b *entryBuilder) key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	if cap(b.chunk)-len(b.chunk) < n {
		b.chunk = make([]byte, 0, max(n, keyChunkSize))
	}
	start := len(b.chunk)
	for _, p := range parts {
		b.chunk = append(b.chunk, p...)
		b.chunk = append(b.chunk, 0)
	}
	return b.chunk[start:len(b.chunk):len(b.chunk)]
}

// keyChunkSize is the size of the chunks entryBuilder takes key bytes
// from.
const keyChunkSize = 64 << 10

// record returns the secondary keys of a record, with their values:
// package keys store the record's affected entries for that package (see
// encodePkgValue), the other keys are empty. configs are the record's NVD
// configurations, as recordExtras reads them. The slice is valid until
// the next call; the keys and values in it stay valid.
func (b *entryBuilder) record(rec *Record, configs []nvdConfig) []indexEntry {
	set := &b.set
	set.reset()
	set.add(kindAlias, b.key(aliasIndex(rec.ID), rec.ID))
	for _, a := range rec.Aliases {
		set.add(kindAlias, b.key(aliasIndex(a), rec.ID))
	}
	// pkgs holds the affected entries of each package key, by its index
	// in set.out.
	pkgs := b.pkgs[:0]
	for i := range rec.Affected {
		a := &rec.Affected[i]
		if a.Package.Name == "" || a.Package.Ecosystem == "" {
			continue
		}
		eco := baseEcosystem(a.Package.Ecosystem)
		j := set.add(kindPkg, b.key(strings.ToLower(eco), normalizeName(eco, a.Package.Name), rec.ID))
		for len(pkgs) <= j {
			pkgs = append(pkgs, nil)
		}
		pkgs[j] = append(pkgs[j], newPkgAffected(a))
	}
	for j, list := range pkgs {
		if list != nil {
			set.out[j].value = encodePkgValue(list)
		}
	}
	// The lists are new for each record: encodePkgValue copied them.
	clear(pkgs)
	b.pkgs = pkgs
	// Platform criteria (vulnerable false) get keys too. A lookup of a
	// platform reads such a record and then finds no vulnerable match.
	for _, c := range configs {
		for _, n := range c.Nodes {
			for _, m := range n.CPEMatch {
				if name, err := parseCPE(m.Criteria); err == nil {
					set.add(kindCPE, b.key(name.key(), rec.ID))
				}
			}
		}
	}
	return set.out
}

// entrySet collects the distinct keys of one record in the order they
// are first added.
type entrySet struct {
	out []indexEntry
	// seen maps a key to its index in out once out is too long for a
	// linear search.
	seen map[entrySetKey]int
}

type entrySetKey struct {
	kind entryKind
	key  string
}

// linearEntries is the number of keys up to which entrySet looks for a
// repeated key by comparing it with every key so far.
const linearEntries = 16

// reset empties the set for the next record and keeps its memory.
func (s *entrySet) reset() {
	clear(s.out)
	s.out = s.out[:0]
	s.seen = nil
}

// add appends the key unless it is already in the set, and returns its
// index.
func (s *entrySet) add(kind entryKind, k []byte) int {
	if s.seen == nil {
		for i := range s.out {
			if s.out[i].kind == kind && bytes.Equal(s.out[i].key, k) {
				return i
			}
		}
		if len(s.out) >= linearEntries {
			s.seen = make(map[entrySetKey]int, 2*len(s.out))
			for i, e := range s.out {
				s.seen[entrySetKey{e.kind, string(e.key)}] = i
			}
		}
	}
	if s.seen != nil {
		if i, ok := s.seen[entrySetKey{kind, string(k)}]; ok {
			return i
		}
		s.seen[entrySetKey{kind, string(k)}] = len(s.out)
	}
	s.out = append(s.out, indexEntry{kind: kind, key: k})
	return len(s.out) - 1
}

// recordConfigs returns a record's NVD configurations.
func recordConfigs(rec *Record) []nvdConfig {
	_, configs := recordExtras(rec, nil)
	return configs
}

// recordExtras returns a record's tombstone flag and NVD configurations,
// reading database_specific.stellaops once. With buf set, the fast reader
// first resets buf and then decodes into it, as stellaopsFast describes,
// so the configurations are valid until the next call with buf.
func recordExtras(rec *Record, buf *configBuffers) (tombstone bool, configs []nvdConfig) {
	raw, found := rec.DatabaseSpecific[dbKey]
	if !found {
		return false, nil
	}
	if buf != nil {
		buf.reset()
	}
	if tombstone, configs, ok := stellaopsFast(raw, true, buf); ok {
		return tombstone, configs
	}
	return rec.extra().Tombstone, recordConfigsJSON(rec)
}

// recordConfigsJSON is recordConfigs with encoding/json, for values the
// fast decoder does not handle.
func recordConfigsJSON(rec *Record) []nvdConfig {
	ex := rec.extra()
	if len(ex.Configurations) == 0 {
		return nil
	}
	var configs []nvdConfig
	if err := json.Unmarshal(ex.Configurations, &configs); err != nil {
		return nil
	}
	return configs
}

// DropLayer removes a layer's index keys, its marker first, so a
// half-dropped layer never counts as indexed. Dropping an unindexed layer
// removes whatever keys a failed IndexLayer left.
//
// On a store that is a kv.Compacter and whose batches are kv.RangeDeleters,
// one synced batch removes the marker, deletes each of the layer's key
// ranges and marks the layer dropped, so that CompactDroppedLayers frees
// the disk space of its keys.
func DropLayer(store kv.Store, layer digest.Digest) error {
	if _, ok := store.(kv.Compacter); ok {
		b := store.NewBatch()
		defer b.Close()
		if rd, ok := b.(kv.RangeDeleter); ok {
			return dropLayerRanges(b, rd, layer)
		}
	}
	w := &batchWriter{store: store}
	defer w.close()
	if err := w.del(layerKey(layer)); err != nil {
		return err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	// Every other key of the layer starts with one of its prefixes, so
	// the keys are listed without reading the records.
	for _, p := range layerPrefixes(layer) {
		var keys [][]byte
		err := store.Scan(p, func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing index keys of layer %s: %w", layer, err)
		}
		for _, k := range keys {
			if err := w.del(k); err != nil {
				return err
			}
		}
	}
	return w.flush(true)
}

// dropLayerRanges removes the layer's keys in batch b, whose range
// deletions rd writes, and marks the layer dropped. The batch is atomic, so
// no layer is ever half dropped.
func dropLayerRanges(b kv.Batch, rd kv.RangeDeleter, layer digest.Digest) error {
	if err := b.Delete(layerKey(layer)); err != nil {
		return fmt.Errorf("deleting index marker of layer %s: %w", layer, err)
	}
	for _, p := range layerPrefixes(layer) {
		if err := rd.DeleteRange(p, keyRangeEnd(p)); err != nil {
			return fmt.Errorf("deleting index keys of layer %s: %w", layer, err)
		}
	}
	if err := b.Set(droppedKey(layer), nil); err != nil {
		return fmt.Errorf("marking layer %s dropped: %w", layer, err)
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("dropping index of layer %s: %w", layer, err)
	}
	return nil
}

// CompactDroppedLayers compacts the key ranges of every layer that
// DropLayer marked dropped, and then removes the mark, so the disk space
// of the deleted keys is freed now. Pebble otherwise frees it only when a
// compaction reaches those ranges, which the small writes of later imports
// seldom cause. A mark that a run cut short left is compacted by the next
// run, as is the mark of a layer whose compaction ctx ended. The ranges may
// hold the keys of the layer indexed again since, which the compaction
// keeps. It returns the number of layers compacted, and does nothing on a
// store that is not a kv.Compacter.
func CompactDroppedLayers(ctx context.Context, store kv.Store) (int, error) {
	c, ok := store.(kv.Compacter)
	if !ok {
		return 0, nil
	}
	var layers []digest.Digest
	start := key(prefixDropped)
	err := store.Scan(start, func(k, _ []byte) error {
		segment, _, _ := bytes.Cut(k[len(start):], []byte{0})
		d, err := digest.Parse(string(segment))
		if err != nil {
			return fmt.Errorf("index key %q names no layer digest: %w", k, err)
		}
		layers = append(layers, d)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("listing dropped layers: %w", err)
	}
	for i, layer := range layers {
		for _, p := range append(layerPrefixes(layer), layerKey(layer)) {
			if err := c.CompactRange(ctx, p, keyRangeEnd(p)); err != nil {
				return i, fmt.Errorf("compacting the index of dropped layer %s: %w", layer, err)
			}
		}
		b := store.NewBatch()
		err := b.Delete(droppedKey(layer))
		if err == nil {
			err = b.Commit(false)
		}
		b.Close()
		if err != nil {
			return i, fmt.Errorf("removing the dropped mark of layer %s: %w", layer, err)
		}
	}
	return len(layers), nil
}

// errFirstKey stops a scan at its first key.
var errFirstKey = errors.New("first key found")

// IndexedLayers lists the layers that have keys in the lookup index, with
// a marker or without one, as a DropLayer cut short leaves them. Keys
// start with their layer's digest after the prefix, so the scan reads one
// key per layer and prefix and skips over the rest of the layer's keys.
func IndexedLayers(store kv.Store) ([]digest.Digest, error) {
	seen := map[digest.Digest]bool{}
	var out []digest.Digest
	for _, p := range []string{prefixLayer, prefixRec, prefixFilter, prefixAlias, prefixPkg, prefixCPE} {
		start := key(p)
		// Only segments that start as a digest does are layers: the keys
		// of an earlier layout have a name there.
		lower := append(bytes.Clone(start), "sha256:"...)
		upper := append(bytes.Clone(start), "sha256;"...)
		for {
			var segment []byte
			err := kv.ScanRange(store, lower, upper, func(k, _ []byte) error {
				segment, _, _ = bytes.Cut(k[len(start):], []byte{0})
				segment = bytes.Clone(segment)
				return errFirstKey
			})
			if err != nil && !errors.Is(err, errFirstKey) {
				return nil, fmt.Errorf("listing indexed layers: %w", err)
			}
			if segment == nil {
				break
			}
			if d, err := digest.Parse(string(segment)); err == nil && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
			// Continue after every key that has this segment.
			lower = append(append(bytes.Clone(start), segment...), 1)
		}
	}
	return out, nil
}

// LayersInEarlierFormat counts the layers whose index an earlier index
// format wrote and that no import has indexed again since.
func LayersInEarlierFormat(store kv.Store) (int, error) {
	n := 0
	err := store.Scan(key(prefixLayer), func(_, v []byte) error {
		if string(v) != indexFormat {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading index markers: %w", err)
	}
	return n, nil
}

// EarlierLayoutKeys counts the alias, package and CPE keys that an
// earlier index format wrote, with the layer after the name, and removes
// them when remove is set. Neither DropLayer nor a new index of the layer
// finds them. While LayersInEarlierFormat counts any layer, the keys still
// serve the release that wrote them, so it leaves them and returns 0.
//
// Current keys name a layer digest that starts with "sha256:", so only the
// key ranges before and after that part of each prefix are read.
//
// NOTE: an earlier-format CPE key whose vendor is "sha256" lies in the
// skipped part and stays. NVD names no such vendor.
func EarlierLayoutKeys(store kv.Store, remove bool) (int, error) {
	if pending, err := LayersInEarlierFormat(store); err != nil || pending > 0 {
		return 0, err
	}
	w := &batchWriter{store: store}
	defer w.close()
	found := 0
	for _, p := range []string{prefixAlias, prefixPkg, prefixCPE} {
		start := key(p)
		end := append(bytes.Clone(start[:len(start)-1]), 1)
		ranges := [][2][]byte{
			{start, append(bytes.Clone(start), "sha256:"...)},
			{append(bytes.Clone(start), "sha256;"...), end},
		}
		for _, r := range ranges {
			n, err := earlierKeysIn(store, w, r[0], r[1], remove)
			found += n
			if err != nil {
				return found, fmt.Errorf("removing %s keys of an earlier index format: %w", p, err)
			}
		}
	}
	return found, nil
}

// errBatchFull stops a scan once it has listed indexBatchKeys keys.
var errBatchFull = errors.New("batch full")

// earlierKeysIn counts the keys from lower up to upper whose layer part
// is not a digest, and removes them when remove is set, a batch at a time.
func earlierKeysIn(store kv.Store, w *batchWriter, lower, upper []byte, remove bool) (int, error) {
	found := 0
	for {
		var stale [][]byte
		var last []byte
		err := kv.ScanRange(store, lower, upper, func(k, _ []byte) error {
			layer, _, _ := bytes.Cut(k[bytes.IndexByte(k, 0)+1:], []byte{0})
			if _, err := digest.Parse(string(layer)); err == nil {
				return nil
			}
			if !remove {
				found++
				return nil
			}
			stale = append(stale, bytes.Clone(k))
			if len(stale) == indexBatchKeys {
				last = stale[len(stale)-1]
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return found, err
		}
		for _, k := range stale {
			if err := w.del(k); err != nil {
				return found, err
			}
		}
		if err := w.flush(true); err != nil {
			return found, err
		}
		found += len(stale)
		if last == nil {
			return found, nil
		}
		// Continue after the last removed key.
		lower = append(last, 0)
	}
}

// batchWriter groups writes into batches of indexBatchKeys keys.
type batchWriter struct {
	store kv.Store
	b     kv.Batch
	n     int
}

func (w *batchWriter) batch() kv.Batch {
	if w.b == nil {
		w.b = w.store.NewBatch()
	}
	return w.b
}

func (w *batchWriter) set(k, v []byte) error {
	if err := w.batch().Set(k, v); err != nil {
		return fmt.Errorf("writing index key: %w", err)
	}
	return w.count()
}

func (w *batchWriter) del(k []byte) error {
	if err := w.batch().Delete(k); err != nil {
		return fmt.Errorf("deleting index key: %w", err)
	}
	return w.count()
}

func (w *batchWriter) count() error {
	w.n++
	if w.n >= indexBatchKeys {
		return w.flush(false)
	}
	return nil
}

func (w *batchWriter) flush(sync bool) error {
	if w.b == nil {
		return nil
	}
	err := w.b.Commit(sync)
	w.b.Close()
	w.b, w.n = nil, 0
	if err != nil {
		return fmt.Errorf("committing index batch: %w", err)
	}
	return nil
}

func (w *batchWriter) close() {
	if w.b != nil {
		w.b.Close()
	}
}
