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

// A record that no import could read stops the build: leaving it out would
// drop its vulnerability, and a --base build would remove it from the sites.
func TestBuildStopsAtOversizedRecord(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "SMALL-1.json", ecosystemRecord("SMALL-1", "npm"))
	single := writeFile(t, dir, "BIG-1.json", bigRecord("BIG-1", MaxRecordSize))
	array := writeFile(t, dir, "page.json", "["+ecosystemRecord("SMALL-2", "npm")+","+bigRecord("BIG-2", MaxRecordSize)+"]")
	// Whitespace between tokens does not count: this record's line fits.
	writeFile(t, dir, "PADDED-1.json",
		strings.Replace(bigRecord("PADDED-1", MaxRecordSize-(1<<20)), ",", ","+strings.Repeat(" ", 2<<20), 1))

	_, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedOSV, Path: dir}}})
	if err == nil {
		t.Fatal("a feed with records too large to import built")
	}
	if !errors.Is(err, errdef.ErrInvalidRecord) {
		t.Errorf("err = %v, want an error wrapping errdef.ErrInvalidRecord", err)
	}
	msg := err.Error()
	size := fmt.Sprintf("%d bytes (32.0 MiB) without whitespace", len(bigRecord("BIG-1", MaxRecordSize)))
	for _, want := range []string{"contains 2 records too large for any import to read", single + " record BIG-1: too-large",
		array + " record BIG-2: too-large", size, "Fix or remove them in the feed copy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "PADDED-1") {
		t.Errorf("error %q names a record whose line fits", msg)
	}
}

func TestBuildStopsAtOversizedNVDRecord(t *testing.T) {
	dir := t.TempDir()
	page := `{"vulnerabilities":[{"cve":{"id":"CVE-2024-0001","published":"2024-01-01T00:00:00","lastModified":"2024-01-01T00:00:00",` +
		`"descriptions":[{"lang":"en","value":"small"}]}},{"cve":{"id":"CVE-2024-0002","published":"2024-01-01T00:00:00",` +
		`"lastModified":"2024-01-01T00:00:00","descriptions":[{"lang":"en","value":"` + strings.Repeat("x", MaxRecordSize) + `"}]}}]}`
	path := writeFile(t, dir, "page.json", page)
	_, err := Build(context.Background(), BuildOptions{Created: testCreated,
		Feeds: []Feed{{Kind: FeedNVD, Path: dir}}})
	if want := path + " record CVE-2024-0002: too-large"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Build = %v, want an error naming %q", err, want)
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
	if !strings.Contains(err.Error(), "layer line 1 contains a record larger than import's maximum of 33554431 bytes") {
		t.Errorf("error %q does not say which line is too large and the limit", err)
	}
	if strings.Contains(err.Error(), "token too long") {
		t.Errorf("error %q gives the scanner's message", err)
	}
}
