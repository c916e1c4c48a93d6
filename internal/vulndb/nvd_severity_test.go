package vulndb

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestNVDSeverityVersions(t *testing.T) {
	const (
		v31  = `"cvssMetricV31":[{"type":"Primary","cvssData":{"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]`
		v30  = `"cvssMetricV30":[{"type":"Primary","cvssData":{"vectorString":"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}]`
		v2   = `"cvssMetricV2":[{"type":"Primary","cvssData":{"vectorString":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}}]`
		v40  = `"cvssMetricV40":[{"type":"Secondary","cvssData":{"vectorString":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N","baseSeverity":"MEDIUM"}}]`
		vec4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"
	)
	cases := []struct {
		name    string
		metrics string
		want    []Severity
		word    string
	}{
		{"v3.1 over v3.0 and v2.0", v31 + "," + v30 + "," + v2,
			[]Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}, ""},
		{"v3.0 alone", v30, []Severity{{Type: "CVSS_V3", Score: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}, ""},
		{"v3.0 over v2.0", v30 + "," + v2, []Severity{{Type: "CVSS_V3", Score: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}, ""},
		{"v2.0 alone", v2, []Severity{{Type: "CVSS_V2", Score: "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}, ""},
		{"none", "", nil, ""},
		{"v4.0 alone keeps its rating", v40, []Severity{{Type: "CVSS_V4", Score: vec4}}, "MEDIUM"},
		{"v4.0 over v2.0 keeps its rating", v40 + "," + v2, []Severity{{Type: "CVSS_V4", Score: vec4}}, "MEDIUM"},
		{"v3.1 and v4.0 keep no rating", v31 + "," + v40, []Severity{{Type: "CVSS_V3",
			Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, {Type: "CVSS_V4", Score: vec4}}, ""},
	}
	for _, c := range cases {
		var cve nvdCVE
		if err := json.Unmarshal([]byte(`{"metrics":{`+c.metrics+`}}`), &cve); err != nil {
			t.Fatal(err)
		}
		got, word := nvdSeverity(cve)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: nvdSeverity = %v, want %v", c.name, got, c.want)
		}
		if word != c.word {
			t.Errorf("%s: rating word %q, want %q", c.name, word, c.word)
		}
	}
}

func TestNVDv4OnlyRecordHasRating(t *testing.T) {
	raw := `{"id":"CVE-2099-0001","lastModified":"2099-01-02T00:00:00.000","published":"2099-01-01T00:00:00.000",
		"descriptions":[{"lang":"en","value":"x"}],
		"metrics":{"cvssMetricV40":[{"type":"Secondary","cvssData":{"vectorString":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N","baseSeverity":"CRITICAL"}}]}}`
	s, rerr := convertNVD("page.json", "#1", json.RawMessage(raw))
	if rerr != nil {
		t.Fatal(rerr)
	}
	got := s.rec.SeverityRating()
	if got.Score == nil || *got.Score != 9.3 {
		t.Errorf("SeverityRating = %s, want score 9.3 computed from the CVSS 4.0 vector", describeRating(got))
	}
	if got.Rating != "CRITICAL" {
		t.Errorf("rating %q, want CRITICAL", got.Rating)
	}
	if got.CVSSVersion != "4.0" {
		t.Errorf("CVSS version %q, want 4.0", got.CVSSVersion)
	}
}

// TestNVDPartialV40KeepsNVDRating checks the fallback for a CVSS v4.0
// vector that cannot be scored: NVD's rating, with the reason beside it.
func TestNVDPartialV40KeepsNVDRating(t *testing.T) {
	raw := `{"id":"CVE-2099-0002","lastModified":"2099-01-02T00:00:00.000","published":"2099-01-01T00:00:00.000",
		"descriptions":[{"lang":"en","value":"x"}],
		"metrics":{"cvssMetricV40":[{"type":"Primary","cvssData":{"vectorString":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N","baseSeverity":"HIGH"}}]}}`
	s, rerr := convertNVD("page.json", "#1", json.RawMessage(raw))
	if rerr != nil {
		t.Fatal(rerr)
	}
	got := s.rec.SeverityRating()
	if got.Score != nil {
		t.Errorf("SeverityRating = %s, want no score", describeRating(got))
	}
	if got.Rating != "HIGH" {
		t.Errorf("rating %q, want HIGH from NVD's baseSeverity", got.Rating)
	}
	if got.Vector != "CVSS:4.0/AV:N/AC:L/AT:N/PR:N" {
		t.Errorf("vector %q, want the partial CVSS 4.0 vector", got.Vector)
	}
	if !strings.Contains(got.Note, "base metric UI is missing") {
		t.Errorf("note %q, want the reason the vector has no score", got.Note)
	}
}
