// Package errdef defines the sentinel errors shared by the kit, store and
// import packages. Callers test for them with errors.Is; every package wraps
// them with context on the way up.
package errdef

import (
	"errors"

	orasErrdef "oras.land/oras-go/v2/errdef"
)

var (
	// ErrNotFound is returned when a blob, reference, record or kit is absent.
	// It is oras-go's sentinel, so oras.Copy recognises the store's misses.
	ErrNotFound = orasErrdef.ErrNotFound
	// ErrAlreadyExists is returned when a write names content that is stored
	// already. It is oras-go's sentinel, so oras.Copy skips such blobs.
	ErrAlreadyExists = orasErrdef.ErrAlreadyExists
	// ErrDigestMismatch is returned when bytes do not hash to the digest that names them.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch is returned when bytes disagree with the size a descriptor declares.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrSizeExceedsLimit is returned when an input is larger than a configured limit.
	ErrSizeExceedsLimit = errors.New("size exceeds limit")
	// ErrInvalidKit is returned when a kit's layout, tar stream or manifests are malformed.
	ErrInvalidKit = errors.New("invalid kit")
	// ErrUnsafePath is returned for a tar entry that could escape or alias the layout.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrUnknownCompression is returned when a stream is neither plain tar, gzip nor zstd.
	ErrUnknownCompression = errors.New("unknown compression")
	// ErrSignature is returned when a kit is unsigned, tampered with or signed by an untrusted key.
	ErrSignature = errors.New("signature verification failed")
	// ErrDowngrade is returned when a kit's sequence number is lower than the active kit's.
	ErrDowngrade = errors.New("downgrade rejected")
	// ErrExpired is returned when a kit is past its signed expiry time.
	ErrExpired = errors.New("kit expired")
	// ErrBaseMissing is returned when a delta's base kit or omitted blobs are not in the store.
	ErrBaseMissing = errors.New("delta base missing")
	// ErrTransferFailed is returned when a download gives up after
	// repeated failures of the connection, which are no fault of the kit.
	// The CLI exits with its general error code for it.
	ErrTransferFailed = errors.New("transfer failed")
	// ErrStoreInUse is returned when another process holds the store's lock.
	ErrStoreInUse = errors.New("store in use")
	// ErrDiskFull is returned when the volume that holds the store has too
	// little free space for a write or an import, or the user's disk quota
	// on it is used up. The CLI exits with its general error code for it.
	ErrDiskFull = errors.New("disk full")
	// ErrOpenAbandoned is returned when an open of the store found its
	// volume full partway through and could not be undone, so this
	// process keeps the store's lock until it exits. An error that wraps
	// it also wraps ErrDiskFull.
	ErrOpenAbandoned = errors.New("store open abandoned")
	// ErrStoreDamaged is returned when a file of the store's database is
	// damaged or missing, as after bit rot on the disk. Importing a kit
	// again does not repair it, because an import skips the blobs that the
	// store holds. The CLI exits with its general error code for it.
	ErrStoreDamaged = errors.New("store damaged")
	// ErrInvalidRecord is returned for a vulnerability record that cannot be parsed.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidArgument is returned for a malformed value given by the
	// caller, such as a purl or CPE to look up. The CLI exits with its usage
	// code for it.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrEmptyFeed is returned when a vulnerability feed yields no valid records.
	ErrEmptyFeed = errors.New("feed yielded no records")
	// ErrSourceMissing is returned when a build on a base DB lacks a source
	// that contributed records to the base, which would remove those records.
	ErrSourceMissing = errors.New("source missing from build")
	// ErrMassRemoval is returned when a build on a base DB would remove more
	// of the base's records than the removal limit allows.
	ErrMassRemoval = errors.New("too many records removed")
)
