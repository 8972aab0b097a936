package crdt

import (
	"encoding/json"
	"errors"
	"fmt"
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
	OpDelete                    // map: remove the field Path names, whatever its type
)

var opNames = [...]string{
	OpInc: "inc", OpDec: "dec", OpAdd: "add", OpRemove: "remove",
	OpSet: "set", OpEnable: "enable", OpDisable: "disable", OpDelete: "delete",
}

func (k OpKind) String() string {
	if k >= OpInc && k <= OpDelete {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// ParseOpKind reads an operation name.
func ParseOpKind(s string) (OpKind, error) {
	for k := OpInc; k <= OpDelete; k++ {
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
}

// Op is one operation on an object. With an empty Path it acts on the
// object itself, which must be of Type. With a Path the object is a map and
// Path names map fields from the root down: every field but the last is a
// map, and the last is of Type (for OpDelete, the field to remove, of any
// type, and Type is TypeORMap).
type Op struct {
	Type  Type
	Kind  OpKind
	Path  []string
	Value Value
	By    int64
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
	if op.Kind == OpDelete && len(op.Path) == 0 {
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
	return nil
}

// opJSON is the wire form: {"type":"counter","op":"inc","by":1},
// {"type":"lww","op":"set","path":["title"],"value":"Plan"}.
type opJSON struct {
	Type  Type            `json:"type"`
	Op    string          `json:"op"`
	Path  []string        `json:"path,omitempty"`
	Value json.RawMessage `json:"value,omitempty"` // raw, so that null is a value, not an absent one
	By    *int64          `json:"by,omitempty"`
}

// opFieldKinds says what each field of an op holds, for error messages.
var opFieldKinds = map[string]string{
	"type": `a type name such as "counter"`, "op": `an operation name such as "inc"`,
	"path": "a list of field names", "by": "an integer",
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
	j := opJSON{Type: op.Type, Op: op.Kind.String(), Path: op.Path}
	switch op.Kind {
	case OpInc, OpDec:
		j.By = &op.By
	case OpAdd, OpRemove, OpSet:
		j.Value, _ = op.Value.MarshalJSON()
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
		case "type", "op", "path", "by":
			if string(raw) == "null" {
				return fmt.Errorf("%w: op: %q is null", ErrInvalid, name)
			}
		case "value": // null is a value
		default:
			return fmt.Errorf("%w: op: unknown field %q (names are case-sensitive)", ErrInvalid, name)
		}
	}
	var j opJSON
	if err := json.Unmarshal(b, &j); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return fmt.Errorf("%w: op: %q must be %s, not %s", ErrInvalid, ute.Field, opFieldKinds[ute.Field], jsonArticle(ute.Value))
		}
		return fmt.Errorf("%w: op: %v", ErrInvalid, err)
	}
	k, err := ParseOpKind(j.Op)
	if err != nil {
		return err
	}
	n := Op{Type: j.Type, Kind: k, Path: j.Path}
	switch k {
	case OpInc, OpDec:
		n.By = 1
		if j.By != nil {
			n.By = *j.By
		}
	case OpAdd, OpRemove, OpSet:
		if j.Value == nil {
			return fmt.Errorf("%w: %s %s needs a value", ErrInvalid, j.Type, k)
		}
		if err := n.Value.UnmarshalJSON(j.Value); err != nil {
			return fmt.Errorf("op value: %w", err)
		}
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*op = n
	return nil
}
