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
