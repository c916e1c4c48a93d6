package vulndb

import (
	"encoding/json"
	"fmt"
)

// reasonWrongKind is the skip reason of a file whose records have the
// shape of another feed kind, such as OSV records given as an nvd feed.
const reasonWrongKind = "wrong-feed-kind"

// osvDocument is an OSV record together with the top-level keys by which
// NVD JSON is recognised when it is given as an OSV feed. Without them an
// NVD "cve" object would pass as an OSV record with no affected packages.
type osvDocument struct {
	Record
	Vulnerabilities json.RawMessage `json:"vulnerabilities"`
	CVE             json.RawMessage `json:"cve"`
	CVEItems        json.RawMessage `json:"CVE_Items"`
	LastModified    json.RawMessage `json:"lastModified"`
	// GHSAID marks an advisory of the GitHub REST API, whose
	// "vulnerabilities" list would otherwise pass it off as NVD JSON.
	GHSAID json.RawMessage `json:"ghsa_id"`
	// Vulns and Results mark a response of the OSV API to a query and to
	// a batch query.
	Vulns   json.RawMessage `json:"vulns"`
	Results json.RawMessage `json:"results"`
}

// apiShape returns the top-level key that marks doc as a response of the
// OSV API rather than an OSV record, or "" when there is none.
func (doc *osvDocument) apiShape() string {
	switch {
	case doc.ID != "":
		return ""
	case doc.Vulns != nil:
		return "vulns"
	case doc.Results != nil:
		return "results"
	}
	return ""
}

// osvAPIError is the rejection of a response of the OSV API, which lists
// records under the key shape, given as any feed.
func osvAPIError(name, pos, shape string) *RecordError {
	return &RecordError{File: name, Record: pos, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, "file looks like an OSV API response (it has %q), not an OSV record, "+
			"and a batch query response holds only record IDs; download the records instead, such as "+
			"osv.dev's all.zip of an ecosystem, and read them as an osv feed (--feed osv=PATH)", shape)}
}

// nvdShape returns the top-level key that marks doc as NVD JSON rather
// than an OSV record, or "" when there is none.
func (doc *osvDocument) nvdShape() string {
	switch {
	case doc.Vulnerabilities != nil:
		return "vulnerabilities"
	case doc.CVE != nil:
		return "cve"
	case doc.CVEItems != nil:
		return "CVE_Items"
	case doc.LastModified != nil && doc.Modified == "":
		// A bare NVD cve object has lastModified where OSV has modified.
		return "lastModified"
	}
	return ""
}

// wrongKindForOSV is the rejection of a file or array entry given as an
// OSV feed that has the NVD key named by shape.
func wrongKindForOSV(name, pos, shape string) *RecordError {
	if shape == "CVE_Items" {
		return &RecordError{File: name, Record: pos, Reason: reasonWrongKind,
			Err: problem(reasonWrongKind, `file looks like an NVD JSON 1.1 data feed (it has "CVE_Items"), `+
				"not OSV JSON; download the CVEs from the NVD CVE API 2.0 and read them as an nvd feed (--feed nvd=PATH)")}
	}
	return &RecordError{File: name, Record: pos, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, "file looks like NVD CVE API 2.0 JSON (it has %q), not OSV JSON; "+
			"read it as an nvd feed (--feed nvd=PATH)", shape)}
}

// restAdvisoryError is the rejection of an advisory of the GitHub REST
// API, which has "ghsa_id" where an OSV record has "id", given as any feed.
func restAdvisoryError(name, pos string) *RecordError {
	return &RecordError{File: name, Record: pos, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, `file looks like a GitHub REST API advisory (it has "ghsa_id"), `+
			"which no feed reads; read the OSV records of a checkout of github/advisory-database "+
			"as a ghsa feed (--feed ghsa=PATH)")}
}

// nvd11Error is the rejection of an NVD JSON 1.1 data feed given as an nvd
// feed. Its CVEs have another shape than those of the CVE API 2.0, so
// without this check each file would be rejected as a record without an ID.
func nvd11Error(name string) *RecordError {
	return &RecordError{File: name, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, `file looks like an NVD JSON 1.1 data feed (it has "CVE_Items"), `+
			"which the nvd feed does not read; download the CVEs from the NVD CVE API 2.0 instead")}
}

// osvKeys are top-level keys of an OSV record that NVD CVE API 2.0 JSON
// never has at the top level.
var osvKeys = []string{"affected", "schema_version", "modified", "aliases"}

// osvShape returns the OSV key of top, a decoded top-level object of a file
// given as an nvd feed, that marks it as an OSV record, or "" when top has
// none or also has an NVD key.
func osvShape(top map[string]json.RawMessage) string {
	if top["vulnerabilities"] != nil || top["cve"] != nil || top["lastModified"] != nil {
		return ""
	}
	for _, k := range osvKeys {
		if top[k] != nil {
			return k
		}
	}
	return ""
}

// wrongKindForNVD is the rejection of a file given as an nvd feed that has
// the shape of OSV JSON. evidence names the shape, such as `it has "affected"`.
func wrongKindForNVD(name, evidence string) *RecordError {
	return &RecordError{File: name, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, "file looks like OSV JSON (%s), not NVD CVE API 2.0 JSON; "+
			"read it as an osv, ghsa or regional feed, such as --feed osv=PATH", evidence)}
}

// nvdArrayError is the rejection of a JSON array given as an nvd feed. NVD
// CVE API 2.0 JSON is always an object, while an OSV feed may be an array
// of records.
func nvdArrayError(name string, data []byte) *RecordError {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(data, &items); err == nil && len(items) > 0 {
		if k := osvShape(items[0]); k != "" {
			return wrongKindForNVD(name, fmt.Sprintf("an array of records, the first with %q", k))
		}
	}
	return &RecordError{File: name, Reason: reasonWrongKind,
		Err: problem(reasonWrongKind, "file is a JSON array, and NVD CVE API 2.0 JSON is an object "+
			`such as {"vulnerabilities":[{"cve":…}]}; an array of OSV records is read as an osv feed (--feed osv=PATH)`)}
}
