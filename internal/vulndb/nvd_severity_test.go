package vulndb

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestNVDSeverityVersions(t *testing.T) {
	const (
		v31 = `"cvssMetricV31":[{"type":"Primary","cvssData":{"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]`
		v30 = `"cvssMetricV30":[{"type":"Primary","cvssData":{"vectorString":"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}]`
		v2  = `"cvssMetricV2":[{"type":"Primary","cvssData":{"vectorString":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}}]`
	)
	cases := []struct {
		name    string
		metrics string
		want    []Severity
	}{
		{"v3.1 over v3.0 and v2.0", v31 + "," + v30 + "," + v2,
			[]Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}},
		{"v3.0 alone", v30, []Severity{{Type: "CVSS_V3", Score: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}},
		{"v3.0 over v2.0", v30 + "," + v2, []Severity{{Type: "CVSS_V3", Score: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}},
		{"v2.0 alone", v2, []Severity{{Type: "CVSS_V2", Score: "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}},
		{"none", "", nil},
	}
	for _, c := range cases {
		var cve nvdCVE
		if err := json.Unmarshal([]byte(`{"metrics":{`+c.metrics+`}}`), &cve); err != nil {
			t.Fatal(err)
		}
		if got := nvdSeverity(cve); !slices.Equal(got, c.want) {
			t.Errorf("%s: nvdSeverity = %v, want %v", c.name, got, c.want)
		}
	}
}
