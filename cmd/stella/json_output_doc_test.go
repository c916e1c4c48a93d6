package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/build"
	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/mirror"
	"stella-ops.org/ouk/oci/delta"
)

// documentedOutput is one section of docs/json-output.md and the Go
// types whose JSON it describes.
type documentedOutput struct {
	// section is the text of the section's "### " heading.
	section string
	// values are zero values of the types that the output encodes.
	values []any
	// keys are the keys of an output written as a map, which reflection
	// cannot list.
	keys []string
}

// documentedOutputs lists every JSON output and the section that
// documents it. A type that is the root of one section is documented
// there only, so other sections that contain it only name the field
// that holds it.
var documentedOutputs = []documentedOutput{
	{section: "Failure object", values: []any{commandFailure{}}},
	{section: "Import failure object", values: []any{importFailure{}}},
	{section: "Active kit object", values: []any{kitInfo{}}},
	{section: "Kit reference object", values: []any{kitRef{}}},
	{section: "Feed source object", values: []any{vulndb.SourceInfo{}}},
	{section: "DB layer object", values: []any{vulndb.LayerInfo{}}},
	// NOTE: keygen and sign write maps, so a key added in ouk_keygen.go or
	// ouk_sign.go without a change here goes unnoticed.
	{section: "stella ouk keygen", keys: []string{"privateKey", "publicKey"}},
	{section: "stella ouk sign", keys: []string{"kit", "signature"}},
	{section: "stella ouk build", values: []any{build.Result{}}},
	{section: "stella ouk verify", values: []any{verifyReport{}}},
	{section: "stella ouk inspect", values: []any{inspectReport{}}},
	{section: "stella ouk delta", values: []any{delta.Result{}}},
	{section: "stella ouk export", values: []any{exportResult{}}},
	{section: "stella ouk push", values: []any{mirror.PushResult{}}},
	{section: "stella ouk import", values: []any{importer.Result{}}},
	{section: "stella ouk status", values: []any{statusReport{}}},
	{section: "stella ouk history", values: []any{historyEntry{}}},
	{section: "stella ouk rollback", values: []any{rollbackReport{}}},
	{section: "stella ouk mirror", values: []any{mirrorReport{}}},
	{section: "stella ouk gc", values: []any{gcReport{}}},
	{section: "stella ouk check", values: []any{checkReport{}}},
	{section: "stella db status", values: []any{dbStatusReport{}}},
	// Lookup output adds database_specific.stellaops, a raw JSON value
	// that holds an Extra with a SeverityRating.
	{section: "stella db lookup", values: []any{vulndb.Record{}, vulndb.Extra{}, vulndb.SeverityRating{}}},
	{section: "stella scan", values: []any{scanReport{}}},
	{section: "stella quota status", values: []any{quota.State{}}},
	{section: "stella version", values: []any{buildVersion{}}},
}

