package crdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSafeInt is the largest integer a JavaScript number holds exactly.
// Integers beyond it are refused, so every replica, in any language, reads
// the same numbers.
const MaxSafeInt = 1<<53 - 1

// Kind is the kind of a scalar Value.
type Kind uint8

const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
)

// Value is a JSON-compatible scalar: null, a boolean, a number or a string.
// It is comparable, so it can key a map. Numbers that are whole and within
// ±MaxSafeInt are always kept as integers, so 1 and 1.0 are the same value.
type Value struct {
	kind Kind
	i    int64
	f    float64
	s    string
}

// Null is the JSON null.
func Null() Value { return Value{} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, i: 1}
	}
	return Value{kind: KindBool}
}

// Int returns an integer value; it fails outside ±MaxSafeInt.
func Int(i int64) (Value, error) {
	if i > MaxSafeInt || i < -MaxSafeInt {
		return Value{}, fmt.Errorf("%w: integer %d is beyond ±2^53-1", ErrInvalid, i)
	}
	return Value{kind: KindInt, i: i}, nil
}

// MustInt is Int for constants known to be in range.
func MustInt(i int64) Value {
	v, err := Int(i)
	if err != nil {
		panic(err)
	}
	return v
}

// Float returns a number value. NaN and infinities are refused because JSON
// cannot carry them; whole numbers become integers.
func Float(f float64) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, fmt.Errorf("%w: number %v is not finite", ErrInvalid, f)
	}
	if f == math.Trunc(f) && math.Abs(f) <= MaxSafeInt {
		return Value{kind: KindInt, i: int64(f)}, nil
	}
	return Value{kind: KindFloat, f: f}, nil
}

// String returns a string value. Invalid UTF-8 is replaced, never kept,
// since it has no JSON form; use StringValue to have it refused instead.
func String(s string) Value {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return Value{kind: KindString, s: s}
}

// StringValue returns a string value, refusing invalid UTF-8.
func StringValue(s string) (Value, error) {
	if !utf8.ValidString(s) {
		return Value{}, fmt.Errorf("%w: string is not valid UTF-8", ErrInvalid)
	}
	return Value{kind: KindString, s: s}, nil
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// Interface returns the value as nil, bool, int64, float64 or string.
func (v Value) Interface() any {
	switch v.kind {
	case KindBool:
		return v.i == 1
	case KindInt:
		return v.i
	case KindFloat:
		return v.f
	case KindString:
		return v.s
	}
	return nil
}

// ValueOf converts what encoding/json produces (nil, bool, float64,
// json.Number, string) or a Go integer into a Value.
func ValueOf(x any) (Value, error) {
	switch x := x.(type) {
	case nil:
		return Null(), nil
	case bool:
		return Bool(x), nil
	case int:
		return Int(int64(x))
	case int64:
		return Int(x)
	case float64:
		return Float(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return Value{}, fmt.Errorf("%w: number %s: %v", ErrInvalid, x, err)
		}
		return Float(f)
	case string:
		return StringValue(x)
	case Value:
		return x, nil
	}
	return Value{}, fmt.Errorf("%w: %T is not a JSON scalar", ErrInvalid, x)
}

// Compare orders values canonically: by the bytes of their binary encoding.
// It is a total order shared by every implementation.
func (v Value) Compare(o Value) int {
	return bytes.Compare(appendValue(nil, v), appendValue(nil, o))
}

// MarshalJSON writes the value as JSON. Numbers follow ECMAScript's
// Number.prototype.toString, as encoding/json does, so Go and JavaScript
// print identical text.
func (v Value) MarshalJSON() ([]byte, error) { return appendValueJSON(nil, v), nil }

// UnmarshalJSON reads a JSON scalar.
func (v *Value) UnmarshalJSON(b []byte) error {
	if err := CheckJSON(b); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return fmt.Errorf("%w: value: %v", ErrInvalid, err)
	}
	switch x.(type) {
	case map[string]any:
		return fmt.Errorf("%w: must be a JSON scalar (a string, number, true, false or null), not an object", ErrInvalid)
	case []any:
		return fmt.Errorf("%w: must be a JSON scalar (a string, number, true, false or null), not a list", ErrInvalid)
	}
	nv, err := ValueOf(x)
	if err != nil {
		return err
	}
	*v = nv
	return nil
}

func (v Value) String() string { return string(appendValueJSON(nil, v)) }

func appendValueJSON(b []byte, v Value) []byte {
	switch v.kind {
	case KindBool:
		if v.i == 1 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case KindInt:
		return strconv.AppendInt(b, v.i, 10)
	case KindFloat:
		j, _ := json.Marshal(v.f)
		return append(b, j...)
	case KindString:
		return appendQuoted(b, v.s)
	}
	return append(b, "null"...)
}

// appendQuoted writes s as a JSON string exactly as ECMAScript's
// JSON.stringify does (encoding/json differs: it escapes <, >, & and
// U+2028/U+2029), so canonical JSON is the same text in every client.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
