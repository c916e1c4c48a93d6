package vulndb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	vectorV31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	vectorV30 = "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N" // 5.9
	vectorV2  = "AV:N/AC:L/Au:N/C:P/I:P/A:P"                   // 7.5
	vectorV40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"
	// partialV40 lacks the base metrics from PR on.
	partialV40 = "CVSS:4.0/AV:N/AC:L/AT:N"
)

func TestRecordSeverityRating(t *testing.T) {
	ghsaWord := func(word string) map[string]json.RawMessage {
		return map[string]json.RawMessage{"severity": json.RawMessage(`"` + word + `"`)}
	}
	cases := []struct {
		name    string
		rec     Record
		score   float64 // -1: no score
		rating  string
		version string
		vector  string
		inNote  string
	}{
		{name: "v3.1 vector",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V3", Score: vectorV31}}},
			score: 9.8, rating: "CRITICAL", version: "3.1", vector: vectorV31},
		{name: "v3.0 vector",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V3", Score: vectorV30}}},
			score: 5.9, rating: "MEDIUM", version: "3.0", vector: vectorV30},
		{name: "v3 preferred to the word and to v4 listed first",
			rec: Record{Severity: []Severity{{Type: "CVSS_V4", Score: vectorV40}, {Type: "CVSS_V3", Score: vectorV31}},
				DatabaseSpecific: ghsaWord("LOW")},
			score: 9.8, rating: "CRITICAL", version: "3.1", vector: vectorV31},
		{name: "v4 only",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: vectorV40}}},
			score: 6.9, rating: "MEDIUM", version: "4.0", vector: vectorV40},
		{name: "v4 preferred to the GHSA word",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: vectorV40}}, DatabaseSpecific: ghsaWord("LOW")},
			score: 6.9, rating: "MEDIUM", version: "4.0", vector: vectorV40},
		{name: "v4 preferred to v2",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V2", Score: vectorV2}, {Type: "CVSS_V4", Score: vectorV40}}},
			score: 6.9, rating: "MEDIUM", version: "4.0", vector: vectorV40},
		{name: "partial v4 with the source's word",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: partialV40}}, DatabaseSpecific: ghsaWord("CRITICAL")},
			score: -1, rating: "CRITICAL", version: "4.0", vector: partialV40, inNote: "base metric PR is missing"},
		{name: "partial v4 alone",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: partialV40}}},
			score: -1, version: "4.0", vector: partialV40, inNote: "base metric PR is missing"},
		{name: "partial v4 with v2 and the source's word",
			rec: Record{Severity: []Severity{{Type: "CVSS_V2", Score: vectorV2}, {Type: "CVSS_V4", Score: partialV40}},
				DatabaseSpecific: ghsaWord("HIGH")},
			score: -1, rating: "HIGH", version: "4.0", vector: partialV40, inNote: "base metric PR is missing"},
		{name: "partial v4 before v3",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: partialV40}, {Type: "CVSS_V3", Score: vectorV30}}},
			score: 5.9, rating: "MEDIUM", version: "3.0", vector: vectorV30},
		{name: "GHSA word alone",
			rec:   Record{DatabaseSpecific: ghsaWord("critical")},
			score: -1, rating: "CRITICAL"},
		{name: "GHSA word preferred to v2",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V2", Score: vectorV2}}, DatabaseSpecific: ghsaWord("HIGH")},
			score: -1, rating: "HIGH"},
		{name: "v2 vector",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V2", Score: vectorV2}}},
			score: 7.5, rating: "HIGH", version: "2.0", vector: vectorV2},
		{name: "Ubuntu word",
			rec:   Record{Severity: []Severity{{Type: "Ubuntu", Score: "medium"}}},
			score: -1, rating: "MEDIUM"},
		{name: "unknown word ignored",
			rec:   Record{DatabaseSpecific: ghsaWord("negligible")},
			score: -1},
		{name: "word that is not a string ignored",
			rec:   Record{DatabaseSpecific: map[string]json.RawMessage{"severity": json.RawMessage(`{"level":"HIGH"}`)}},
			score: -1},
		{name: "invalid vector",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N"}}},
			score: -1, version: "3.1", vector: "CVSS:3.1/AV:N", inNote: "invalid CVSS vector"},
		{name: "vector of an unsupported version",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V3", Score: "CVSS:3.2/AV:N"}}},
			score: -1, vector: "CVSS:3.2/AV:N", inNote: "3.2"},
		{name: "invalid vector without prefix",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V2", Score: "AV:N"}}},
			score: -1, vector: "AV:N", inNote: "invalid CVSS vector"},
		{name: "invalid vector before a valid one",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N"}, {Type: "CVSS_V2", Score: vectorV2}}},
			score: 7.5, rating: "HIGH", version: "2.0", vector: vectorV2},
		{name: "v4 with surrounding spaces",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: " " + vectorV40 + " "}}},
			score: 6.9, rating: "MEDIUM", version: "4.0", vector: vectorV40},
		{name: "v4 in lower case",
			rec:   Record{Severity: []Severity{{Type: "CVSS_V4", Score: strings.ToLower(vectorV40)}}},
			score: -1, vector: strings.ToLower(vectorV40),
			inNote: "does not start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/"},
		{name: "affected severity when the record has none",
			rec:   Record{Affected: []Affected{{Severity: []Severity{{Type: "CVSS_V3", Score: vectorV30}}}}},
			score: 5.9, rating: "MEDIUM", version: "3.0", vector: vectorV30},
		{name: "no severity",
			rec:   Record{},
			score: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.rec.SeverityRating()
			switch {
			case c.score < 0 && got.Score != nil:
				t.Errorf("Score = %v, want none", *got.Score)
			case c.score >= 0 && got.Score == nil:
				t.Errorf("Score = none, want %v", c.score)
			case c.score >= 0 && *got.Score != c.score:
				t.Errorf("Score = %v, want %v", *got.Score, c.score)
			}
			if got.Rating != c.rating {
				t.Errorf("Rating = %q, want %q", got.Rating, c.rating)
			}
			if got.CVSSVersion != c.version {
				t.Errorf("CVSSVersion = %q, want %q", got.CVSSVersion, c.version)
			}
			if got.Vector != c.vector {
				t.Errorf("Vector = %q, want %q", got.Vector, c.vector)
			}
			if c.inNote == "" && got.Note != "" || !strings.Contains(got.Note, c.inNote) {
				t.Errorf("Note = %q, want it to contain %q", got.Note, c.inNote)
			}
		})
	}
}

