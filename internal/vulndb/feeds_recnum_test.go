package vulndb

import (
	"fmt"
	"strings"
	"testing"
)

func TestNVDRecordNumberFromOne(t *testing.T) {
	var entries []string
	for i := 1; i <= 5; i++ {
		entries = append(entries, fmt.Sprintf(`{"cve":{"id":"CVE-2024-000%d","lastModified":"2024-01-01T00:00:00.000"}}`, i))
	}
	entries = append(entries, `{"cve":{"lastModified":"2024-01-01T00:00:00.000"}}`)
	page := `{"vulnerabilities":[` + strings.Join(entries, ",") + `]}`

	_, errs := parseNVD("page.json", []byte(page))
	if len(errs) != 1 {
		t.Fatalf("parseNVD errors = %v, want one for the sixth entry", errs)
	}
	if errs[0].Record != "#6" {
		t.Errorf("record = %q, want #6", errs[0].Record)
	}
}

func TestOSVArrayRecordNumberFromOne(t *testing.T) {
	page := `[{"id":"A-1","modified":"2024-01-01T00:00:00Z"},{"modified":"2024-01-01T00:00:00Z"}]`

	_, errs := parseOSV("page.json", []byte(page))
	if len(errs) != 1 {
		t.Fatalf("parseOSV errors = %v, want one for the second entry", errs)
	}
	if errs[0].Record != "#2" {
		t.Errorf("record = %q, want #2", errs[0].Record)
	}
}

// A record that fails to decode is named by its ID when the ID itself
// decodes, since "#1234" of a page of 2,000 CVEs is hard to find.
func TestUndecodableRecordNamedByID(t *testing.T) {
	nvdPage := `{"vulnerabilities":[{"cve":{"id":"CVE-2024-0001","lastModified":"2024-01-01T00:00:00.000"}},` +
		`{"cve":{"id":"CVE-2024-0002","lastModified":"2024-01-01T00:00:00.000","published":5}}]}`
	osvArray := `[{"id":"A-1","modified":"2024-01-01T00:00:00Z"},{"id":"A-2","modified":"2024-01-01T00:00:00Z","aliases":"B-2"}]`
	osvFile := `{"id":"A-3","modified":"2024-01-01T00:00:00Z","affected":{}}`
	cases := []struct {
		name   string
		errs   []*RecordError
		wantID string
	}{
		{"nvd page", rejectionsOf(parseNVD("page.json", []byte(nvdPage))), "CVE-2024-0002"},
		{"osv array", rejectionsOf(parseOSV("array.json", []byte(osvArray))), "A-2"},
		{"osv file", rejectionsOf(parseOSV("one.json", []byte(osvFile))), "A-3"},
	}
	for _, c := range cases {
		if len(c.errs) != 1 {
			t.Errorf("%s: errors = %v, want one", c.name, c.errs)
			continue
		}
		if c.errs[0].Reason != "invalid-json" {
			t.Errorf("%s: reason = %q, want invalid-json", c.name, c.errs[0].Reason)
		}
		if c.errs[0].Record != c.wantID {
			t.Errorf("%s: record = %q, want %s", c.name, c.errs[0].Record, c.wantID)
		}
	}
}

// rejectionsOf returns the rejections of a parser's results.
func rejectionsOf(_ []source, errs []*RecordError) []*RecordError { return errs }

// A feed file cut off in the middle is named as such, with the advice to
// download it again.
func TestCutOffFeedFileSaysSo(t *testing.T) {
	nvdPage := `{"vulnerabilities":[{"cve":{"id":"CVE-2024-0001","lastModified":"2024-01-01T00:00:00.000"}},{"cve":{"id":"CVE-2`
	osvArray := `[{"id":"A-1","modified":"2024-01-01T00:00:00Z"},{"id":"A-2","modif`
	for name, errs := range map[string][]*RecordError{
		"nvd page":  rejectionsOf(parseNVD("page.json", []byte(nvdPage))),
		"osv array": rejectionsOf(parseOSV("array.json", []byte(osvArray))),
	} {
		if len(errs) != 1 {
			t.Errorf("%s: errors = %v, want one", name, errs)
			continue
		}
		if !strings.Contains(errs[0].Error(), "download it again") {
			t.Errorf("%s: error %q does not say the file was cut off", name, errs[0])
		}
	}
}
