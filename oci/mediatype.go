// Package oci defines the Offline Update Kit format: media types, annotations
// and the kit metadata carried in the bundle index. The subpackages read and
// write kits as OCI image layouts (layout) and sign and verify them (sign).
package oci

// Media and artifact types of the objects in a kit.
const (
	// ArtifactTypePrefix starts every media and artifact type that the kit
	// format defines. SBOMs and signatures use the standard types below.
	ArtifactTypePrefix = "application/vnd.stellaops.ouk."
	// ArtifactTypeBundle is the artifactType of the bundle index, the OCI image
	// index that lists every part of a kit and carries its metadata.
	ArtifactTypeBundle = "application/vnd.stellaops.ouk.bundle.v1+json"
	// ArtifactTypeDB is the artifactType of the vulnerability DB manifest.
	ArtifactTypeDB = "application/vnd.stellaops.ouk.db.v1+json"
	// MediaTypeDBConfig is the config blob of the DB manifest: build time,
	// sources and record counts as JSON.
	MediaTypeDBConfig = "application/vnd.stellaops.ouk.db.config.v1+json"
	// MediaTypeDBLayer is one DB layer: OSV JSON records, one per line,
	// sorted by ID and compressed with zstd.
	MediaTypeDBLayer = "application/vnd.stellaops.ouk.db.layer.v1.ndjson+zstd"
	// MediaTypeSPDX is an SPDX 2.3 JSON document, used both as the SBOM
	// manifest's artifactType and as its single layer.
	MediaTypeSPDX = "application/spdx+json"
	// MediaTypeSigstoreBundle is a sigstore bundle (v0.3) holding a signature
	// over a manifest; it is the artifactType and the layer of a signature
	// referrer.
	MediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// ArtifactTypeDBIndex is the artifactType of the manifest that lists a
	// kit's pre-built lookup index tables. index.json names it beside the
	// bundle index, and the bundle index names its digest, so the bundle's
	// signature covers it.
	ArtifactTypeDBIndex = "application/vnd.stellaops.ouk.db.index.v1+json"
	// MediaTypeDBIndexTable is one pre-built lookup index table: an sstable
	// that an import ingests into its store as it is.
	MediaTypeDBIndexTable = "application/vnd.stellaops.ouk.db.index.table.v1.sstable"
)

// Annotation keys. The kit metadata keys live on the bundle index, so the
// signature over the bundle index covers them.
const (
	// AnnotationPrefix starts every annotation key that the kit format
	// defines.
	AnnotationPrefix = "org.stellaops.ouk."

	// AnnotationRefName is the standard OCI tag annotation used in index.json.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationCreated is the standard OCI creation time, RFC 3339 in UTC.
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationTitle is the standard OCI title, used for layer file names.
	AnnotationTitle = "org.opencontainers.image.title"

	// AnnotationVersion is the kit version chosen by its builder.
	AnnotationVersion = "org.stellaops.ouk.version"
	// AnnotationSequence is the kit sequence number, a decimal integer that
	// grows with every kit; import rejects a lower one than the active kit's.
	AnnotationSequence = "org.stellaops.ouk.sequence"
	// AnnotationExpires is the time after which import rejects the kit,
	// RFC 3339 in UTC; absent means the kit does not expire.
	AnnotationExpires = "org.stellaops.ouk.expires"
	// AnnotationSchema is the DB schema version of the kit.
	AnnotationSchema = "org.stellaops.ouk.db.schema"
	// AnnotationKind is "full" or "delta".
	AnnotationKind = "org.stellaops.ouk.kind"
	// AnnotationBaseDigest is, on a delta, the digest of the base bundle index.
	AnnotationBaseDigest = "org.stellaops.ouk.base.digest"
	// AnnotationBaseVersion is, on a delta, the version of the base kit.
	AnnotationBaseVersion = "org.stellaops.ouk.base.version"

	// AnnotationDBIndex is, on a bundle index, the digest of the manifest
	// of the kit's pre-built lookup index tables. A delta names it too but
	// leaves it out, so an import of a delta indexes its layers itself.
	AnnotationDBIndex = "org.stellaops.ouk.db.index"
	// AnnotationIndexFormat is, on the manifest of pre-built index tables,
	// the layout of their keys. An import uses only tables of its own
	// layout.
	AnnotationIndexFormat = "org.stellaops.ouk.db.index.format"
	// AnnotationIndexLayer is, on a pre-built index table, the digest of
	// the DB layer whose keys it contains.
	AnnotationIndexLayer = "org.stellaops.ouk.db.index.layer"

	// AnnotationRole marks each child of the bundle index: "db", "image" or "sbom".
	AnnotationRole = "org.stellaops.ouk.role"
	// AnnotationImageRef is the reference an image child is mirrored to,
	// such as "registry.example/stella-ops/scanner:0.1.0".
	AnnotationImageRef = "org.stellaops.ouk.image.ref"

	// AnnotationLayerKind is "base" or "overlay" on a DB layer.
	AnnotationLayerKind = "org.stellaops.ouk.db.layer.kind"
	// AnnotationLayerEcosystem is the ecosystem a base layer covers.
	AnnotationLayerEcosystem = "org.stellaops.ouk.db.layer.ecosystem"
	// AnnotationLayerRecords is the number of records (tombstones included) in a layer.
	AnnotationLayerRecords = "org.stellaops.ouk.db.layer.records"
)

// Roles of the children of a bundle index.
const (
	RoleDB    = "db"
	RoleImage = "image"
	RoleSBOM  = "sbom"
)

// Kinds of kit.
const (
	KindFull  = "full"
	KindDelta = "delta"
)

// SchemaVersion is the DB schema version this build of the tool writes and reads.
const SchemaVersion = "1"
