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
//	layer/L                      "1" once every other key of L is written
//	rec/L/ID                     the record's OSV JSON (or its tombstone)
//	alias/ALIAS/L/ID             empty; ALIAS is the record's ID or an alias
//	pkg/ECOSYSTEM/NAME/L/ID      empty; ECOSYSTEM without its ":release" suffix
//	cpe/VENDOR:PRODUCT/L/ID      empty; from NVD CPE match criteria
//
// Path segments are separated by a NUL byte in the real keys, so IDs and
// names that contain "/" stay unambiguous.
package vulndb
