package sbom

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// tinyMembersDocument returns an SPDX document of at least size bytes
// made of many members named "a", which no decoder reads, followed by
// tail.
func tinyMembersDocument(size int, tail string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"spdxVersion":"SPDX-2.3"`)
	for b.Len() < size {
		b.WriteString(`,"a":0`)
	}
	b.WriteString(tail)
	b.WriteString(`}`)
	return b.Bytes()
}

func TestScanTopLevelKeepsReadMembers(t *testing.T) {
	// "pac\u212aages" is "packages" with a Kelvin sign, which
	// encoding/json matches to the field by Unicode case folding.
	raw := tinyMembersDocument(64<<10, `,"packages":[],"PACKAGES":[],"pac\u212aages":[],"x\u00e9":{"y":[1]}`)
	top, err := scanTopLevel(context.Background(), &document{src: bytes.NewReader(raw), end: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"spdxVersion", "packages", "PACKAGES", "pac\u212aages"}
	if len(top.members) != len(want) {
		t.Fatalf("%d stored members, want %d: %q", len(top.members), len(want), want)
	}
	for i, m := range top.members {
		if m.name != want[i] {
			t.Errorf("stored member %d is %q, want %q", i, m.name, want[i])
		}
	}
}

// TestFoldNameMatchesEqualFold checks that foldName makes two names
// equal exactly when strings.EqualFold does, for names that differ in
// case, in runes such as the Kelvin sign that fold to ASCII, and in
// length.
func TestFoldNameMatchesEqualFold(t *testing.T) {
	names := []string{"packages", "PACKAGES", "pac\u212aages", "pacKages", "packagess", "package", "\u017fpdxVersion",
		"spdxversion", "stra\u00dfe", "STRA\u1e9eE", "strasse", "@context", "@CONTEXT", ""}
	for _, a := range names {
		for _, b := range names {
			if got, want := foldName(a) == foldName(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldName(%q) == foldName(%q) is %v, but strings.EqualFold returns %v", a, b, got, want)
			}
		}
	}
}

// TestScanTopLevelMemoryBound checks that the two passes over a document
// of many unread members allocate less than a quarter of the document's
// size. A list of every member would take about 6 times its size.
func TestScanTopLevelMemoryBound(t *testing.T) {
	defer func(chunk int64) { windowChunk = chunk }(windowChunk)
	windowChunk = 64 << 10
	raw := tinyMembersDocument(4<<20, "")
	doc := &document{src: bytes.NewReader(raw), end: int64(len(raw))}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, pkgs, err := parseDocument(context.Background(), doc)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 0 {
		t.Errorf("%d packages, want none", len(pkgs))
	}
	// Each pass allocates one window of windowChunk bytes.
	if allocated, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(raw)/4); allocated > limit {
		t.Errorf("parsing a %d-byte document allocated %d bytes, want at most %d", len(raw), allocated, limit)
	}
}

func TestParseRejectsInvalidUnreadMember(t *testing.T) {
	for _, member := range []string{`"x":tru`, `"x":[1,tru]`, `"x":{"y":01}`, `"x\q":0`, `"x\u00e9":nul`} {
		raw := `{"spdxVersion":"SPDX-2.3",` + member + `}`
		_, _, err := Parse(strings.NewReader(raw))
		if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("member %s: error %v, want an invalid JSON error", member, err)
		}
	}
}

// countingReaderAt counts the bytes read from r.
type countingReaderAt struct {
	r    *bytes.Reader
	read int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// TestParseContextStopsBetweenMembers checks that a cancelled context
// stops the scan of top-level members that are not arrays within a
// window. The windows read 256 bytes at a time.
func TestParseContextStopsBetweenMembers(t *testing.T) {
	defer func(chunk int64) { windowChunk = chunk }(windowChunk)
	windowChunk = 256
	raw := tinyMembersDocument(64<<10, "")
	src := &countingReaderAt{r: bytes.NewReader(raw)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := parseDocument(ctx, &document{src: src, end: int64(len(raw))})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if limit := 2 * windowChunk; src.read > limit {
		t.Errorf("read %d bytes of a %d-byte document after the cancel, want at most %d", src.read, len(raw), limit)
	}
}
