package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OpKind is what an operation does.
type OpKind uint8

const (
	OpInc     OpKind = iota + 1 // counters: add By (a PN-counter takes negative By)
	OpDec                       // PN-counter: subtract By
	OpAdd                       // set: add Value
	OpRemove                    // set: remove Value (a no-op if absent)
	OpSet                       // LWW and multi-value registers: write Value
	OpEnable                    // flag: enable
	OpDisable                   // flag: disable
	OpDelete                    // map: remove the field Path names, whatever its type; text: remove Count characters at Index
	OpInsert                    // text: insert the string Value at Index; list: insert an element at Index
	OpMove                      // list: move the element at Index so that it ends at To

	maxOp = OpMove
)

var opNames = [...]string{
	OpInc: "inc", OpDec: "dec", OpAdd: "add", OpRemove: "remove",
	OpSet: "set", OpEnable: "enable", OpDisable: "disable", OpDelete: "delete",
	OpInsert: "insert", OpMove: "move",
}

func (k OpKind) String() string {
	if k >= OpInc && k <= maxOp {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// ParseOpKind reads an operation name.
func ParseOpKind(s string) (OpKind, error) {
	for k := OpInc; k <= maxOp; k++ {
		if opNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown op %q", ErrInvalidOp, s)
}

// opsOf lists which operations each type has.
var opsOf = map[Type][]OpKind{
	TypeGCounter:   {OpInc},
	TypePNCounter:  {OpInc, OpDec},
	TypeORSet:      {OpAdd, OpRemove},
	TypeORMap:      {OpDelete},
	TypeLWW:        {OpSet},
	TypeMVRegister: {OpSet},
	TypeEWFlag:     {OpEnable, OpDisable},
	TypeText:       {OpInsert, OpDelete},
	TypeList:       {OpInsert, OpDelete, OpMove},
}

// Op is one operation on an object. With an empty Path it acts on the
// object itself, which must be of Type. With a Path the object is a map and
// Path names map fields from the root down: every field but the last is a
// map, and the last is of Type (for OpDelete, the field to remove, of any
// type, and Type is TypeORMap). A text's operations take positions:
// Index counts Unicode code points (not bytes, not UTF-16 units) before
// the place, Count how many to delete, and an insert's Value is a string.
// A list's take element indexes: insert puts Value (a scalar) or, with Map
// set, a map element with those fields (LWW registers) at Index; delete
// removes Count elements at Index; move takes the element at Index (from)
// so that it ends at index To of the list.
type Op struct {
	Type  Type
	Kind  OpKind
	Path  []string
	Value Value
	By    int64
	Index int64
	Count int64
	To    int64
	Map   map[string]Value
	// Item, if set, puts a list index into Path: the op acts on the map
	// of an element of a list, so that a field of the element can change
	// while others move it.
	Item *ItemRef
}

// ItemRef is a list index in an op's path: Path[:At] names the list (the
// object itself if At is 0), Index is the element (a map), and Path[At:],
// at least one field, goes on inside its map. In JSON the index is a
// number in the path: ["col",2,"title"]. A path holds at most one.
type ItemRef struct {
	At    int
	Index int64
}

// Validate checks the operation on its own, before any state is read.
func (op Op) Validate() error {
	if !op.Type.Valid() {
		return fmt.Errorf("%w: unknown type %d", ErrInvalid, uint8(op.Type))
	}
	ok := false
	for _, k := range opsOf[op.Type] {
		ok = ok || k == op.Kind
	}
	if !ok {
		return fmt.Errorf("%w: a %s has no %q operation", ErrInvalidOp, op.Type, op.Kind)
	}
	if op.Item != nil && (op.Item.At < 0 || op.Item.At >= len(op.Path) || op.Item.Index < 0 || op.Item.Index > MaxSafeInt) {
		return fmt.Errorf("%w: a list index in a path needs a field after it and must be from 0 to 2^53-1", ErrInvalid)
	}
	if op.Map != nil && (op.Type != TypeList || op.Kind != OpInsert) {
		return fmt.Errorf("%w: only a list insert takes an object value", ErrInvalid)
	}
	if op.Type == TypeORMap && len(op.Path) == 0 {
		return fmt.Errorf("%w: delete needs the path of a map field", ErrInvalidOp)
	}
	if len(op.Path) > MaxDepth {
		return fmt.Errorf("%w: path of %d fields exceeds %d", ErrLimit, len(op.Path), MaxDepth)
	}
	for _, f := range op.Path {
		if len(f) > MaxFieldName {
			return fmt.Errorf("%w: field name of %d bytes exceeds %d", ErrLimit, len(f), MaxFieldName)
		}
		if !utf8.ValidString(f) {
			return fmt.Errorf("%w: field name is not valid UTF-8", ErrInvalid)
		}
	}
	if op.Kind == OpInc || op.Kind == OpDec {
		if op.By > MaxSafeInt || op.By < -MaxSafeInt {
			return fmt.Errorf("%w: by %d is beyond ±2^53-1", ErrInvalid, op.By)
		}
		if op.Type == TypeGCounter && op.By < 0 {
			return fmt.Errorf("%w: a gcounter only grows (by %d)", ErrInvalidOp, op.By)
		}
	}
	switch op.Type {
	case TypeText:
		return op.validateText()
	case TypeList:
		return op.validateList()
	}
	return nil
}

// validateList checks a list operation's indexes and value.
func (op Op) validateList() error {
	if op.Index < 0 || op.Index > MaxSafeInt || op.To < 0 || op.To > MaxSafeInt {
		return fmt.Errorf("%w: a list index is from 0 to 2^53-1", ErrInvalid)
	}
	if op.Kind == OpDelete && (op.Count < 1 || op.Count > MaxSafeInt) {
		return fmt.Errorf("%w: a list delete needs a count from 1 to 2^53-1, not %d", ErrInvalid, op.Count)
	}
	if len(op.Map) > MaxListFields {
		return fmt.Errorf("%w: an element of %d fields exceeds %d", ErrLimit, len(op.Map), MaxListFields)
	}
	for name := range op.Map {
		if len(name) > MaxFieldName {
			return fmt.Errorf("%w: field name of %d bytes exceeds %d", ErrLimit, len(name), MaxFieldName)
		}
		if !utf8.ValidString(name) {
			return fmt.Errorf("%w: field name is not valid UTF-8", ErrInvalid)
		}
	}
	return nil
}

// validateText checks a text operation's positions and string.
func (op Op) validateText() error {
	if op.Index < 0 || op.Index > MaxSafeInt {
		return fmt.Errorf("%w: index %d is negative or beyond 2^53-1", ErrInvalid, op.Index)
	}
	if op.Kind == OpDelete {
		if op.Count < 1 || op.Count > MaxSafeInt {
			return fmt.Errorf("%w: a text delete needs a count from 1 to 2^53-1, not %d", ErrInvalid, op.Count)
		}
		return nil
	}
	if op.Value.kind != KindString || op.Value.s == "" {
		return fmt.Errorf("%w: a text insert needs a non-empty string value", ErrInvalid)
	}
	if n := utf8.RuneCountInString(op.Value.s); n > MaxTextInsert {
		return fmt.Errorf("%w: insert of %d characters exceeds %d", ErrLimit, n, MaxTextInsert)
	}
	return nil
}

// opJSON is the wire form: {"type":"counter","op":"inc","by":1},
// {"type":"lww","op":"set","path":["title"],"value":"Plan"},
// {"type":"text","op":"insert","index":3,"value":"abc"},
// {"type":"text","op":"delete","index":3,"count":2},
// {"type":"list","op":"insert","index":0,"value":{"title":"x"}},
// {"type":"list","op":"move","from":3,"to":0},
// {"type":"lww","op":"set","path":["col",2,"title"],"value":"y"}.
type opJSON struct {
	Type  Type            `json:"type"`
	Op    string          `json:"op"`
	Path  json.RawMessage `json:"path,omitempty"`
	Value json.RawMessage `json:"value,omitempty"` // raw, so that null is a value, not an absent one
	By    *int64          `json:"by,omitempty"`
	Index *int64          `json:"index,omitempty"`
	Count *int64          `json:"count,omitempty"`
	From  *int64          `json:"from,omitempty"`
	To    *int64          `json:"to,omitempty"`
}

// opFieldKinds says what each field of an op holds, for error messages.
var opFieldKinds = map[string]string{
	"type": `a type name such as "counter"`, "op": `an operation name such as "inc"`,
	"path": "a list of field names", "by": "an integer", "index": "an integer", "count": "an integer",
	"from": "an integer", "to": "an integer",
}

// jsonArticle names a JSON kind as encoding/json's errors give it
// ("string", "number 1.5", "array"), for a sentence.
func jsonArticle(kind string) string {
	switch {
	case kind == "array":
		return "a list"
	case kind == "object":
		return "an object"
	case strings.HasPrefix(kind, "number"):
		return "the " + kind
	}
	return "a " + kind
}

// MarshalJSON implements json.Marshaler.
func (op Op) MarshalJSON() ([]byte, error) {
	j := opJSON{Type: op.Type, Op: op.Kind.String()}
	if len(op.Path) > 0 {
		var path []any
		for i, f := range op.Path {
			if op.Item != nil && op.Item.At == i {
				path = append(path, op.Item.Index)
			}
			path = append(path, f)
		}
		j.Path, _ = json.Marshal(path)
	}
	switch op.Kind {
	case OpInc, OpDec:
		j.By = &op.By
	case OpAdd, OpRemove, OpSet, OpInsert:
		j.Value, _ = op.Value.MarshalJSON()
		if op.Map != nil {
			j.Value = appendMapJSON(nil, op.Map)
		}
	}
	switch {
	case op.Kind == OpMove:
		j.From, j.To = &op.Index, &op.To
	case op.Type == TypeText || op.Type == TypeList:
		j.Index = &op.Index
		if op.Kind == OpDelete {
			j.Count = &op.Count
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler and validates the result.
func (op *Op) UnmarshalJSON(b []byte) error {
	if err := CheckJSON(b); err != nil {
		return fmt.Errorf("op: %w", err)
	}
	// encoding/json matches names without regard to case; an op's names
	// are exact, as in every other client.
	var names map[string]json.RawMessage
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("%w: an op is a JSON object", ErrInvalid)
	}
	for name, raw := range names {
		switch name {
		case "type", "op", "path", "by", "index", "count", "from", "to":
			if string(raw) == "null" {
				return fmt.Errorf("%w: %q is null; leave it out instead", ErrInvalid, name)
			}
		case "value": // null is a value
		default:
			return fmt.Errorf("%w: unknown field %q (names are case-sensitive)", ErrInvalid, name)
		}
	}
	var j opJSON
	if err := json.Unmarshal(b, &j); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return fmt.Errorf("%w: %q must be %s, not %s", ErrInvalid, ute.Field, opFieldKinds[ute.Field], jsonArticle(ute.Value))
		}
		return fmt.Errorf("%w: op: %v", ErrInvalid, err)
	}
	k, err := ParseOpKind(j.Op)
	if err != nil {
		return err
	}
	n := Op{Type: j.Type, Kind: k}
	if j.Path != nil {
		if n.Path, n.Item, err = parseOpPath(j.Path); err != nil {
			return err
		}
	}
	switch k {
	case OpInc, OpDec:
		n.By = 1
		if j.By != nil {
			n.By = *j.By
		}
	case OpAdd, OpRemove, OpSet, OpInsert:
		if j.Value == nil {
			return fmt.Errorf("%w: %s %s needs a value", ErrInvalid, j.Type, k)
		}
		if j.Type == TypeList && k == OpInsert && bytes.HasPrefix(bytes.TrimLeft(j.Value, " \t\r\n"), []byte("{")) {
			if n.Map, err = parseMapValue(j.Value); err != nil {
				return fmt.Errorf("%q: %w", "value", err)
			}
		} else if err := n.Value.UnmarshalJSON(j.Value); err != nil {
			return fmt.Errorf("%q: %w", "value", err)
		}
	}
	if j.Type == TypeList && k == OpMove {
		if j.From == nil || j.To == nil || j.Index != nil {
			return fmt.Errorf("%w: list move needs from and to, and no index", ErrInvalid)
		}
		n.Index, n.To = *j.From, *j.To
	} else if j.From != nil || j.To != nil {
		return fmt.Errorf("%w: only a list move takes from and to", ErrInvalid)
	}
	if j.Type == TypeText || j.Type == TypeList && k != OpMove {
		if j.Index == nil {
			return fmt.Errorf("%w: %s %s needs an index", ErrInvalid, j.Type, k)
		}
		n.Index = *j.Index
		if k == OpDelete {
			n.Count = 1
			if j.Count != nil {
				n.Count = *j.Count
			}
		}
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*op = n
	return nil
}

// parseOpPath reads an op's path: field names, and at most one list index
// (a whole number) that has a field after it.
func parseOpPath(raw json.RawMessage) ([]string, *ItemRef, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var xs []any
	if err := dec.Decode(&xs); err != nil || xs == nil {
		return nil, nil, fmt.Errorf("%w: %q must be a list of field names and at most one list index", ErrInvalid, "path")
	}
	var path []string
	var item *ItemRef
	for _, x := range xs {
		switch x := x.(type) {
		case string:
			path = append(path, x)
			continue
		case json.Number:
			i, err := strconv.ParseInt(string(x), 10, 64)
			if err == nil && item == nil {
				item = &ItemRef{At: len(path), Index: i}
				continue
			}
		}
		return nil, nil, fmt.Errorf("%w: %q must be a list of field names and at most one list index (a whole number)", ErrInvalid, "path")
	}
	if path == nil {
		path = []string{}
	}
	return path, item, nil
}

// parseMapValue reads a map element's fields: an object of scalars.
func parseMapValue(raw json.RawMessage) (map[string]Value, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%w: a list element is a scalar or an object of scalars", ErrInvalid)
	}
	m := make(map[string]Value, len(fields))
	for name, fv := range fields {
		var v Value
		if err := v.UnmarshalJSON(fv); err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		m[name] = v
	}
	return m, nil
}

// appendMapJSON writes a map element's fields as a JSON object, names in
// order.
func appendMapJSON(b []byte, m map[string]Value) []byte {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValueJSON(append(appendQuoted(b, name), ':'), m[name])
	}
	return append(b, '}')
}
