package vulndb

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestLookupOutputFields checks that outputRecord has the JSON fields of
// Record, in the same order, so lookup output loses no field that the
// record gains.
func TestLookupOutputFields(t *testing.T) {
	rec, out := reflect.TypeFor[Record](), reflect.TypeFor[outputRecord]()
	if rec.NumField() != out.NumField() {
		t.Fatalf("Record has %d fields, outputRecord %d", rec.NumField(), out.NumField())
	}
	for i := range rec.NumField() {
		rf, of := rec.Field(i), out.Field(i)
		if rf.Name != of.Name || rf.Tag != of.Tag {
			t.Errorf("field %d: Record has %s %q, outputRecord %s %q", i, rf.Name, rf.Tag, of.Name, of.Tag)
		}
	}
}

// TestLookupOutputPackage checks that lookup output leaves out the package
// of an affected entry without one, while the layer line keeps the form
// that earlier versions wrote. For a record whose entries all name a
// package, the output equals the layer line.
func TestLookupOutputPackage(t *testing.T) {
	withPackage := Affected{Package: Package{Ecosystem: "npm", Name: "a"},
		Ranges: []Range{{Type: "SEMVER", Events: []Event{{Introduced: "0"}, {Fixed: "1.0.0"}}}}}
	git := Affected{Ranges: []Range{{Type: "GIT", Repo: "https://git.example.test/a",
		Events: []Event{{Introduced: "0"}, {Fixed: "abc"}}}}}
	r := Record{ID: "CVE-2030-0001", Modified: "2030-01-01T00:00:00Z", Affected: []Affected{withPackage, git}}

	out, err := marshalJSON(LookupOutput(r))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"CVE-2030-0001","modified":"2030-01-01T00:00:00Z","affected":[` +
		`{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]},` +
		`{"ranges":[{"type":"GIT","repo":"https://git.example.test/a","events":[{"introduced":"0"},{"fixed":"abc"}]}]}]}`
	if string(out) != want {
		t.Errorf("lookup output:\n%s\nwant\n%s", out, want)
	}

	line, err := encodeLine(&r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`{"package":{"ecosystem":"","name":""},"ranges":[{"type":"GIT"`)) {
		t.Errorf("layer line %s lacks the empty package that earlier versions wrote", line)
	}

	r.Affected = r.Affected[:1]
	out, _ = marshalJSON(LookupOutput(r))
	line, _ = encodeLine(&r)
	if !bytes.Equal(out, line) {
		t.Errorf("lookup output %s differs from the layer line %s", out, line)
	}
	var back Record
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("lookup output decodes to %+v (%v), want %+v", back, err, r)
	}
}
