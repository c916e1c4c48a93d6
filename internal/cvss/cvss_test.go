package cvss

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBaseScoreKnownVectors checks the vectors of well-known CVEs against
// the base scores commonly published for them, and edge cases of the
// equations. TestBaseScoreMatchesNVDRecords compares scores with those in
// NVD records.
func TestBaseScoreKnownVectors(t *testing.T) {
	cases := []struct {
		name, vector string
		base         float64
		rating       string
	}{
		{"CVE-2021-44228 Log4Shell", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, RatingCritical},
		{"CVE-2014-6271 Shellshock", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, RatingCritical},
		{"CVE-2014-0160 Heartbleed", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, RatingHigh},
		{"CVE-2013-1937 phpMyAdmin XSS", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, RatingMedium},
		{"CVE-2013-0375 MySQL", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4, RatingMedium},
		{"CVE-2012-1516 VMware", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, RatingCritical},
		{"CVE-2009-0783 Tomcat", "CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L", 4.2, RatingMedium},
		{"CVE-2014-2005 Sophos", "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8, RatingMedium},
		{"CVE-2015-1098 iWork", "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8, RatingHigh},
		{"CVE-2023-4863 libwebp", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8, RatingHigh},
		{"no impact", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:N", 0.0, RatingNone},
		{"lowest nonzero", "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, RatingLow},
		{"v3.0 spring-boot", "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N", 5.9, RatingMedium},
		{"v3.0 Log4Shell", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, RatingCritical},
		{"temporal metrics ignored", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/E:P/RL:W/RC:C", 6.1, RatingMedium},
		{"metrics in another order", "CVSS:3.1/S:U/AV:N/C:H/AC:L/I:H/PR:N/A:H/UI:N", 9.8, RatingCritical},
		{"v2 CVE-2002-0392", "AV:N/AC:L/Au:N/C:N/I:N/A:C", 7.8, RatingHigh},
		{"v2 CVE-2003-0818", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, RatingHigh},
		{"v2 CVE-2003-0062", "AV:L/AC:H/Au:N/C:C/I:C/A:C", 6.2, RatingMedium},
		{"v2 CVE-2022-1576", "AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, RatingMedium},
		{"v2 no impact", "AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0, RatingLow},
		{"v2 with the prefix some feeds write", "CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, RatingHigh},
		{"v2 in parentheses", "(AV:N/AC:L/Au:N/C:N/I:N/A:C)", 7.8, RatingHigh},
		{"v4.0 CVE-2024-5732 as NVD scores it", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 6.9,
			RatingMedium},
		{"v4.0 high impact on the vulnerable system", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3,
			RatingCritical},
		{"v4.0 high impact on both systems", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0,
			RatingCritical},
		{"v4.0 low privileges", "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.7, RatingHigh},
		{"v4.0 local", "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, RatingHigh},
		{"v4.0 subsequent system only", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 5.3,
			RatingMedium},
		{"v4.0 lowest", "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0, RatingLow},
		{"v4.0 no impact", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, RatingNone},
		// The threat metric E:U lowers the CVSS-BT score to 8.1, but the
		// base score leaves it out.
		{"v4.0 threat metric ignored", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", 9.3,
			RatingCritical},
		{"v4.0 environmental metrics ignored",
			"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/CR:L/MAV:P/MVC:N/MVI:N/MVA:N", 9.3,
			RatingCritical},
		// Some GHSA advisories list the impact metrics in this order.
		{"v4.0 metrics in another order", "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/SC:N/VI:H/SI:N/VA:H/SA:N", 8.7,
			RatingHigh},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := BaseScore(c.vector)
			if err != nil {
				t.Fatalf("BaseScore(%q): %v", c.vector, err)
			}
			if got.Base != c.base {
				t.Errorf("BaseScore(%q).Base = %v, want %v", c.vector, got.Base, c.base)
			}
			if got.Rating != c.rating {
				t.Errorf("BaseScore(%q).Rating = %q, want %q", c.vector, got.Rating, c.rating)
			}
		})
	}
}

// TestRoundUp31 checks the v3.1 Roundup against values that plain
// rounding up gets wrong because of floating-point error.
func TestRoundUp31(t *testing.T) {
	cases := []struct{ in, want float64 }{
		{4.02, 4.1},
		{4.00, 4.0},
		{1.1 * 3, 3.3}, // 3.3000000000000003 in float64
		{0.00001, 0.1},
		{0.000001, 0}, // below the five decimal places that Roundup keeps
		{9.99, 10.0},
		{10.0, 10.0},
		{0, 0},
	}
	for _, c := range cases {
		if got := RoundUp31(c.in); got != c.want {
			t.Errorf("RoundUp31(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestBaseScoreV40AllBaseVectors scores every combination of CVSS v4.0
// base metric values. Each must give a score from 0.0 to 10.0 in steps of
// 0.1 with its v4.0 rating, and 0.0 exactly when no impact metric is set.
func TestBaseScoreV40AllBaseVectors(t *testing.T) {
	count := 0
	values := make([]string, len(specV4.base))
	var walk func(i int)
	walk = func(i int) {
		if i < len(values) {
			for _, value := range specV4.values[specV4.base[i]] {
				values[i] = value
				walk(i + 1)
			}
			return
		}
		count++
		var b strings.Builder
		b.WriteString("CVSS:4.0")
		noImpact := true
		for j, name := range specV4.base {
			b.WriteString("/" + name + ":" + values[j])
			if j >= 5 && values[j] != "N" {
				noImpact = false
			}
		}
		vector := b.String()
		got, err := BaseScore(vector)
		if err != nil {
			t.Fatalf("BaseScore(%q): %v", vector, err)
		}
		if got.Base < 0 || got.Base > 10 {
			t.Fatalf("BaseScore(%q) = %v, outside 0 to 10", vector, got.Base)
		}
		if tenths := got.Base * 10; math.Abs(tenths-math.Round(tenths)) > 1e-9 {
			t.Fatalf("BaseScore(%q) = %v, not a multiple of 0.1", vector, got.Base)
		}
		if got.Rating != RatingV3(got.Base) {
			t.Fatalf("BaseScore(%q).Rating = %q, want %q", vector, got.Rating, RatingV3(got.Base))
		}
		if (got.Base == 0) != noImpact {
			t.Fatalf("BaseScore(%q) = %v, want 0 only when every impact metric is N", vector, got.Base)
		}
	}
	walk(0)
	if count != 4*2*2*3*3*729 {
		t.Errorf("scored %d vectors, want every combination", count)
	}
}

func TestParseRejectsInvalidVectors(t *testing.T) {
	cases := []struct{ vector, inMessage string }{
		{"", "empty"},
		{"CVSS:3.1/", "no metrics"},
		{"CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "not supported"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "base metric A is missing"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H", "given twice"},
		{"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", `metric AV has value "X"`},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", `metric "" is not NAME:VALUE`},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/Au:N", `"Au" is not a CVSS 3.1 metric`},
		{"CVSS:3.1/av:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", `"av" is not a CVSS 3.1 metric`},
		{"AV:N/AC:L/Au:N/C:P/I:P", "base metric A is missing"},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:H", `metric A has value "H"`},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N", "base metric SA is missing"},
		{"HIGH", `metric "HIGH" is not NAME:VALUE`},
		{"cvss:4.0/av:n/ac:l/at:n/pr:n/ui:n/vc:h/vi:h/va:h/sc:n/si:n/sa:n",
			"does not start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/. The prefix, metric names and values are case-sensitive"},
		{"Cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "does not start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/"},
		{"CVSS4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "does not start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/sa:N", `"sa" is not a CVSS 4.0 metric (metric names are case-sensitive, and CVSS 4.0 has SA)`},
		{" CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N ", `"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N": base metric SA is missing`},
	}
	for _, c := range cases {
		_, err := Parse(c.vector)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", c.vector)
			continue
		}
		if !errors.Is(err, ErrInvalidVector) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalidVector", c.vector, err)
		}
		if !strings.Contains(err.Error(), c.inMessage) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", c.vector, err, c.inMessage)
		}
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(c.vector)), "CVSS") && strings.Contains(err.Error(), "CVSS 2.0") {
			t.Errorf("Parse(%q) error %q names CVSS 2.0 for a vector with a prefix", c.vector, err)
		}
	}
}

// TestParseTrimsSurroundingWhitespace checks that spaces, tabs and line
// breaks around a vector, which OSV score fields sometimes carry, do not
// change its score.
func TestParseTrimsSurroundingWhitespace(t *testing.T) {
	cases := []struct {
		vector string
		base   float64
	}{
		{" CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N ", 9.3},
		{"\tCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n", 9.8},
		{" AV:N/AC:L/Au:N/C:N/I:N/A:C\r\n", 7.8},
		{" (AV:N/AC:L/Au:N/C:N/I:N/A:C) ", 7.8},
	}
	for _, c := range cases {
		got, err := BaseScore(c.vector)
		if err != nil {
			t.Errorf("BaseScore(%q): %v", c.vector, err)
			continue
		}
		if got.Base != c.base {
			t.Errorf("BaseScore(%q).Base = %v, want %v", c.vector, got.Base, c.base)
		}
	}
	if _, err := Parse(" \t "); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Parse of blanks: error %v, want one that says the vector is empty", err)
	}
}

// nvdMetric is one CVSS metric of an NVD CVE API 2.0 record: the vector
// and the base score and rating that NVD computed from it.
type nvdMetric struct {
	source, vector, rating string
	base                   float64
}

// nvdMetrics returns every cvssMetricV2, V30, V31 and V40 entry of the NVD
// records in dir, in any of the shapes the NVD API and its mirrors write.
func nvdMetrics(t *testing.T, dir string) []nvdMetric {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []nvdMetric
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Vulnerabilities []struct {
				CVE nvdCVE `json:"cve"`
			} `json:"vulnerabilities"`
			nvdCVE
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cves := []nvdCVE{doc.nvdCVE}
		for _, v := range doc.Vulnerabilities {
			cves = append(cves, v.CVE)
		}
		for _, c := range cves {
			for _, list := range [][]nvdEntry{c.Metrics.V2, c.Metrics.V30, c.Metrics.V31, c.Metrics.V40} {
				for _, m := range list {
					rating := m.CVSSData.BaseSeverity
					if rating == "" {
						rating = m.BaseSeverity // v2 keeps it beside cvssData
					}
					out = append(out, nvdMetric{source: filepath.Base(f) + " " + c.ID,
						vector: m.CVSSData.VectorString, base: m.CVSSData.BaseScore, rating: rating})
				}
			}
		}
	}
	return out
}

type nvdCVE struct {
	ID      string `json:"id"`
	Metrics struct {
		V2  []nvdEntry `json:"cvssMetricV2"`
		V30 []nvdEntry `json:"cvssMetricV30"`
		V31 []nvdEntry `json:"cvssMetricV31"`
		V40 []nvdEntry `json:"cvssMetricV40"`
	} `json:"metrics"`
}

type nvdEntry struct {
	BaseSeverity string `json:"baseSeverity"`
	CVSSData     struct {
		VectorString string  `json:"vectorString"`
		BaseScore    float64 `json:"baseScore"`
		BaseSeverity string  `json:"baseSeverity"`
	} `json:"cvssData"`
}

// TestBaseScoreMatchesNVDRecords computes the score of every CVSS v2.0,
// v3.x and v4.0 vector in the public NVD sample records and compares it with the
// baseScore and baseSeverity that NVD publishes beside it.
func TestBaseScoreMatchesNVDRecords(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "nvd")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("public NVD sample records not found at %s: %v", dir, err)
	}
	metrics := nvdMetrics(t, dir)
	if len(metrics) == 0 {
		t.Fatalf("no CVSS metrics found in %s", dir)
	}
	v40 := 0
	for _, m := range metrics {
		if strings.HasPrefix(m.vector, "CVSS:4.0/") {
			v40++
		}
		got, err := BaseScore(m.vector)
		if err != nil {
			t.Errorf("%s: BaseScore(%q): %v", m.source, m.vector, err)
			continue
		}
		if got.Base != m.base {
			t.Errorf("%s: BaseScore(%q).Base = %v, NVD publishes %v", m.source, m.vector, got.Base, m.base)
		}
		if got.Rating != m.rating {
			t.Errorf("%s: BaseScore(%q).Rating = %q, NVD publishes %q", m.source, m.vector, got.Rating, m.rating)
		}
	}
	t.Logf("compared %d NVD metrics, %d of them CVSS v4.0", len(metrics), v40)
}

// TestPrefixVersion checks that the version of a "CVSS:x.y/" prefix is
// returned even when Parse rejects the metrics after it.
func TestPrefixVersion(t *testing.T) {
	for vector, want := range map[string]string{
		"CVSS:4.0/AV:N/AC:L/AT:N":                      V40,
		"CVSS:3.1/AV:N":                                V31,
		"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": V30,
		"CVSS:2.0/AV:N":                                V2,
		"CVSS:3.2/AV:N":                                "",
		"CVSS:4.0/":                                    "",
		"CVSS:4.0":                                     "",
		"AV:N/AC:L/Au:N/C:P/I:P/A:P":                   "",
		"":                                             "",
	} {
		if got := PrefixVersion(vector); got != want {
			t.Errorf("PrefixVersion(%q) = %q, want %q", vector, got, want)
		}
	}
}

// TestSetsThreatOrEnvironmentalMetrics checks which CVSS v4.0 vectors have
// metrics that the base score (CVSS-B) leaves out, so that reports label it.
func TestSetsThreatOrEnvironmentalMetrics(t *testing.T) {
	const base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
	cases := []struct {
		vector string
		want   bool
	}{
		{base, false},
		{base + "/E:X/CR:X/MAV:X/MSI:X", false},
		{base + "/S:P/AU:Y/R:U/V:C/RE:H/U:Amber", false},
		{base + "/E:U", true},
		{base + "/CR:L", true},
		{base + "/MAV:P", true},
		{base + "/MVC:N", true},
		{base + "/MSI:S/MSA:S", true},
		{base + "/E:X/U:Red/MAT:P", true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/MAV:L", false},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C/E:POC/CR:L", false},
	}
	// Every v4.0 metric is a base, supplemental, threat or environmental
	// metric, so a metric added to specV4 must be sorted into one of them.
	supplemental := []string{"S", "AU", "R", "V", "RE", "U"}
	for name := range specV4.values {
		if !contains(specV4.base, name) && !contains(supplemental, name) && !contains(threatAndEnvironmentalV4, name) {
			t.Errorf("CVSS 4.0 metric %s is in no group", name)
		}
	}

	for _, c := range cases {
		v, err := Parse(c.vector)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.vector, err)
		}
		if got := v.SetsThreatOrEnvironmentalMetrics(); got != c.want {
			t.Errorf("SetsThreatOrEnvironmentalMetrics(%q) = %v, want %v", c.vector, got, c.want)
		}
	}
}

// TestBaseScoreNomenclature checks that CVSS v4.0 scores carry the name
// CVSS-B and scores of other versions none.
func TestBaseScoreNomenclature(t *testing.T) {
	cases := map[string]string{
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N":     NomenclatureBase,
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U": NomenclatureBase,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H":                        "",
		"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N":                        "",
		"AV:N/AC:L/Au:N/C:C/I:C/A:C":                                          "",
	}
	for vector, want := range cases {
		got, err := BaseScore(vector)
		if err != nil {
			t.Fatalf("BaseScore(%q): %v", vector, err)
		}
		if got.Nomenclature != want {
			t.Errorf("BaseScore(%q).Nomenclature = %q, want %q", vector, got.Nomenclature, want)
		}
	}
	if NomenclatureBase != "CVSS-B" {
		t.Errorf("NomenclatureBase = %q, want CVSS-B as the v4.0 specification names it", NomenclatureBase)
	}
}
