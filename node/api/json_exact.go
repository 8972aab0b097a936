package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/lattice-sync/lattice/crdt"
)

// Every JSON message a client sends, over HTTP or WebSocket, is decoded by
// decodeExact: what encoding/json leaves loose is refused, so that a client
// is read the same way by every node and every client library.

// exactProblem is what decodeExact found; the HTTP and WebSocket layers
// give each its documented code.
type exactProblem uint8

const (
	exactSyntax   exactProblem = iota + 1 // not one JSON object
	exactDup                              // a name twice in one object
	exactEncoding                         // invalid UTF-8 or a lone UTF-16 surrogate
	exactUnknown                          // a name the message does not have (names are case-sensitive)
	exactNull                             // null where a value is required
	exactType                             // a value of the wrong JSON type
)

// exactError is decodeExact's error, written for the API's user.
type exactError struct {
	problem exactProblem
	msg     string
}

func (e *exactError) Error() string { return e.msg }

// decodeExact decodes data, one JSON object, into v, a pointer to a
// struct. Beyond encoding/json it refuses duplicate names, invalid UTF-8
// and lone surrogates (crdt.CheckJSON), names that match a field only
// without regard to case or match none, and null for any field but a
// json.RawMessage (whose reader decides what null means), at every level of
// nested structs.
func decodeExact(data []byte, v any) error {
	if err := crdt.CheckJSON(data); err != nil {
		var je *crdt.JSONError
		p := exactSyntax
		if errors.As(err, &je) {
			switch je.Problem {
			case crdt.JSONDuplicate:
				p = exactDup
			case crdt.JSONEncoding:
				p = exactEncoding
			}
			return &exactError{p, fmt.Sprintf("at byte %d: %s", je.Offset, je.Msg)}
		}
		return &exactError{p, err.Error()}
	}
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		return &exactError{exactSyntax, "invalid JSON"}
	}
	if _, ok := tree.(map[string]any); !ok {
		return &exactError{exactSyntax, "expected a JSON object"}
	}
	if err := checkNames(tree, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return &exactError{exactType, fmt.Sprintf("field %q: expected %s, got %s", ute.Field, jsonKind(ute.Type), ute.Value)}
		}
		return &exactError{exactType, "a value has the wrong JSON type"}
	}
	return nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// checkNames walks the decoded tree beside the Go type it will fill.
func checkNames(tree any, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := tree.(map[string]any)
		if !ok {
			return nil // a type error, which json.Unmarshal reports
		}
		fields := jsonFields(t)
		for name, val := range obj {
			f, ok := fields[name]
			if !ok {
				return &exactError{exactUnknown, fmt.Sprintf("unknown field %q%s (names are case-sensitive)", at+name, knownHint(fields))}
			}
			if val == nil {
				if f.Type == rawMessageType {
					continue
				}
				return &exactError{exactNull, fmt.Sprintf("field %q: null is not allowed; leave the field out instead", at+name)}
			}
			if err := checkNames(val, f.Type, at+name+"."); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if t == rawMessageType {
			return nil
		}
		arr, _ := tree.([]any)
		for _, x := range arr {
			if x == nil {
				return &exactError{exactNull, fmt.Sprintf("field %q: null is not allowed in this list", strings.TrimSuffix(at, "."))}
			}
			if err := checkNames(x, t.Elem(), at); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, _ := tree.(map[string]any)
		for k, x := range obj {
			if x == nil && t.Elem() != rawMessageType && t.Elem().Kind() != reflect.Interface {
				return &exactError{exactNull, fmt.Sprintf("field %q: null is not allowed", at+k)}
			}
			if err := checkNames(x, t.Elem(), at+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps a struct's JSON names to its fields, as encoding/json
// names them (tag name, else the Go name; "-" skipped).
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func knownHint(fields map[string]reflect.StructField) string {
	if len(fields) == 0 || len(fields) > 8 {
		return ""
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return "; expected " + strings.Join(names, ", ")
}

// jsonKind names a Go type as a JSON user sees it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}
