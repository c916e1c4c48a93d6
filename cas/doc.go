// Package cas is the content-addressable store of the isolated host: one
// Pebble database holding blobs, their graph edges, tags, the active kit,
// its history, leases and the namespaced key-value data of other packages.
//
// The store implements the oras-go content interfaces (content.Storage,
// content.TagResolver, content.Untagger, content.PredecessorFinder and
// content.Deleter), so oras.Copy moves graphs in and out of it.
//
// # Key layout
//
// Every key starts with a one-letter prefix and a slash. A digest is written
// in its string form ("sha256:<hex>"), and big-endian integers keep chunks in
// order under one blob.
//
//	<pebble dir>
//	├── b/<digest>                      blob metadata (JSON): size, chunk size,
//	│                                   sniffed media type, stored time, children
//	├── c/<digest>/<index>              blob data, one chunk per key; index is an
//	│                                   8-byte big-endian chunk number from 0
//	├── p/<child digest>/<parent digest> predecessor edge (JSON): the parent's
//	│                                   descriptor and whether child is its subject
//	├── t/<reference>                   tag (JSON descriptor)
//	├── r/active                        active kit (JSON KitRecord)
//	├── r/format                        store format in decimal. Stores written
//	│                                   before format 2 lack it, and their blobs of
//	│                                   256 KiB to 4 MiB have no manifest media type
//	│                                   or edges
//	├── h/<16-digit sequence>           activation history (JSON KitRecord),
//	│                                   a zero-padded decimal counter from 1
//	├── l/<digest>/<holder>             lease: the RFC 3339 time it was taken (Pin), or JSON
//	│                                   with that time and the holder's PID, start time,
//	│                                   boot ID, PID namespace and host (PinProcess)
//	├── g/<digest>                      a large blob GC removed whose chunk range it
//	│                                   has not compacted yet: its size in decimal
//	└── n/<namespace>/<key>             key-value data of KV(namespace); the
//	                                    namespace is query-escaped, so it never
//	                                    contains a slash
//
// # Durability
//
// Push writes the chunks of a blob in unsynced batches of bounded size, then
// checks size and digest and writes b/<digest> in one synced batch. Pebble
// keeps a single write-ahead log, so syncing the metadata batch also makes
// every earlier chunk batch durable: after a crash a blob is either fully
// readable or has no metadata key. Chunks left without metadata by a crash are
// removed by the next Push of the same digest or by GC.
//
// Blobs of 256 KiB and more skip the write-ahead log: Push writes their chunks
// into a new sstable under the ingest/ folder of the Pebble directory, syncs
// it, checks size and digest, and ingests the table, which Pebble links into
// the database in one durable step. The bytes of a large image layer so
// reach the disk once. The synced metadata batch follows the ingestion.
// Open deletes sstables that a crash left in ingest/.
//
// Activate writes r/active and the next h/ entry in one synced batch.
//
// # Locking
//
// Pebble locks its directory for one process. A second Open of the same
// directory, from this or another process, fails with an *InUseError,
// which wraps errdef.ErrStoreInUse, or waits for the release while
// Options.LockWait allows. It waits in the kernel for the lock file to be
// free, so it takes the store as soon as the holder releases it.
// The exception is a store whose lock file cannot be written, opened with
// Options.ReadOnlyIfUnwritable. Such readers share a read lock on the
// file, which still excludes every writer on this host (see lockShared).
package cas
