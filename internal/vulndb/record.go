package vulndb

import (
	"encoding/json"
)

// Record is one vulnerability in the OSV schema (1.x). Fields the database
// does not interpret are kept as raw JSON so no source data is lost.
type Record struct {
	SchemaVersion    string                     `json:"schema_version,omitempty"`
	ID               string                     `json:"id"`
	Modified         string                     `json:"modified"`
	Published        string                     `json:"published,omitempty"`
	Withdrawn        string                     `json:"withdrawn,omitempty"`
	Aliases          []string                   `json:"aliases,omitempty"`
	Upstream         []string                   `json:"upstream,omitempty"`
	Related          []string                   `json:"related,omitempty"`
	Summary          string                     `json:"summary,omitempty"`
	Details          string                     `json:"details,omitempty"`
	Severity         []Severity                 `json:"severity,omitempty"`
	Affected         []Affected                 `json:"affected,omitempty"`
	References       []Reference                `json:"references,omitempty"`
	Credits          []json.RawMessage          `json:"credits,omitempty"`
	DatabaseSpecific map[string]json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is one OSV severity score, such as a CVSS vector.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Reference is one OSV reference link.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Package names an affected package.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Affected is one OSV affected entry: a package and the versions of it that
// the vulnerability affects.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Range is one OSV range of affected versions.
type Range struct {
	Type             string          `json:"type"`
	Repo             string          `json:"repo,omitempty"`
	Events           []Event         `json:"events"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Event is one OSV range event, with exactly one field set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// dbKey is the key under database_specific that holds what this database
// adds to a record: provenance, NVD data and the tombstone flag.
const dbKey = "stellaops"

// Provenance names one source record that contributed to a merged record.
type Provenance struct {
	Feed      string `json:"feed"`
	Catalogue string `json:"catalogue,omitempty"`
	ID        string `json:"id"`
	Modified  string `json:"modified"`
	Withdrawn string `json:"withdrawn,omitempty"`
}

// Extra is the content of database_specific.stellaops on a record written
// by Build.
type Extra struct {
	// Tombstone is true on an overlay entry that removes the record with
	// this ID from the layers below it.
	Tombstone bool `json:"tombstone,omitempty"`
	// Sources lists every source record merged into this one, sorted by
	// feed, catalogue and ID.
	Sources []Provenance `json:"sources,omitempty"`
	// CWEs lists the CWE IDs named by any source.
	CWEs []string `json:"cwe_ids,omitempty"`
	// Configurations are the NVD CPE applicability statements, as NVD
	// publishes them in the CVE API 2.0.
	Configurations json.RawMessage `json:"nvd_configurations,omitempty"`
	// PossiblyAffected is the reason a lookup could neither confirm nor
	// rule out the record. Examples are a range version that the
	// ecosystem's order cannot parse, a queried version that is not valid
	// in the ecosystem, and a CPE criterion without a version. LookupPURL
	// and LookupCPE set it in their results, and no layer stores it.
	PossiblyAffected string `json:"possibly_affected,omitempty"`
}

// extra decodes database_specific.stellaops. A record without it yields
// the zero Extra.
func (r *Record) extra() Extra {
	var e Extra
	if raw, ok := r.DatabaseSpecific[dbKey]; ok {
		_ = json.Unmarshal(raw, &e)
	}
	return e
}

// Tombstone reports whether r is an overlay entry that removes its ID.
func (r *Record) Tombstone() bool {
	raw, found := r.DatabaseSpecific[dbKey]
	if !found {
		return false
	}
	if t, ok := tombstoneFast(raw); ok {
		return t
	}
	return r.extra().Tombstone
}

// PossiblyAffected returns why a package or CPE lookup could not decide
// whether r affects the queried version, or "" when it decided. Such a
// record is returned rather than dropped, so a range that cannot be
// evaluated, or a CPE criterion without a version, never hides a
// vulnerability.
func (r *Record) PossiblyAffected() string { return r.extra().PossiblyAffected }

// markPossiblyAffected returns a copy of r with
// database_specific.stellaops.possibly_affected set to reason. The copy
// shares every field but database_specific with r, which may be cached.
func markPossiblyAffected(r Record, reason string) Record {
	return withStellaOpsField(r, "possibly_affected", reason)
}

// Sources returns the provenance of every source record merged into r.
func (r *Record) Sources() []Provenance { return r.extra().Sources }

// source is one record read from a feed, before merging.
type source struct {
	rec       Record
	feed      string // osv, ghsa, nvd or regional
	catalogue string // regional catalogue name
	cwes      []string
	config    json.RawMessage // NVD configurations
	// origModified is the modified time as the feed gave it, before a
	// modified time earlier than published was corrected.
	origModified string
	groupCVE     string // the CVE ID of the source's alias group, if any
	// warnings are the problems with the record's packages that
	// resolvePackages found, until the feed reader reports them.
	warnings []*RecordError
}
