package importer

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci/layout"
	"stella-ops.org/ouk/oci/sign"
)

// MaxManifestSize is the largest manifest, image index or signature bundle
// an import parses. Larger descriptors are rejected before any byte is read.
const MaxManifestSize = 4 << 20

// Options configures an import.
type Options struct {
	// Store is the content store the kit is imported into. Required.
	Store *cas.Store
	// Keys are the trusted public keys; a kit must carry a signature by
	// one of them unless InsecureSkipSignature is set.
	Keys []sign.TrustedKey
	// KeysDir is the folder of trusted keys that a message about a missing
	// key names; empty means "$STELLA_HOME/keys".
	KeysDir string
	// Registry is REGISTRY/REPOSITORY when the kit is read from a
	// registry, else empty. A kit without signatures is then reported as
	// one whose registry lists none, since a copy made without its
	// referrers loses them.
	Registry string
	// SignatureLookup describes where the signature referrers were looked
	// up in Registry and what was found, such as "the referrers API lists
	// no referrer of the kit, and tag sha256-… does not exist". The
	// message for a kit without signatures quotes it.
	SignatureLookup string
	// OtherReferrers counts the referrers of the bundle index in Registry
	// when none is a signature. A copy made without referrers leaves
	// them all behind, so a count above 0 means the kit was most likely
	// pushed without a signature, and the error states that.
	OtherReferrers int
	// SourcePath is the kit file being imported, or empty for a layout
	// folder, a registry or standard input. The rejection of a delta
	// whose base is missing names the full kit file beside it.
	SourcePath string
	// InsecureSkipSignature imports a kit without a valid signature.
	InsecureSkipSignature bool
	// AllowDowngrade imports a kit whose sequence number is lower than the
	// active kit's; the history records the downgrade.
	AllowDowngrade bool
	// AllowExpired imports a kit past its signed expiry time, with a warning.
	AllowExpired bool
	// Limits bound what the tar reader accepts; zero fields take the
	// layout package's defaults.
	Limits layout.Limits
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Logger receives progress and decisions; default discards.
	Logger *slog.Logger
	// Progress, when set, is called as bytes are read from the source.
	Progress func(Progress)
	// ImageWarnings, when set, returns warnings about the image children of
	// the kit's bundle index, such as references that `stella ouk mirror`
	// rejects. The import still accepts the kit. It stores the warnings in
	// Result.ImageWarnings and adds them to the history note of the kit.
	ImageWarnings func(children []ocispec.Descriptor) []string
	// FreeSpace returns the bytes free for the store in dir; default the
	// file system's figure for unprivileged users. Tests replace it.
	FreeSpace func(dir string) (int64, error)
}

// Progress reports how far an import has read.
type Progress struct {
	// BytesRead counts bytes of blobs read from the source so far.
	BytesRead int64
	// Blob is the digest of the blob being read, empty between blobs.
	Blob string
}

func (o *Options) validate() error {
	if o.Store == nil {
		return fmt.Errorf("import options: no store given")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FreeSpace == nil {
		o.FreeSpace = freeSpace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Result summarises an import.
type Result struct {
	Digest        string    `json:"digest"`
	Version       string    `json:"version"`
	Sequence      int64     `json:"sequence"`
	Kind          string    `json:"kind"`
	BaseDigest    string    `json:"baseDigest,omitempty"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires,omitzero"`
	BytesRead     int64     `json:"bytesRead"`
	BytesStored   int64     `json:"bytesStored"`
	BlobsStored   int       `json:"blobsStored"`
	BlobsSkipped  int       `json:"blobsSkipped"`
	LayersIndexed int       `json:"layersIndexed"`
	// LayersFromTables counts the layers of LayersIndexed whose pre-built
	// index tables the import ingested.
	LayersFromTables int `json:"layersFromTables"`
	// TablesSkipped counts the pre-built index tables the import did not
	// read, because their layers were indexed already or it cannot use them.
	// BlobsSkipped does not count them, since tables are never stored.
	TablesSkipped int    `json:"tablesSkipped"`
	SignedBy      string `json:"signedBy,omitempty"`
	AlreadyActive bool   `json:"alreadyActive"`
	Action        string `json:"action"`
	// Warnings lists the overrides the import used and the pre-built
	// tables it could not use. The logger gets them only when the import
	// fails, at warn level.
	Warnings []string `json:"warnings,omitempty"`
	// ImageWarnings lists the warnings of Options.ImageWarnings. They are
	// left out of the JSON form, so the caller decides where they go.
	ImageWarnings []string `json:"-"`
}