// TestJSONOutputDocCoversFields checks that docs/json-output.md names, in backquotes,
// every JSON field of each output in the section that documents it, and
// that it has a section for every command with JSON output.
func TestJSONOutputDocCoversFields(t *testing.T) {
	doc, roots := readJSONOutputDoc(t)
	for _, out := range documentedOutputs {
		t.Run(out.section, func(t *testing.T) {
			text, ok := docSection(doc, out.section)
			if !ok {
				t.Fatalf("docs/json-output.md has no section \"### %s\"", out.section)
			}
			names := map[string]bool{}
			for _, key := range out.keys {
				names[key] = true
			}
			for _, v := range out.values {
				typ := reflect.TypeOf(v)
				skip := map[reflect.Type]bool{}
				for root := range roots {
					skip[root] = root != typ
				}
				collectJSONNames(typ, skip, map[reflect.Type]bool{}, names)
			}
			if len(names) == 0 {
				t.Fatal("no JSON field names found")
			}
			for name := range names {
				if !strings.Contains(text, "`"+name+"`") {
					t.Errorf("field `%s` is missing from the section \"### %s\" of docs/json-output.md", name, out.section)
				}
			}
		})
	}

	listed := map[string]bool{}
	for _, out := range documentedOutputs {
		listed[out.section] = true
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if hasJSONOutput(cmd) && !listed[cmd.CommandPath()] {
			t.Errorf("%s has JSON output but no entry in documentedOutputs and docs/json-output.md", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

// docSection returns the text under the heading "### heading" up to the
// next heading of level 2 or 3.
func docSection(doc, heading string) (string, bool) {
	_, rest, found := strings.Cut(doc, "\n### "+heading+"\n")
	if !found {
		return "", false
	}
	end := len(rest)
	for _, next := range []string{"\n## ", "\n### "} {
		if i := strings.Index(rest, next); i >= 0 && i < end {
			end = i
		}
	}
	return rest[:end], true
}

// walkJSONFields calls visit with the JSON name, the tag options and the
// type of each field that encoding/json writes for typ and the types of
// its fields, with the fields of embedded structs promoted. It does not
// descend into the types of skip or into a struct type in seen.
func walkJSONFields(typ reflect.Type, skip, seen map[reflect.Type]bool, visit func(name, options string, fieldType reflect.Type)) {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array ||
		typ.Kind() == reflect.Map {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || seen[typ] || skip[typ] {
		return
	}
	seen[typ] = true
	for i := range typ.NumField() {
		field := typ.Field(i)
		name, options, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if field.Anonymous && name == "" {
			walkJSONFields(field.Type, skip, seen, visit)
			continue
		}
		if !field.IsExported() {
			continue
		}
		if name == "" {
			name = field.Name
		}
		visit(name, options, field.Type)
		walkJSONFields(field.Type, skip, seen, visit)
	}
}

// collectJSONNames adds to names the JSON field names that walkJSONFields
// finds for typ.
func collectJSONNames(typ reflect.Type, skip, seen map[reflect.Type]bool, names map[string]bool) {
	walkJSONFields(typ, skip, seen, func(name, _ string, _ reflect.Type) {
		names[name] = true
	})
}

// hasJSONOutput reports whether cmd has an -o/--output or --format flag
// that selects text or JSON. Such a flag defaults to text, unlike the -o
// of build and delta, which names the kit file.
func hasJSONOutput(cmd *cobra.Command) bool {
	for _, name := range []string{"output", "format"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.DefValue == "text" {
			return true
		}
	}
	return false
}

// jsonBoolean is a boolean JSON field of an output type.
type jsonBoolean struct {
	name string
	// omitEmpty is set for a field that encoding/json leaves out when it
	// is false (a bool) or nil (a *bool).
	omitEmpty bool
	// pointer is set for a *bool, which is written as false too.
	pointer bool
}

// collectJSONBooleans adds to out the boolean fields that walkJSONFields
// finds for typ.
func collectJSONBooleans(typ reflect.Type, skip, seen map[reflect.Type]bool, out *[]jsonBoolean) {
	walkJSONFields(typ, skip, seen, func(name, options string, fieldType reflect.Type) {
		pointer := fieldType.Kind() == reflect.Pointer
		if fieldType.Kind() == reflect.Bool || (pointer && fieldType.Elem().Kind() == reflect.Bool) {
			omit := slices.Contains(strings.Split(options, ","), "omitempty")
			*out = append(*out, jsonBoolean{name: name, omitEmpty: omit, pointer: pointer})
		}
	})
}

// TestJSONOutputDocMarksBooleans checks the type column of every boolean
// field in docs/json-output.md against the conventions there. A field
// that is left out when false is optional, and one that is always written
// is not. A *bool is written as true or false and left out only when its
// value is unknown, so it is marked "when known".
func TestJSONOutputDocMarksBooleans(t *testing.T) {
	doc, roots := readJSONOutputDoc(t)
	for _, out := range documentedOutputs {
		text, ok := docSection(doc, out.section)
		if !ok {
			continue // TestJSONOutputDocCoversFields reports it
		}
		var booleans []jsonBoolean
		for _, v := range out.values {
			typ := reflect.TypeOf(v)
			skip := map[reflect.Type]bool{}
			for root := range roots {
				skip[root] = root != typ
			}
			collectJSONBooleans(typ, skip, map[reflect.Type]bool{}, &booleans)
		}
		for _, b := range booleans {
			want := "boolean"
			switch {
			case b.pointer && b.omitEmpty:
				want = "boolean, when known"
			case b.omitEmpty:
				want = "boolean, optional"
			}
			// Another table of the section may use the name for a field of
			// another type, such as the count `inKit` beside the boolean.
			rows := 0
			for _, line := range strings.Split(text, "\n") {
				cells := strings.Split(line, "|")
				if len(cells) < 4 || strings.TrimSpace(cells[1]) != "`"+b.name+"`" {
					continue
				}
				got := strings.TrimSpace(cells[2])
				if !strings.HasPrefix(got, "boolean") {
					continue
				}
				rows++
				if got != want {
					t.Errorf("%s: field `%s` has type %q in docs/json-output.md, want %q", out.section, b.name, got, want)
				}
			}
			if rows == 0 {
				t.Errorf("%s: docs/json-output.md has no table row of type boolean for field `%s`", out.section, b.name)
			}
		}
	}
}

// readJSONOutputDoc returns the text of docs/json-output.md and the types
// of documentedOutputs, each of which its own section documents.
func readJSONOutputDoc(t *testing.T) (string, map[reflect.Type]bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "json-output.md"))
	if err != nil {
		t.Fatal(err)
	}
	roots := map[reflect.Type]bool{}
	for _, out := range documentedOutputs {
		for _, v := range out.values {
			roots[reflect.TypeOf(v)] = true
		}
	}
	return string(raw), roots
}

// TestJSONOutputDocFieldOrder checks that a table of docs/json-output.md
// that lists every field of a struct lists them in the order that
// encoding/json writes them, as the conventions of that file promise.
// Structs whose fields no single table lists in full are not checked.
func TestJSONOutputDocFieldOrder(t *testing.T) {
	doc, roots := readJSONOutputDoc(t)
	checked := 0
	for _, out := range documentedOutputs {
		text, ok := docSection(doc, out.section)
		if !ok {
			continue
		}
		tables := docTableFields(text)
		for _, v := range out.values {
			typ := reflect.TypeOf(v)
			skip := map[reflect.Type]bool{}
			for root := range roots {
				skip[root] = root != typ
			}
			for _, fields := range structFieldOrders(typ, skip) {
				if slices.Equal(fields, directJSONNames(reflect.TypeOf(vulndb.Extra{}))) {
					// Lookup output writes database_specific.stellaops
					// through a map, so its keys come sorted.
					fields = slices.Sorted(slices.Values(fields))
				}
				for _, rows := range tables {
					if !containsAll(rows, fields) {
						continue
					}
					checked++
					var inDoc []string
					for _, row := range rows {
						if slices.Contains(fields, row) {
							inDoc = append(inDoc, row)
						}
					}
					if !slices.Equal(inDoc, fields) {
						t.Errorf("section \"### %s\" lists the fields %v in the order %v; the output writes them in the order %v",
							out.section, fields, inDoc, fields)
					}
					break
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no table of docs/json-output.md lists all fields of an output type")
	}
	t.Logf("checked the order of %d tables", checked)
}

// docTableFields returns, for each table of text, the field names of its
// rows, from rows that start with a name in backquotes.
func docTableFields(text string) [][]string {
	var tables [][]string
	var rows []string
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				tables = append(tables, rows)
			}
			rows = nil
			continue
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		if name, ok := strings.CutPrefix(cell, "`"); ok && strings.HasSuffix(name, "`") && !strings.Contains(name, " ") {
			rows = append(rows, strings.TrimSuffix(name, "`"))
		}
	}
	if len(rows) > 0 {
		tables = append(tables, rows)
	}
	return tables
}

// structFieldOrders returns, for typ and each struct type below it, the
// JSON field names in the order encoding/json writes them, with the fields
// of embedded structs in place. Structs with fewer than two fields are
// left out, since they have no order to check.
func structFieldOrders(typ reflect.Type, skip map[reflect.Type]bool) [][]string {
	var out [][]string
	seen := map[reflect.Type]bool{}
	var visit func(typ reflect.Type)
	visit = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array ||
			typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || skip[typ] {
			return
		}
		seen[typ] = true
		if own := directJSONNames(typ); len(own) > 1 {
			out = append(out, own)
		}
		var below []reflect.Type
		walkJSONFields(typ, skip, map[reflect.Type]bool{}, func(_, _ string, fieldType reflect.Type) {
			below = append(below, fieldType)
		})
		for _, b := range below {
			visit(b)
		}
	}
	visit(typ)
	return out
}

// directJSONNames returns the JSON field names of the struct typ, with
// those of its embedded structs in place.
func directJSONNames(typ reflect.Type) []string {
	var names []string
	for i := range typ.NumField() {
		field := typ.Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case field.Anonymous && name == "":
			ft := field.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				names = append(names, directJSONNames(ft)...)
			}
		case !field.IsExported():
		case name == "":
			names = append(names, field.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

func containsAll(rows, fields []string) bool {
	for _, f := range fields {
		if !slices.Contains(rows, f) {
			return false
		}
	}
	return true
}
