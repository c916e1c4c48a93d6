// Package vulndb builds the kit's vulnerability database from OSV, GHSA, NVD
// and regional feeds, and answers lookups from it on the isolated host.
//
// Build reads the feeds, merges records that name each other through
// aliases into one OSV-schema record per stable ID, and writes the result as
// layers: zstd-compressed NDJSON, one record per line, sorted by ID. Base
// layers hold the full set split by ecosystem and ID range, and an overlay layer
// holds the records changed since a previous build plus tombstones. The
// newest layer wins.
//
// IndexLayer indexes one layer into a kv.Store, and Open stacks indexed
// layers into a DB. The index keys, per layer digest L, are:
//
//	layer/L                      index format ("4") once every other key of L is written
//	filter/L                     Bloom filter of the record IDs in L, tombstones included
//	rec/L/ID                     the record (or its tombstone) in the binary form
//	                             of encodeStoredRecord
//	alias/L/ALIAS/ID             empty; ALIAS is the record's ID or an alias
//	pkg/L/ECOSYSTEM/NAME/ID      the record's affected entries for the package:
//	                             ecosystem, versions, SEMVER and ECOSYSTEM ranges
//	                             (binary, see encodePkgValue); ECOSYSTEM without
//	                             its ":release" suffix
//	cpe/L/VENDOR:PRODUCT/ID      empty; from NVD CPE match criteria
//	dropped/L                    empty; DropLayer deleted L's keys and
//	                             CompactDroppedLayers has not compacted them yet
//
// The layer digest comes right after the prefix, so each layer's keys of
// one prefix form a range of their own. A new layer's tables then overlap
// no other layer's keys, and the store places them without merging them
// with the keys of the layers below. A lookup by alias, package or CPE
// reads one short range per layer of its stack.
//
// A lookup finds the newest layer of its stack that holds an ID by testing
// the filters newest first and reading rec/L/ID only where a filter may
// hold it. A purl lookup matches versions against the pkg values and reads
// only the records that match. An index written in an older format does
// not count as indexed, so the importer indexes the layer again.
//
// Path segments are separated by a NUL byte in the real keys, so IDs and
// names that contain "/" stay unambiguous.
package vulndb
