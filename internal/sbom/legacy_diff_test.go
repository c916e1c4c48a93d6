package sbom

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// parseResult is the outcome of one parse, for comparing two parsers.
type parseResult struct {
	format string
	pkgs   []Package
	err    string
	// panicked is the value of a panic, which the libraries raise for
	// some documents, or nil.
	panicked any
}

func runParser(parse func([]byte) (string, []Package, error), doc []byte) (r parseResult) {
	defer func() { r.panicked = recover() }()
	format, pkgs, err := parse(doc)
	r.format, r.pkgs = format, pkgs
	if err != nil {
		r.err = err.Error()
	}
	return r
}

// legacyMisspelling is in the library's message for an spdxVersion of
// SPDX 2 other than 2.1 to 2.3, which Parse words as for other versions.
const legacyMisspelling = "unsupported SDPX version: "

// compareWithLegacy returns how Parse and legacyParse differ on doc, or
// "" when they agree. Parse reads doc from memory, from a file in dir
// after some other bytes, and from memory through a window of a few bytes,
// which makes it reload at every step. They differ on purpose in two
// cases: the libraries panic on an SPDX 2.2 or 2.3 document with a null
// package, which Parse skips, and Parse words the error for an
// unsupported SPDX 2 version as for other versions.
func compareWithLegacy(dir string, doc []byte) string {
	want := runParser(func(b []byte) (string, []Package, error) { return legacyParse(bytes.NewReader(b)) }, doc)
	fromMemory := func(b []byte) (string, []Package, error) { return Parse(bytes.NewReader(b)) }
	fromFile := func(b []byte) (string, []Package, error) {
		path := filepath.Join(dir, "sbom.json")
		if err := os.WriteFile(path, append([]byte("skipped"), b...), 0o644); err != nil {
			return "", nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		if _, err := f.Seek(int64(len("skipped")), io.SeekStart); err != nil {
			return "", nil, err
		}
		return Parse(f)
	}
	smallWindow := func(b []byte) (string, []Package, error) {
		defer func(chunk int64) { windowChunk = chunk }(windowChunk)
		windowChunk = 3
		return Parse(bytes.NewReader(b))
	}
	for _, parse := range []struct {
		name  string
		parse func([]byte) (string, []Package, error)
	}{{"from memory", fromMemory}, {"from a file", fromFile}, {"through a small window", smallWindow}} {
		if diff := compareResults(runParser(parse.parse, doc), want); diff != "" {
			return parse.name + ": " + diff
		}
	}
	return ""
}

// compareResults returns how got, a result of Parse, differs from want, a
// result of legacyParse, apart from the differences that compareWithLegacy
// lists.
func compareResults(got, want parseResult) string {
	switch {
	case got.panicked != nil:
		return fmt.Sprintf("Parse panicked: %v", got.panicked)
	case want.panicked != nil:
		return ""
	case strings.Contains(want.err, legacyMisspelling):
		if !strings.Contains(got.err, "which is not an SPDX 2 version this stella reads") {
			return fmt.Sprintf("error %q, want the unsupported version named", got.err)
		}
		return ""
	case got.err != want.err:
		return fmt.Sprintf("error\n got %q\nwant %q", got.err, want.err)
	case got.format != want.format:
		return fmt.Sprintf("format %q, want %q", got.format, want.format)
	case !reflect.DeepEqual(got.pkgs, want.pkgs):
		return fmt.Sprintf("packages\n got %#v\nwant %#v", got.pkgs, want.pkgs)
	}
	return ""
}

// legacyEdgeCases are documents on which encoding/json and the libraries
// behave in ways that are easy to miss, each with what it checks.
var legacyEdgeCases = map[string]string{
	"2.1 with null and empty packages": `{"spdxVersion":"SPDX-2.1","packages":[null,{},{"name":""},{"externalRefs":[]},
		{"SPDXID":"SPDXRef-a","name":"a","externalRefs":[null,{},{"referenceType":"purl","referenceLocator":"pkg:npm/a@1"}]}]}`,
	"2.2 converted to 2.3": `{"spdxVersion":"SPDX-2.2","packages":[{},{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"NONE",
		"externalRefs":[{"referenceCategory":"PACKAGE_MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/a@1"}]}]}`,
	"2.3 without packages":             `{"spdxVersion":"SPDX-2.3"}`,
	"2.3 packages null":                `{"spdxVersion":"SPDX-2.3","packages":null}`,
	"2.3 packages twice":               `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"},{"name":"b"}],"packages":[{"name":"c"}]}`,
	"2.1 packages twice merge":         `{"spdxVersion":"SPDX-2.1","packages":[{"name":"a","versionInfo":"1"}],"Packages":[{"name":"b"}]}`,
	"2.3 packages then null":           `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"}],"packages":null}`,
	"spdxVersion in other case":        `{"spdxVersion":"SPDX-2.3","SPDXVERSION":"x","packages":[{"name":"a"}]}`,
	"spdxVersion twice":                `{"spdxVersion":"SPDX-2.2","spdxVersion":"SPDX-2.3"}`,
	"spdxVersion later null":           `{"spdxVersion":"SPDX-2.3","SpdxVersion":null}`,
	"escaped key":                      `{"spdx\u0056ersion":"SPDX-2.3","pack\u0061ges":[{"name":"a","SPDXID":"SPDXRef-\u0041"}]}`,
	"null SPDXID":                      `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","SPDXID":null}]}`,
	"number SPDXID":                    `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","SPDXID":5}]}`,
	"unsupported SPDX 2 version":       `{"spdxVersion":"SPDX-2.4"}`,
	"number out of float range":        `{"spdxVersion":"SPDX-2.3","x":[1,2e400,-3e999],"packages":[{"name":5}]}`,
	"number out of range in CycloneDX": `{"bomFormat":"CycloneDX","specVersion":"1.5","x":2e400,"version":3e400}`,
	"saved type error then Unmarshaler error": `{"spdxVersion":"SPDX-2.3","name":5,
		"packages":[{"name":"a","SPDXID":"bad"}]}`,
	"2.1 saved errors then Unmarshaler error": `{"spdxVersion":"SPDX-2.1","name":5,
		"packages":[{"name":6},{"SPDXID":"bad"}]}`,
	"2.1 two saved errors":                `{"spdxVersion":"SPDX-2.1","packages":[{"name":6}],"name":5}`,
	"files type error then package":       `{"spdxVersion":"SPDX-2.3","files":[{"fileName":5}],"packages":[{"name":6}]}`,
	"relationship with bad element":       `{"spdxVersion":"SPDX-2.3","relationships":[{"spdxElementId":"x","relatedSpdxElement":"SPDXRef-a","relationshipType":"CONTAINS"}]}`,
	"documentDescribes bad":               `{"spdxVersion":"SPDX-2.3","documentDescribes":["x"],"packages":[{"name":"a"}]}`,
	"documentDescribes after error":       `{"spdxVersion":"SPDX-2.3","documentDescribes":["x"],"name":5}`,
	"documentDescribes type error":        `{"spdxVersion":"SPDX-2.2","documentDescribes":"SPDXRef-a","DocumentDescribes":["x"]}`,
	"2.1 ignores documentDescribes":       `{"spdxVersion":"SPDX-2.1","documentDescribes":["x"]}`,
	"hasFiles bad":                        `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","hasFiles":["x"]}]}`,
	"creators bad":                        `{"spdxVersion":"SPDX-2.3","creationInfo":{"creators":["nobody"]}}`,
	"creators type error":                 `{"spdxVersion":"SPDX-2.3","creationInfo":{"creators":"Tool: x"},"packages":[{"SPDXID":"bad"}]}`,
	"packages not an array":               `{"spdxVersion":"SPDX-2.3","packages":{},"files":[{"SPDXID":"bad"}]}`,
	"packages of strings":                 `{"spdxVersion":"SPDX-2.3","packages":["a"]}`,
	"2.1 packages of strings":             `{"spdxVersion":"SPDX-2.1","packages":["a"],"files":[{"SPDXID":"bad"}]}`,
	"supplier bad":                        `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","supplier":"nobody"}]}`,
	"snippets type error":                 `{"spdxVersion":"SPDX-2.3","snippets":[{"ranges":[{"startPointer":{"offset":"x"}}]}]}`,
	"CycloneDX null component":            `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[null,{"name":"a","purl":"pkg:npm/a@1"}]}`,
	"CycloneDX nested type error":         `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a","components":[{"name":5}]}]}`,
	"CycloneDX specVersion other case":    `{"bomFormat":"CycloneDX","specVersion":"1.5","SpecVersion":"1.2","components":[]}`,
	"CycloneDX specVersion invalid first": `{"bomFormat":"CycloneDX","specVersion":"9.9","specVersion":"1.5"}`,
	"CycloneDX components twice merge": `{"bomFormat":"CycloneDX","specVersion":"1.5",
		"components":[{"name":"a","purl":"pkg:npm/a@1"},{"name":"x"}],"components":[{"name":"b"}]}`,
	"CycloneDX metadata after components": `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"a"}],
		"metadata":{"component":{"name":"app","purl":"pkg:npm/app@1","components":[{"name":"inner"}]}}}`,
	"CycloneDX metadata twice merge": `{"bomFormat":"CycloneDX","specVersion":"1.6",
		"metadata":{"component":{"name":"app","purl":"pkg:npm/app@1"}},"metadata":{"timestamp":"2026-01-01T00:00:00Z"}}`,
	"CycloneDX evidence type error":   `{"bomFormat":"CycloneDX","specVersion":"1.5","version":"x","components":[{"evidence":{"identity":5}}]}`,
	"CycloneDX tools type error":      `{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"tools":5},"components":[{"name":6}]}`,
	"CycloneDX saved then nested":     `{"bomFormat":"CycloneDX","specVersion":"1.5","version":"x","dependencies":[{"ref":5}]}`,
	"CycloneDX components not array":  `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{},"services":[{"name":5}]}`,
	"CycloneDX dependencies elements": `{"bomFormat":"CycloneDX","specVersion":"1.5","dependencies":[null,{"ref":"a","dependsOn":[5]}]}`,
	"trailing data":                   `{"spdxVersion":"SPDX-2.3"} x`,
	"deep nesting":                    `{"spdxVersion":"SPDX-2.3","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

func TestParseMatchesLibraries(t *testing.T) {
	docs := map[string][]byte{
		"generated SPDX":      generateSPDX(20),
		"generated CycloneDX": generateCycloneDX(20),
		"CycloneDX 1.2":       []byte(fmt.Sprintf(cycloneDX12, "1.2")),
		"CycloneDX 1.7":       []byte(cycloneDX17),
	}
	for name, doc := range legacyEdgeCases {
		docs[name] = []byte(doc)
	}
	for _, path := range []string{testCycloneDX, filepath.Join("..", "..", "..", "shared", "testdata", "spdx", "bitnami-postgresql.spdx.json")} {
		if raw, err := os.ReadFile(path); err == nil {
			docs[path] = raw
		}
	}
	dir := t.TempDir()
	for name, doc := range docs {
		if diff := compareWithLegacy(dir, doc); diff != "" {
			t.Errorf("%s: %s", name, diff)
		}
	}
}

// TestParseSkipsNullSPDXPackage checks that a null package is skipped in
// SPDX 2.2 and 2.3, where the library panics on it.
func TestParseSkipsNullSPDXPackage(t *testing.T) {
	for _, version := range []string{"SPDX-2.2", "SPDX-2.3"} {
		doc := `{"spdxVersion":"` + version + `","packages":[null,{"SPDXID":"SPDXRef-a","name":"a"}]}`
		_, pkgs, err := Parse(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		if len(pkgs) != 1 || pkgs[0].Name != "a" {
			t.Errorf("%s: packages %+v, want only a", version, pkgs)
		}
	}
}

// FuzzParseMatchesLibraries checks that Parse returns what the library
// decoders return for any input, apart from the cases that
// compareWithLegacy lists.
func FuzzParseMatchesLibraries(f *testing.F) {
	f.Add(generateSPDX(2))
	f.Add(generateCycloneDX(2))
	f.Add([]byte(cycloneDX17))
	f.Add([]byte(fmt.Sprintf(cycloneDX12, "1.3")))
	for _, doc := range legacyEdgeCases {
		if len(doc) < 4096 {
			f.Add([]byte(doc))
		}
	}
	for _, path := range []string{testCycloneDX, filepath.Join("..", "..", "..", "shared", "testdata", "spdx", "bitnami-postgresql.spdx.json")} {
		if raw, err := os.ReadFile(path); err == nil {
			f.Add(raw)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc []byte) {
		if diff := compareWithLegacy(dir, doc); diff != "" {
			t.Errorf("%s\ndocument: %q", diff, doc)
		}
	})
}
