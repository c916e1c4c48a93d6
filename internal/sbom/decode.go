package sbom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// documentDecoder decodes the members of a JSON object into a struct of
// the SPDX or CycloneDX library, as json.Unmarshal would decode the whole
// object, with the same results and errors. It differs in the elements of
// array fields that occur once in the object. Those are decoded one at a
// time and passed to a handler instead of being stored, so that a large
// document is never held as library structs.
//
// json.Unmarshal stops at the first error that an UnmarshalJSON method
// returns, but only notes a value of the wrong JSON type and goes on, and
// it then returns the first such error. Since the members and elements
// are decoded in separate calls here, decodeMembers distinguishes the two
// kinds by the type that the error's field path leads to.
type documentDecoder struct {
	// doc is the struct that members are decoded into.
	doc reflect.Value
	// elementHandlers are called with each element of an array field,
	// keyed by the field's JSON name, as a pointer to the element.
	// Elements of other array fields are decoded and dropped.
	elementHandlers map[string]func(element reflect.Value)
	// checkOthers makes decodeMembers check that the values of members
	// that match no field are valid JSON, which encoding/json checks
	// before it decodes anything.
	checkOthers bool
	// firstTypeError is the first error that json.Unmarshal would have
	// noted and gone on after.
	firstTypeError error
}

// decodeMembers decodes members of doc, in order, into the fields of
// d.doc and returns the error that json.Unmarshal would return for the
// object: the first error from an UnmarshalJSON method, else the first
// value of the wrong type. For a value that is not valid JSON it returns
// errMalformed or a *json.SyntaxError, and once ctx is cancelled, ctx's
// error.
func (d *documentDecoder) decodeMembers(ctx context.Context, doc *document, members []member) error {
	fields := jsonFields(d.doc.Type())
	occurrences := map[int]int{}
	for _, m := range members {
		if f := matchField(fields, m.name); f != nil {
			occurrences[f.index]++
		}
	}
	w := &window{doc: doc, base: doc.start}
	for _, m := range members {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := matchField(fields, m.name)
		if f == nil && !d.checkOthers {
			continue
		}
		first, err := w.byteAt(m.start)
		if err != nil {
			return err
		}
		switch {
		case f == nil:
			err = checkValid(ctx, w, m, first)
		case isArrayField(f.typ) && occurrences[f.index] == 1 && first == '[':
			// An array that occurs twice is decoded whole below, since
			// json.Unmarshal decodes the second into the elements of
			// the first.
			err = d.decodeElements(ctx, w, f, m.start)
		default:
			var value []byte
			if value, err = w.load(m.start, m.end); err == nil {
				err = json.Unmarshal(value[:m.end-m.start], d.doc.Field(f.index).Addr().Interface())
				err = d.note(err, f.name, f.typ)
			}
		}
		if err != nil {
			return err
		}
	}
	return d.firstTypeError
}

// checkValid returns errMalformed unless the value of m, whose first byte
// is first, is valid JSON. An array is checked one element at a time.
func checkValid(ctx context.Context, w *window, m member, first byte) error {
	if first == '[' {
		_, err := scanElements(ctx, w, m.start, func(element []byte, _ scanned) error {
			if !json.Valid(element) {
				return errMalformed
			}
			return nil
		})
		return err
	}
	value, err := w.load(m.start, m.end)
	if err != nil {
		return err
	}
	if !json.Valid(value[:m.end-m.start]) {
		return errMalformed
	}
	return nil
}

// decodeElements decodes the elements of the JSON array at the offset
// start, the value of field f, one at a time and passes each to the
// field's handler.
func (d *documentDecoder) decodeElements(ctx context.Context, w *window, f *jsonField, start int64) error {
	elementType := f.typ
	if elementType.Kind() == reflect.Pointer {
		elementType = elementType.Elem()
	}
	elementType = elementType.Elem()
	handle := d.elementHandlers[f.name]
	_, err := scanElements(ctx, w, start, func(element []byte, _ scanned) error {
		v := reflect.New(elementType)
		if err := json.Unmarshal(element, v.Interface()); err != nil {
			return d.note(err, f.name, elementType)
		}
		if handle != nil {
			handle(v)
		}
		return nil
	})
	return err
}

// note adds the field name to err, as json.Unmarshal would report an
// error in the field, and returns it if it ends the decoding. An error of
// the wrong JSON type in a field without an UnmarshalJSON method is kept
// in d.firstTypeError instead, if it is the first, and note returns nil.
// typ is the type that err's field path starts from.
func (d *documentDecoder) note(err error, name string, typ reflect.Type) error {
	if err == nil {
		return nil
	}
	typeErr, ok := err.(*json.UnmarshalTypeError)
	if !ok {
		return err
	}
	path := typeErr.Field
	if path == "" {
		typeErr.Field = name
	} else {
		typeErr.Field = name + "." + path
	}
	if returnedByUnmarshaler(typ, splitPath(path)) {
		return err
	}
	if d.firstTypeError == nil {
		d.firstTypeError = err
	}
	return nil
}

func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, ".")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// returnedByUnmarshaler reports whether a json.UnmarshalTypeError at the
// field path, when decoding into typ, came from an UnmarshalJSON method
// on the way rather than from encoding/json itself. Paths name struct
// fields only, so the elements of arrays and maps are passed through.
//
// NOTE: a path that ends at an array of a type with an UnmarshalJSON
// method is taken as an array given a value of the wrong type, which
// json.Unmarshal notes and goes on after. The same path results when the
// method of one element returns an UnmarshalTypeError, which ends the
// decoding, and a document with that error and another one may then name
// the other. Of the library types, only some nested CycloneDX types
// return such errors.
func returnedByUnmarshaler(typ reflect.Type, path []string) bool {
	for {
		for {
			if typ.Implements(unmarshalerType) || reflect.PointerTo(typ).Implements(unmarshalerType) {
				return true
			}
			if typ.Kind() != reflect.Pointer {
				break
			}
			typ = typ.Elem()
		}
		if len(path) == 0 {
			return false
		}
		switch typ.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map:
			typ = typ.Elem()
		case reflect.Struct:
			f := fieldByName(jsonFields(typ), path[0])
			if f == nil {
				// A path that does not fit the type came from an
				// UnmarshalJSON method that decoded into another type.
				return true
			}
			typ, path = f.typ, path[1:]
		default:
			return true
		}
	}
}

// jsonField is a struct field as encoding/json decodes it.
type jsonField struct {
	// name is the field's JSON name.
	name  string
	index int
	typ   reflect.Type
}

// jsonFields returns the fields of the struct type t that encoding/json
// decodes, with their names. The library types have no embedded structs
// that encoding/json reads, and jsonFields panics on one so that a
// library update that adds one fails the tests.
func jsonFields(t reflect.Type) []jsonField {
	var fields []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		if sf.Anonymous {
			panic(fmt.Sprintf("sbom: embedded field %s of %s is not supported", sf.Name, t))
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, jsonField{name: name, index: i, typ: sf.Type})
	}
	return fields
}

// matchField returns the field that encoding/json decodes an object
// member with the given name into: the field of that exact name, else the
// first whose name is equal under Unicode case folding, else nil.
func matchField(fields []jsonField, name string) *jsonField {
	if f := fieldByName(fields, name); f != nil {
		return f
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, name) {
			return &fields[i]
		}
	}
	return nil
}

func fieldByName(fields []jsonField, name string) *jsonField {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// isArrayField reports whether t is a slice or a pointer to one, the types
// that the libraries give to arrays.
func isArrayField(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Slice
}

// contextError returns err if it is the error of a cancelled context, and
// nil otherwise.
func contextError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