func TestWithSeverityRatingKeepsStellaOpsFields(t *testing.T) {
	rec := Record{ID: "CVE-2030-0001", Severity: []Severity{{Type: "CVSS_V3", Score: vectorV31}},
		DatabaseSpecific: map[string]json.RawMessage{
			"severity": json.RawMessage(`"HIGH"`),
			dbKey:      json.RawMessage(`{"cwe_ids":["CWE-94"]}`),
		}}
	out := WithSeverityRating(rec)
	var ext struct {
		CWEs   []string       `json:"cwe_ids"`
		Rating SeverityRating `json:"severity_rating"`
	}
	if err := json.Unmarshal(out.DatabaseSpecific[dbKey], &ext); err != nil {
		t.Fatal(err)
	}
	if len(ext.CWEs) != 1 || ext.CWEs[0] != "CWE-94" {
		t.Errorf("cwe_ids = %v, want [CWE-94]", ext.CWEs)
	}
	if ext.Rating.Score == nil || *ext.Rating.Score != 9.8 || ext.Rating.Rating != "CRITICAL" || ext.Rating.CVSSVersion != "3.1" {
		t.Errorf("severity_rating = %+v, want 9.8 CRITICAL from CVSS 3.1", ext.Rating)
	}
	if string(out.DatabaseSpecific["severity"]) != `"HIGH"` {
		t.Errorf("database_specific.severity = %s, want it unchanged", out.DatabaseSpecific["severity"])
	}
	if string(rec.DatabaseSpecific[dbKey]) != `{"cwe_ids":["CWE-94"]}` {
		t.Errorf("the input record changed: %s", rec.DatabaseSpecific[dbKey])
	}
}

// TestMergeSortsSeverityByType checks the order of a merged record's
// severity list, whose first entry the scan's severity field gives: one
// score per type, from the first source in rank order, sorted by type
// whatever order the sources give.
func TestMergeSortsSeverityByType(t *testing.T) {
	ghsa := source{feed: "ghsa", rec: Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []Severity{
		{Type: "CVSS_V4", Score: vectorV40}, {Type: "CVSS_V3", Score: vectorV31}}}}
	nvd := source{feed: "nvd", rec: Record{ID: "CVE-2030-0001", Severity: []Severity{
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{Type: "Ubuntu", Score: "high"}, {Type: "CVSS_V2", Score: vectorV2}}}}
	got := mergeSeverity([]source{ghsa, nvd})
	want := []Severity{{Type: "CVSS_V2", Score: vectorV2},
		{Type: "CVSS_V3", Score: vectorV31}, {Type: "CVSS_V4", Score: vectorV40}, {Type: "Ubuntu", Score: "high"}}
	if !slices.Equal(got, want) {
		t.Errorf("mergeSeverity = %v, want %v", got, want)
	}
}

// describeRating formats s for a test failure message, with the score
// that s.Score points to.
func describeRating(s SeverityRating) string {
	score := "none"
	if s.Score != nil {
		score = fmt.Sprint(*s.Score)
	}
	return fmt.Sprintf("score %s, rating %q, CVSS version %q, vector %q, note %q",
		score, s.Rating, s.CVSSVersion, s.Vector, s.Note)
}

// TestSeverityRatingNomenclature checks that a CVSS v4.0 score is named
// CVSS-B, in the JSON of lookup output too, and that OmitsVectorMetrics
// is true only when the vector sets threat or environmental metrics.
func TestSeverityRatingNomenclature(t *testing.T) {
	cases := []struct {
		name, vector, nomenclature string
		omits                      bool
	}{
		{"v4 base metrics only", vectorV40, "CVSS-B", false},
		{"v4 with supplemental metrics", vectorV40 + "/S:P/U:Amber", "CVSS-B", false},
		{"v4 with threat metric", vectorV40 + "/E:U", "CVSS-B", true},
		{"v4 with environmental metrics", vectorV40 + "/CR:L/MAV:P/MVC:N", "CVSS-B", true},
		{"v4 with metrics set to X", vectorV40 + "/E:X/MAV:X", "CVSS-B", false},
		{"v3.1 with temporal metrics", vectorV31 + "/E:P/RL:O", "", false},
		{"partial v4", partialV40 + "/E:U", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ScoreVector(c.vector)
			if got.CVSSNomenclature != c.nomenclature {
				t.Errorf("CVSSNomenclature = %q, want %q", got.CVSSNomenclature, c.nomenclature)
			}
			if got.OmitsVectorMetrics() != c.omits {
				t.Errorf("OmitsVectorMetrics() = %v, want %v", got.OmitsVectorMetrics(), c.omits)
			}
		})
	}

	rec := WithSeverityRating(Record{ID: "GHSA-aaaa-bbbb-cccc", Severity: []Severity{{Type: "CVSS_V4", Score: vectorV40 + "/E:U"}}})
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"cvss_nomenclature":"CVSS-B"`; !strings.Contains(string(raw), want) {
		t.Errorf("lookup JSON lacks %s: %s", want, raw)
	}
}
