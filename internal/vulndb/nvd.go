package vulndb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// nvdCVE is the part of an NVD CVE API 2.0 "cve" object that the database
// keeps.
type nvdCVE struct {
	ID           string `json:"id"`
	Published    string `json:"published"`
	LastModified string `json:"lastModified"`
	VulnStatus   string `json:"vulnStatus"`
	Descriptions []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	Metrics struct {
		V31 []nvdMetric `json:"cvssMetricV31"`
		V30 []nvdMetric `json:"cvssMetricV30"`
		V40 []nvdMetric `json:"cvssMetricV40"`
		V2  []nvdMetric `json:"cvssMetricV2"`
	} `json:"metrics"`
	Weaknesses []struct {
		Description []struct {
			Value string `json:"value"`
		} `json:"description"`
	} `json:"weaknesses"`
	Configurations json.RawMessage `json:"configurations"`
	References     []struct {
		URL  string   `json:"url"`
		Tags []string `json:"tags"`
	} `json:"references"`
}

type nvdMetric struct {
	Type     string `json:"type"` // Primary or Secondary
	CVSSData struct {
		VectorString string `json:"vectorString"`
		// BaseSeverity is the rating of the base score, given in cvssData
		// for CVSS v3.x and v4.0 (v2.0 gives it beside cvssData).
		BaseSeverity string `json:"baseSeverity"`
	} `json:"cvssData"`
}

// nvdConfig is one NVD applicability statement.
type nvdConfig struct {
	Operator string    `json:"operator,omitempty"`
	Negate   bool      `json:"negate,omitempty"`
	Nodes    []nvdNode `json:"nodes"`
}

type nvdNode struct {
	Operator string        `json:"operator"`
	Negate   bool          `json:"negate"`
	CPEMatch []nvdCPEMatch `json:"cpeMatch"`
}

// nvdCPEMatch is one CPE match criterion with its optional version range.
type nvdCPEMatch struct {
	Vulnerable            bool   `json:"vulnerable"`
	Criteria              string `json:"criteria"`
	VersionStartIncluding string `json:"versionStartIncluding,omitempty"`
	VersionStartExcluding string `json:"versionStartExcluding,omitempty"`
	VersionEndIncluding   string `json:"versionEndIncluding,omitempty"`
	VersionEndExcluding   string `json:"versionEndExcluding,omitempty"`
}

// parseNVD decodes an NVD CVE API 2.0 response (single or one page of many),
// a {"cve": ...} wrapper, or a bare cve object, and converts each CVE to
// OSV form.
func parseNVD(name string, data []byte) ([]source, []*RecordError) {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, []*RecordError{nvdArrayError(name, trimmed)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, []*RecordError{invalidJSON(name, "", err)}
	}
	if k := osvShape(top); k != "" {
		return nil, []*RecordError{wrongKindForNVD(name, fmt.Sprintf("it has %q", k))}
	}
	if top["ghsa_id"] != nil && top["cve"] == nil {
		return nil, []*RecordError{restAdvisoryError(name, "")}
	}
	for _, k := range []string{"vulns", "results"} {
		if top[k] != nil && top["vulnerabilities"] == nil && top["cve"] == nil {
			return nil, []*RecordError{osvAPIError(name, "", k)}
		}
	}
	if top["CVE_Items"] != nil && top["vulnerabilities"] == nil && top["cve"] == nil {
		return nil, []*RecordError{nvd11Error(name)}
	}
	var items []json.RawMessage
	switch {
	case top["vulnerabilities"] != nil:
		var wrapped []struct {
			CVE json.RawMessage `json:"cve"`
		}
		if err := json.Unmarshal(top["vulnerabilities"], &wrapped); err != nil {
			return nil, []*RecordError{invalidJSON(name, "vulnerabilities", err)}
		}
		for _, w := range wrapped {
			items = append(items, w.CVE)
		}
	case top["cve"] != nil:
		items = append(items, top["cve"])
	default:
		items = append(items, data)
	}
	var out []source
	var errs []*RecordError
	for i, raw := range items {
		if err := checkRecordSize(name, fmt.Sprintf("#%d", i+1), raw, osvRecordID); err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := convertNVD(name, fmt.Sprintf("#%d", i+1), raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errs
}

func convertNVD(name, pos string, raw json.RawMessage) (source, *RecordError) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return source{}, &RecordError{File: name, Record: pos, Reason: "missing-id",
			Err: problem("missing-id", "entry has no cve object")}
	}
	var c nvdCVE
	if err := json.Unmarshal(raw, &c); err != nil {
		return source{}, invalidJSON(name, recordLabel(raw, pos), err)
	}
	id := c.ID
	if id == "" {
		id = pos
	}
	if c.ID != "" && !strings.HasPrefix(c.ID, "CVE-") {
		return source{}, &RecordError{File: name, Record: id, Reason: "not-cve",
			Err: problem("not-cve", "id %q is not a CVE ID", c.ID)}
	}
	configs, _, perr := checkConfigurations(c.Configurations)
	if perr != nil {
		return source{}, &RecordError{File: name, Record: id, Reason: perr.reason, Err: perr}
	}

	r := Record{
		ID:        c.ID,
		Modified:  c.LastModified,
		Published: c.Published,
		Details:   nvdDescription(c),
	}
	var word string
	r.Severity, word = nvdSeverity(c)
	if word != "" {
		r.DatabaseSpecific = map[string]json.RawMessage{"severity": json.RawMessage(strconv.Quote(word))}
	}
	if strings.EqualFold(c.VulnStatus, "Rejected") {
		r.Withdrawn = c.LastModified
	}
	for _, ref := range c.References {
		r.References = append(r.References, Reference{Type: nvdRefType(ref.Tags), URL: ref.URL})
	}

	orig, p := normalizeRecord(&r)
	if p != nil {
		return source{}, &RecordError{File: name, Record: id, Reason: p.reason, Err: p}
	}
	return source{rec: r, origModified: orig, config: configs, cwes: nvdCWEs(c)}, nil
}

