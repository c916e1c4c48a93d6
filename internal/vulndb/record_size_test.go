package vulndb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// bigRecord returns an OSV record whose details field holds size bytes.
func bigRecord(id string, size int) string {
	return `{"id":"` + id + `","modified":"2024-01-01T00:00:00Z","details":"` + strings.Repeat("x", size) + `"}`
}

func TestBuildSkipsOversizedRecord(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "SMALL-1.json", ecosystemRecord("SMALL-1", "npm"))
	single := writeFile(t, dir, "BIG-1.json", bigRecord("BIG-1", MaxRecordSize))
	array := writeFile(t, dir, "page.json", "["+ecosystemRecord("SMALL-2", "npm")+","+bigRecord("BIG-2", MaxRecordSize)+"]")
	// Whitespace between tokens does not count: this record's line fits.
	writeFile(t, dir, "PADDED-1.json",
		strings.Replace(bigRecord("PADDED-1", MaxRecordSize-(1<<20)), ",", ","+strings.Repeat(" ", 2<<20), 1))

	res, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.SkipReasons[reasonTooLarge] != 2 {
		t.Errorf("skip reasons = %v, want too-large 2", s.SkipReasons)
	}
	if s.Records != 3 {
		t.Errorf("records = %d, want SMALL-1, SMALL-2 and PADDED-1", s.Records)
	}
	for _, want := range []string{single + " record BIG-1: too-large", array + " record BIG-2: too-large"} {
		if !strings.Contains(strings.Join(s.Errors, "\n"), want) {
			t.Errorf("summary errors %q lack %q", s.Errors, want)
		}
	}
	size := fmt.Sprintf("%d bytes (32.0 MiB) without whitespace", len(bigRecord("BIG-1", MaxRecordSize)))
	if !strings.Contains(strings.Join(s.Errors, "\n"), size) {
		t.Errorf("summary errors %q do not give the record's size", s.Errors)
	}
}

func TestBuildSkipsOversizedNVDRecord(t *testing.T) {
	dir := t.TempDir()
	page := `{"vulnerabilities":[{"cve":{"id":"CVE-2024-0001","published":"2024-01-01T00:00:00","lastModified":"2024-01-01T00:00:00",` +
		`"descriptions":[{"lang":"en","value":"small"}]}},{"cve":{"id":"CVE-2024-0002","published":"2024-01-01T00:00:00",` +
		`"lastModified":"2024-01-01T00:00:00","descriptions":[{"lang":"en","value":"` + strings.Repeat("x", MaxRecordSize) + `"}]}}]}`
	path := writeFile(t, dir, "page.json", page)
	res, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedNVD, Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.SkipReasons[reasonTooLarge] != 1 || res.Summary.Records != 1 {
		t.Errorf("skip reasons %v and %d records, want too-large 1 and 1 record", res.Summary.SkipReasons, res.Summary.Records)
	}
	if want := path + " record CVE-2024-0002: too-large"; !strings.Contains(strings.Join(res.Summary.Errors, "\n"), want) {
		t.Errorf("summary errors %q lack %q", res.Summary.Errors, want)
	}
}

func TestBuildRejectsOversizedMergedRecord(t *testing.T) {
	// Two sources of one CVE, each below the limit, merge into a record
	// above it, because the merge keeps the affected entries of both.
	half := MaxRecordSize/2 + 1024
	dir := t.TempDir()
	for _, id := range []string{"GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1"} {
		writeFile(t, dir, id+".json", `{"id":"`+id+`","aliases":["CVE-2024-0001"],"modified":"2024-01-01T00:00:00Z",`+
			`"affected":[{"package":{"ecosystem":"PyPI","name":"`+strings.Repeat("p", half)+id+`"},"versions":["1.0"]}]}`)
	}
	_, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if !errors.Is(err, errdef.ErrInvalidRecord) {
		t.Fatalf("error = %v, want ErrInvalidRecord", err)
	}
	for _, want := range []string{"merged record CVE-2024-0001", "osv GHSA-aaaa-bbbb-cccc", "osv PYSEC-2024-1", "maximum of 33554431 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestReadLayerLineTooLong(t *testing.T) {
	raw := append(bytes.Repeat([]byte("x"), MaxRecordSize), '\n')
	data, err := compress(raw, zstdLevel)
	if err != nil {
		t.Fatal(err)
	}
	err = readLayer(bytes.NewReader(data), func([]byte) error { return nil })
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("error = %v, want ErrInvalidKit", err)
	}
	if !strings.Contains(err.Error(), "layer line 1 holds a record larger than import's maximum of 33554431 bytes") {
		t.Errorf("error %q does not say which line is too large and the limit", err)
	}
	if strings.Contains(err.Error(), "token too long") {
		t.Errorf("error %q gives the scanner's message", err)
	}
}
