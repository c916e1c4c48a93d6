package feedgen

import (
	"encoding/json"
	"fmt"
	"strings"
)

type osvRecord struct {
	SchemaVersion    string          `json:"schema_version"`
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity,omitempty"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package  osvPackage `json:"package"`
	Ranges   []osvRange `json:"ranges,omitempty"`
	Versions []string   `json:"versions,omitempty"`
}

type osvPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

type osvRange struct {
	Type   string           `json:"type"`
	Events []map[string]any `json:"events"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// rangeType is the OSV range type a database uses for an ecosystem.
func rangeType(eco string) string {
	switch baseEco(eco) {
	case "Go", "crates.io":
		return "SEMVER"
	}
	return "ECOSYSTEM"
}

// osvJSON renders a GHSA advisory (ghsa true) or an OSV-native record.
func osvJSON(v *vuln, id, summary, details string, ghsa bool) []byte {
	r := osvRecord{SchemaVersion: "1.6.0", ID: id, Modified: rfc3339(v.modified),
		Published: rfc3339(v.published), Details: details, Aliases: []string{}}
	if !v.withdrawn.IsZero() {
		r.Withdrawn = rfc3339(v.withdrawn)
	}
	if v.cve != "" {
		r.Aliases = append(r.Aliases, v.cve)
	}
	if ghsa || !strings.HasPrefix(id, "MAL-") {
		r.Summary = summary
		r.Severity = []osvSeverity{{Type: "CVSS_V3", Score: v.severity.vector()}}
	}
	for _, p := range v.pkgs {
		a := osvAffected{Package: osvPackage{Ecosystem: p.eco, Name: p.name}}
		if !ghsa {
			a.Package.PURL = purlOf(p.eco, p.name, "")
		}
		for _, s := range p.spans {
			rg := osvRange{Type: rangeType(p.eco)}
			intro := "0"
			if s.hasIntro {
				intro = s.introduced.format(p.eco)
			}
			rg.Events = append(rg.Events, map[string]any{"introduced": intro})
			if s.hasFix {
				rg.Events = append(rg.Events, map[string]any{"fixed": s.fixed.format(p.eco)})
			}
			a.Ranges = append(a.Ranges, rg)
			if p.list {
				a.Versions = append(a.Versions, listVersions(s, p.eco)...)
			}
		}
		r.Affected = append(r.Affected, a)
	}
	if v.cve != "" {
		r.References = append(r.References, osvReference{"ADVISORY", "https://nvd.nist.gov/vuln/detail/" + v.cve})
	}
	for i, u := range v.refs {
		t := "WEB"
		if strings.Contains(u, "/commit/") {
			t = "FIX"
		} else if i == 0 && ghsa {
			t = "PACKAGE"
		}
		r.References = append(r.References, osvReference{t, u})
	}
	_, sev := v.severity.score()
	if ghsa {
		r.DatabaseSpecific, _ = json.Marshal(map[string]any{
			"cwe_ids":            []string{fmt.Sprintf("CWE-%d", v.cwe)},
			"severity":           sev,
			"github_reviewed":    true,
			"github_reviewed_at": rfc3339(v.published),
			"nvd_published_at":   nil,
		})
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	return b
}

// listVersions enumerates the versions a span covers, as PYSEC records
// list them, at most 40.
func listVersions(s span, eco string) []string {
	var out []string
	v := s.introduced
	for len(out) < 40 && (!s.hasFix || v.less(s.fixed)) {
		out = append(out, v.format(eco))
		v.patch++
		if v.patch > 30 {
			break
		}
	}
	return out
}

type nvdCVE struct {
	ID               string           `json:"id"`
	SourceIdentifier string           `json:"sourceIdentifier"`
	Published        string           `json:"published"`
	LastModified     string           `json:"lastModified"`
	VulnStatus       string           `json:"vulnStatus"`
	Descriptions     []nvdText        `json:"descriptions"`
	Metrics          map[string]any   `json:"metrics"`
	Weaknesses       []nvdWeakness    `json:"weaknesses,omitempty"`
	Configurations   []nvdConfig      `json:"configurations,omitempty"`
	References       []map[string]any `json:"references"`
}

type nvdText struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

type nvdWeakness struct {
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Description []nvdText `json:"description"`
}

type nvdConfig struct {
	Operator string    `json:"operator,omitempty"`
	Nodes    []nvdNode `json:"nodes"`
}

type nvdNode struct {
	Operator string     `json:"operator"`
	Negate   bool       `json:"negate"`
	CPEMatch []nvdMatch `json:"cpeMatch"`
}

type nvdMatch struct {
	Vulnerable            bool   `json:"vulnerable"`
	Criteria              string `json:"criteria"`
	VersionStartIncluding string `json:"versionStartIncluding,omitempty"`
	VersionEndExcluding   string `json:"versionEndExcluding,omitempty"`
	MatchCriteriaID       string `json:"matchCriteriaId"`
}

// nvdJSON renders the bare cve object of an NVD API 2.0 record.
func nvdJSON(v *vuln, details string) []byte {
	c := nvdCVE{ID: v.cve, SourceIdentifier: "cve@mitre.org", Published: nvdTime(v.published),
		LastModified: nvdTime(v.modified), VulnStatus: "Analyzed",
		Descriptions: []nvdText{{"en", details}}, Metrics: map[string]any{}}
	if !v.withdrawn.IsZero() {
		c.VulnStatus = "Rejected"
		c.Descriptions = []nvdText{{"en", "Rejected reason: this candidate was withdrawn by its CNA."}}
	}
	score, sev := v.severity.score()
	c.Metrics["cvssMetricV31"] = []map[string]any{{"source": "nvd@nist.gov", "type": "Primary",
		"cvssData": map[string]any{"version": "3.1", "vectorString": v.severity.vector(),
			"baseScore": score, "baseSeverity": sev},
		"exploitabilityScore": 3.9, "impactScore": 5.9}}
	if v.cvss4 {
		vector := v.severity.vectorV40()
		scoreV40, severityV40 := baseScore(vector)
		c.Metrics["cvssMetricV40"] = []map[string]any{{"source": "cna@example.org", "type": "Secondary",
			"cvssData": map[string]any{"version": "4.0", "vectorString": vector,
				"baseScore": scoreV40, "baseSeverity": severityV40}}}
	}
	c.Weaknesses = []nvdWeakness{{Source: "nvd@nist.gov", Type: "Primary",
		Description: []nvdText{{"en", fmt.Sprintf("CWE-%d", v.cwe)}}}}
	c.Configurations = nvdConfigs(v)
	for _, u := range v.refs {
		tags := []string{"Third Party Advisory"}
		if strings.Contains(u, "/commit/") {
			tags = []string{"Patch"}
		}
		c.References = append(c.References, map[string]any{"url": u, "source": "cve@mitre.org", "tags": tags})
	}
	b, _ := json.Marshal(c)
	return b
}

func nvdConfigs(v *vuln) []nvdConfig {
	if v.vendor == "" {
		return nil
	}
	target := "*"
	var spans []span
	if len(v.pkgs) > 0 {
		spans = v.pkgs[0].spans
		target = cpeTarget(v.pkgs[0].eco)
	} else {
		spans = v.cpeSpans
	}
	node := nvdNode{Operator: "OR"}
	n := 0
	criteria := func(ver string) string {
		n++
		return fmt.Sprintf("cpe:2.3:a:%s:%s:%s:*:*:*:*:%s:*:*", v.vendor, v.product, ver, target)
	}
	id := func() string { return fmt.Sprintf("%08X-0000-4000-8000-%012X", n, len(v.cve)*1000+n) }
	for _, ver := range v.cpeExact {
		node.CPEMatch = append(node.CPEMatch, nvdMatch{Vulnerable: true, Criteria: criteria(ver.format("")), MatchCriteriaID: id()})
	}
	if len(v.cpeExact) == 0 {
		for _, s := range spans {
			m := nvdMatch{Vulnerable: true, Criteria: criteria("*")}
			if s.hasIntro {
				m.VersionStartIncluding = s.introduced.format("")
			}
			if s.hasFix {
				m.VersionEndExcluding = s.fixed.format("")
			}
			m.MatchCriteriaID = id()
			node.CPEMatch = append(node.CPEMatch, m)
		}
	}
	if len(node.CPEMatch) == 0 {
		return nil
	}
	cfg := nvdConfig{Nodes: []nvdNode{node}}
	if v.andOS {
		cfg.Operator = "AND"
		cfg.Nodes = append(cfg.Nodes, nvdNode{Operator: "OR", CPEMatch: []nvdMatch{{
			Criteria: "cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", MatchCriteriaID: "00000000-0000-4000-8000-000000000001"}}})
	}
	return []nvdConfig{cfg}
}

// cpeTarget is the target_sw field NVD uses for a package ecosystem.
func cpeTarget(eco string) string {
	switch baseEco(eco) {
	case "npm":
		return "node.js"
	case "PyPI":
		return "python"
	case "RubyGems":
		return "ruby"
	case "crates.io":
		return "rust"
	case "Go":
		return "go"
	}
	return "*"
}