// checkConfigurations validates NVD configurations and returns them
// re-encoded, and the vulnerable CPE criteria they name.
func checkConfigurations(raw json.RawMessage) (json.RawMessage, []nvdCPEMatch, *recordProblem) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var configs []nvdConfig
	if err := json.Unmarshal(raw, &configs); err != nil {
		return nil, nil, problem("invalid-configurations", "configurations are not NVD 2.0 form: %v", err)
	}
	var cpes []nvdCPEMatch
	for _, c := range configs {
		for _, n := range c.Nodes {
			for _, m := range n.CPEMatch {
				if _, err := parseCPE(m.Criteria); err != nil {
					return nil, nil, problem("invalid-cpe", "CPE match criteria %q: %v", m.Criteria, err)
				}
				cpes = append(cpes, m)
			}
		}
	}
	if len(configs) == 0 {
		return nil, nil, nil
	}
	out, _ := marshalJSON(configs)
	return out, cpes, nil
}

// nvdDescription returns the English description, else the first one.
func nvdDescription(c nvdCVE) string {
	for _, d := range c.Descriptions {
		if d.Lang == "en" {
			return d.Value
		}
	}
	if len(c.Descriptions) > 0 {
		return c.Descriptions[0].Value
	}
	return ""
}

// nvdSeverity keeps one CVSS v3.x vector (v3.1, else v3.0) and one v4.0
// vector, preferring NVD's own "Primary" score to a CNA's "Secondary" one.
// A record with neither, such as many older records, keeps its
// CVSS v2.0 vector instead. Reports compute the base score from the
// vector, so NVD's baseScore is not kept.
//
// When a v4.0 vector is the only one kept, nvdSeverity also returns NVD's
// rating of its score (CRITICAL, HIGH, MEDIUM or LOW), which the caller
// stores as the source's rating word. Reports show that word when they
// cannot score the vector, such as a partial one. Otherwise, and for
// NONE, which reports do not show as a rating word, it returns "".
func nvdSeverity(c nvdCVE) ([]Severity, string) {
	var out []Severity
	pick := func(ms []nvdMetric) (nvdMetric, bool) {
		best, found := nvdMetric{}, false
		for _, m := range ms {
			if m.CVSSData.VectorString == "" {
				continue
			}
			if m.Type == "Primary" {
				return m, true
			}
			if !found {
				best, found = m, true
			}
		}
		return best, found
	}
	v3, ok := pick(c.Metrics.V31)
	if !ok {
		v3, ok = pick(c.Metrics.V30)
	}
	if ok {
		out = append(out, Severity{Type: "CVSS_V3", Score: v3.CVSSData.VectorString})
	}
	word := ""
	if v4, ok := pick(c.Metrics.V40); ok {
		out = append(out, Severity{Type: "CVSS_V4", Score: v4.CVSSData.VectorString})
		if len(out) == 1 {
			word = normalizeRating(v4.CVSSData.BaseSeverity)
		}
	}
	if v2, ok := pick(c.Metrics.V2); ok && len(out) == 0 {
		out = append(out, Severity{Type: "CVSS_V2", Score: v2.CVSSData.VectorString})
	}
	return out, word
}

func nvdCWEs(c nvdCVE) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range c.Weaknesses {
		for _, d := range w.Description {
			if strings.HasPrefix(d.Value, "CWE-") && !seen[d.Value] {
				seen[d.Value] = true
				out = append(out, d.Value)
			}
		}
	}
	sort.Strings(out)
	return out
}

// nvdRefType maps NVD reference tags to the OSV reference type.
func nvdRefType(tags []string) string {
	for _, t := range tags {
		switch t {
		case "Patch":
			return "FIX"
		case "Vendor Advisory", "Third Party Advisory", "US Government Resource":
			return "ADVISORY"
		case "Exploit":
			return "EVIDENCE"
		case "Issue Tracking":
			return "REPORT"
		case "Release Notes", "Product":
			return "PACKAGE"
		}
	}
	return "WEB"
}

// marshalJSON encodes v without HTML escaping and without a trailing
// newline, so that records keep their text readable and bytes stable.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
