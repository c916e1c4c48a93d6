package vulndb

import "encoding/json"

// LookupOutput returns r in the form that lookup output writes as JSON. It
// is the OSV record, except that an affected entry without a package has
// no "package" key, as the OSV schema requires. Layers still write such a
// package as {"ecosystem":"","name":""}, as earlier versions did. So the
// same feeds give the same layer bytes, and a build against an older base
// kit does not count those records as changed.
func LookupOutput(r Record) any {
	out := outputRecord{
		SchemaVersion: r.SchemaVersion, ID: r.ID, Modified: r.Modified, Published: r.Published,
		Withdrawn: r.Withdrawn, Aliases: r.Aliases, Upstream: r.Upstream, Related: r.Related,
		Summary: r.Summary, Details: r.Details, Severity: r.Severity, References: r.References,
		Credits: r.Credits, DatabaseSpecific: r.DatabaseSpecific,
	}
	if r.Affected != nil {
		out.Affected = make([]outputAffected, len(r.Affected))
		for i, a := range r.Affected {
			out.Affected[i] = outputAffected(a)
		}
	}
	return out
}

// outputRecord is Record as LookupOutput writes it. TestLookupOutputFields
// checks that it has the JSON fields of Record, in the same order.
type outputRecord struct {
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
	Affected         []outputAffected           `json:"affected,omitempty"`
	References       []Reference                `json:"references,omitempty"`
	Credits          []json.RawMessage          `json:"credits,omitempty"`
	DatabaseSpecific map[string]json.RawMessage `json:"database_specific,omitempty"`
}

// outputAffected is Affected as LookupOutput writes it, without "package"
// when the entry names none. Go converts between struct types only when
// their fields match, so the conversion in LookupOutput keeps the two
// types in step.
type outputAffected struct {
	Package           Package         `json:"package,omitzero"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}
