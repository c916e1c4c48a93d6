package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestIndexLayerKeepsEveryID indexes a layer many line buffers long and
// looks up every record by ID, which fails if an ID outlives its line.
func TestIndexLayerKeepsEveryID(t *testing.T) {
	recs := genRecords(3000, 11)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	l, err := newLayer(recs, LayerBase, "mixed", "line buffer test")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Data); n < 4*64<<10 {
		t.Fatalf("layer is %d bytes compressed; the test needs several line buffers of records", n)
	}
	st := pebbleKV(t)
	if err := IndexLayer(context.Background(), st, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(st, nil, []ocispec.Descriptor{l.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		got, err := db.Lookup(r.ID)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", r.ID, err)
		}
		if ids(got) != r.ID {
			t.Fatalf("Lookup(%s) = %s", r.ID, ids(got))
		}
		if got[0].Modified != r.Modified || got[0].Summary != r.Summary {
			t.Fatalf("Lookup(%s) returned a record that differs from the one indexed", r.ID)
		}
	}
}

// FuzzRecordExtras checks the one-pass reader of the tombstone flag and
// the NVD configurations against encoding/json.
func FuzzRecordExtras(f *testing.F) {
	f.Add(`{"tombstone":false,"sources":[{"feed":"nvd","id":"CVE-2023-4863"}],"nvd_configurations":[{"nodes":[{"operator":"OR",` +
		`"negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:webmproject:libwebp:*:*:*:*:*:*:*:*","versionEndExcluding":"1.3.2"}]}]}]}`)
	f.Add(`{"tombstone":true,"nvd_configurations":null}`)
	f.Add(`{"nvd_configurations":[{"nodes":[{"cpeMatch":[{"criteria":"cpe:2.3:o:linux:linux_kernel:6.1:*:*:*:*:*:*:*"}]}]}],"tombstone":true}`)
	f.Add(`{"tombstone":null,"nvd_configurations":[]}`)
	f.Add(`{"nvd_configurations":[{"operator":"AND","nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,` +
		`"criteria":"cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*"}]},{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":false,` +
		`"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"}]}]}]}`)
	f.Add(`{"nvd_configurations":[{"operator":"AND","negate":true,"nodes":[{"operator":"OR","negate":false,"cpeMatch":[` +
		`{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*"}]}]}]}`)
	f.Add(`{"Tombstone":true}`)
	f.Add(`{"tombstone":true,"tombstone":false}`)
	f.Add(`{}`)
	// The indexer decodes each record into buffers that earlier records
	// filled, so each input follows a record of several configurations.
	var buf configBuffers
	earlier := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(`{"nvd_configurations":[` +
		nvdConfigJSON("AND", nvdNodeJSON("OR", false, widgetBelow2, widget15), nvdNodeJSON("OR", true, onLinux)) + `,` +
		nvdConfigJSON("", nvdNodeJSON("OR", false, widgetNoVersion)) + `]}`)}}
	f.Fuzz(func(t *testing.T, raw string) {
		recordExtras(&earlier, &buf)
		rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(raw)}}
		tombstone, configs := recordExtras(&rec, &buf)
		if _, fresh := recordExtras(&rec, nil); fmt.Sprintf("%+v", fresh) != fmt.Sprintf("%+v", configs) {
			t.Fatalf("configurations = %+v with reused buffers, %+v with new ones", configs, fresh)
		}
		var ex Extra
		_ = json.Unmarshal([]byte(raw), &ex)
		if tombstone != ex.Tombstone {
			t.Fatalf("tombstone = %v, encoding/json gives %v", tombstone, ex.Tombstone)
		}
		// %+v prints nil and empty slices alike, as the callers treat them.
		fast, slow := fmt.Sprintf("%+v", configs), fmt.Sprintf("%+v", recordConfigsJSON(&rec))
		if fast != slow {
			t.Fatalf("configurations = %s, encoding/json gives %s", fast, slow)
		}
	})
}

// FuzzSplitCPEPlain checks the copy-free split of a CPE name without
// escapes against the general one.
func FuzzSplitCPEPlain(f *testing.F) {
	for _, s := range []string{
		"a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*",
		"a:vendor:product",
		"a::product::",
		"a:b:c:d:e:f:g:h:i:j:k:l:m",
		"",
		":",
		"o:linux:linux_kernel:6.1:-:*:*:*:*:*:*",
		"a:ünïcode:prödüct:1.0:*:*:*:*:*:*:*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		if strings.Contains(rest, `\`) || !utf8.ValidString(rest) {
			return
		}
		var buf [11]string
		plain := splitCPEPlain(rest, &buf)
		escaped := splitCPEEscaped(rest)
		if !slices.Equal(plain, escaped) {
			t.Fatalf("splitCPEPlain(%q) = %q, splitCPEEscaped gives %q", rest, plain, escaped)
		}
		a, errA := parseCPE("cpe:2.3:" + rest)
		if len(escaped) > 11 {
			if errA == nil {
				t.Fatalf("parseCPE accepts %d attributes", len(escaped))
			}
			return
		}
		b, errB := cpeFromAttrs(escaped)
		if (errA == nil) != (errB == nil) || a != b {
			t.Fatalf("parseCPE(%q) = %+v, %v; the general split gives %+v, %v", rest, a, errA, b, errB)
		}
	})
}

// TestSplitCPEPlainCountsEveryAttribute checks that the error for too many
// attributes counts all of them.
func TestSplitCPEPlainCountsEveryAttribute(t *testing.T) {
	_, err := parseCPE("cpe:2.3:a:b:c:d:e:f:g:h:i:j:k:l:m")
	if err == nil || !strings.Contains(err.Error(), "13 attributes") {
		t.Fatalf("error = %v, want one that counts 13 attributes", err)
	}
}

// TestRecordExtrasReusesBuffers checks that indexing decodes the
// configurations of a record without allocating once its buffers have
// grown, as an import does for every NVD record of a kit.
func TestRecordExtrasReusesBuffers(t *testing.T) {
	rec := Record{DatabaseSpecific: map[string]json.RawMessage{dbKey: json.RawMessage(`{"nvd_configurations":[` +
		nvdConfigJSON("AND", nvdNodeJSON("OR", false, widgetBelow2, widget15), nvdNodeJSON("OR", true, onLinux)) + `,` +
		nvdConfigJSON("", nvdNodeJSON("OR", false, widgetNoVersion)) + `]}`)}}
	var buf configBuffers
	if _, configs := recordExtras(&rec, &buf); len(configs) != 2 {
		t.Fatalf("recordExtras = %+v, want 2 configurations", configs)
	}
	if allocs := testing.AllocsPerRun(100, func() { recordExtras(&rec, &buf) }); allocs != 0 {
		t.Errorf("recordExtras with grown buffers allocates %v times per record, want 0", allocs)
	}
}
